"""Scenario 11: the NATS link stays up but every publish times out, so the circuit breaker opens.

In the other scenarios the link goes down, and chat then goes straight to the DLQ without a
publish, so the breaker never opens. Here a latency toxic on the NATS -> mythos side of the link
delays every byte (stream acks and PONGs alike) by 3 s: longer than the JetStream publish ack
timeout (2 s), shorter than the ping staleness bound (ping interval x max outstanding pings).
Publishes time out on a live link, retries run out, the breaker counts the failures and opens,
chat is refused with a plain message and queued, and after the heal the breaker probes
(half-open) and closes.

The bound matters: with the harness's fast pings (1 s x 2 outstanding) staleness is declared at
a 2 s round trip, the same as the publish timeout, so no latency can time publishes out without
also killing the link. This scenario therefore runs the shipped default ping interval (2 s, so
a 4 s bound); the rest of the fast-detection environment is kept.

Five players: each failed publish costs its sender about 6 s (3 attempts of 2 s), and the breaker
opens at the fifth consecutive failure, so five concurrent senders open it about 6 s into the
14 s fault, well before the heal. A probe that still meets the fault re-trips the breaker; the
test accepts extra cycles as long as the breaker closes after the heal.
"""

from harness.schedule import FaultWindow, Schedule
from harness.topology import FAST_DETECTION_ENV, TopologySpec
from scenarios.base import noop_test

ACK_DELAY_MS = 3000
"""Above the publish ack timeout (StreamSpec.publish_timeout_s = 2 s), below the 4 s ping bound."""

SCENARIO = noop_test(
    name="nats_breaker",
    evidence="scenarios/nats_breaker.py",
    topology=TopologySpec(mythos_env={**FAST_DETECTION_ENV, "NATS_PING_INTERVAL": "2.0"}),
    players=(0, 0, 0, 0, 0),
    schedule=Schedule(duration_s=34.0, settle_s=5.0, windows=(
        FaultWindow("latency", at_s=4.0, duration_s=14.0,
                    params={"link": "nats-0", "stream": "downstream",
                            "latency_ms": ACK_DELAY_MS, "jitter_ms": 0}),)),
)
