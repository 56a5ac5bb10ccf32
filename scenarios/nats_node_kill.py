"""Cluster scenario 1: the node that leads the chat stream is SIGKILLed while players on three
game servers chat, and restarted 8 s later on the same ports and store.

Three NATS nodes, the chat stream and every durable consumer with three replicas, each game
server homed on its own node (NATS_URL lists its proxied link to node i first, then the other
two), one PostgreSQL for the one world (and so cluster-wide sessions). The fault asks the
cluster which node leads MYTHOS_CHAT when it starts and kills that one: the remaining two elect
a new stream leader (nats-server's Raft waits 4-9 s for a lost leader before it campaigns), the
game server homed on the killed node reconnects to the next node of its list, and chat flows
again. ``cluster_failover_s`` is measured by the ``failover`` checker (harness/checker.py): per
game server, from the kill to the first line said after it by one of its players that came back
to its players.

This proves survival of a process crash (JetStream's files are in the page cache), not of a
power loss.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import TopologySpec
from scenarios.base import noop_test

SCENARIO = noop_test(
    name="nats_node_kill",
    evidence="scenarios/nats_node_kill.py",
    topology=TopologySpec(mythos=3, nats_cluster=3, db="postgres"),
    players=(0, 1, 2, 0, 1, 2),
    schedule=Schedule(duration_s=24.0, settle_s=5.0, windows=(
        FaultWindow("kill_nats_leader", at_s=5.0, duration_s=8.0),)),
)
