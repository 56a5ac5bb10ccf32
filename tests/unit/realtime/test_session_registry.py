"""The session registry's decisions, with the NATS KV replaced by a scripted one so every ordering
of a split login can be forced: each server's own write returning, and each server's watch
delivering the two revisions (in order), interleaved in every possible way.

The integration tests (tests/integration/cluster) race real servers on a real KV; on one local
nats-server a write's acknowledgement always reaches its server before a later revision's watch
message, so orderings that a clustered KV can produce are forced here.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.cluster_link import ClusterLink
from mythos.realtime.connection_state_machine import NATSConnectionStateMachine
from mythos.realtime.connections import Connection, ConnectionManager
from mythos.realtime.events import EventType
from mythos.realtime.session_registry import (
    Claim,
    SessionRegistry,
    SessionRegistryUnavailable,
    SessionTable,
)

PLAYER = 7
SETTINGS = SimpleNamespace(registry_timeout_seconds=0.2, retry_after_seconds=2.0)


class FakeNC:
    is_connected = True


class FakeLink:
    """A LinkSource whose connection the test switches on and off."""

    def __init__(self) -> None:
        self.fsm = NATSConnectionStateMachine("test")
        self._nc: FakeNC | None = None

    @property
    def nc(self) -> Any:
        return self._nc

    @property
    def is_connected(self) -> bool:
        return self._nc is not None

    def up(self) -> None:
        self._nc = FakeNC()
        self.fsm.fire("start")
        self.fsm.fire("established")

    def down(self) -> None:
        self._nc = None
        self.fsm.fire("lost")


class ScriptedKV:
    """`put` waits until the test releases it with the revision the stream gave it."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, bytes, asyncio.Future[int]]] = []
        self.puts = 0

    async def put(self, key: str, value: bytes) -> int:
        self.puts += 1
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending.append((key, value, done))
        return await done


@dataclass
class Server:
    name: str
    connections: ConnectionManager
    registry: SessionRegistry
    kv: ScriptedKV
    link: FakeLink
    metrics: MetricsCollector


def make_server(name: str) -> Server:
    link = FakeLink()
    link.up()
    connections = ConnectionManager(buffer_size=10)
    metrics = MetricsCollector()
    registry = SessionRegistry(name, ClusterLink(link), connections, metrics, SETTINGS)
    kv = ScriptedKV()
    # What `_follow` sets once the bucket is bound and the watch has caught up.
    registry._kv = kv  # type: ignore[assignment]
    registry._synced = registry.link.generation
    return Server(name, connections, registry, kv, link, metrics)


def entry(revision: int, claim: Claim) -> Any:
    return SimpleNamespace(key=str(PLAYER), value=claim.to_bytes(), revision=revision, operation=None, created=None)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def admit(server: Server, session_id: str) -> Connection:
    async with server.registry.admission(PLAYER, session_id):
        return server.connections.connect(PLAYER, "Wilbur", "hall", session_id, "ws")


def alive(conn: Connection) -> bool:
    return not conn.closed


def evicted_notice(conn: Connection) -> bool:
    events = []
    while not conn.queue.empty():
        events.append(conn.queue.get_nowait())
    return any(e is not None and e.event_type == EventType.SESSION_EVICTED for e in events)


# -- the table ---------------------------------------------------------------------------------------


def test_table_keeps_the_highest_revision_whatever_the_arrival_order() -> None:
    table = SessionTable("a")
    newer, older = Claim(5, "b", "s2", 0.0), Claim(3, "a", "s1", 0.0)
    assert table.apply(PLAYER, newer)
    assert not table.apply(PLAYER, older)
    assert not table.apply(PLAYER, newer)
    assert table.latest(PLAYER) == newer
    assert not table.holds(PLAYER) and not table.owns(PLAYER, "s1")
    assert table.keep_session(PLAYER) is None and table.owner_of(PLAYER) == "b"
    assert table.apply(PLAYER, Claim(9, "a", "s3", 0.0))
    assert table.holds(PLAYER) and table.owns(PLAYER, "s3") and not table.owns(PLAYER, "s1")
    assert table.keep_session(PLAYER) == "s3"


def test_claim_bytes_round_trip_and_garbage_is_refused() -> None:
    claim = Claim(4, "srv", "sess", 12.5)
    assert Claim.from_bytes(4, claim.to_bytes()) == claim
    with pytest.raises(ValueError):
        Claim.from_bytes(1, b"{not json")
    with pytest.raises(ValueError):
        Claim.from_bytes(1, b'{"server": "x"}')


# -- the split login, every interleaving --------------------------------------------------------------

# Per server: its own write returns ("ret"), its watch delivers revision 1 then revision 2.
EVENTS = ("a.ret", "b.ret", "a.w1", "a.w2", "b.w1", "b.w2")


def _orders() -> list[tuple[str, ...]]:
    out = []
    for order in itertools.permutations(EVENTS):
        if order.index("a.w1") < order.index("a.w2") and order.index("b.w1") < order.index("b.w2"):
            out.append(order)
    return out


ORDERS = _orders()


@pytest.mark.parametrize("first_writer", ["a", "b"])
async def test_split_login_every_interleaving_leaves_exactly_the_higher_revision(first_writer: str) -> None:
    """Both servers write at once; whichever write the stream stored second (revision 2) must be
    the one session alive on both servers, in each of the 180 orders the events can arrive in."""
    assert len(ORDERS) == 180
    failures = []
    for order in ORDERS:
        a, b = make_server("a"), make_server("b")
        servers = {"a": a, "b": b}
        tasks = {
            "a": asyncio.create_task(admit(a, "sa")),
            "b": asyncio.create_task(admit(b, "sb")),
        }
        await settle()
        second_writer = "b" if first_writer == "a" else "a"
        revision = {first_writer: 1, second_writer: 2}
        claims = {name: Claim(revision[name], name, f"s{name}", 0.0) for name in ("a", "b")}
        by_revision = {1: claims[first_writer], 2: claims[second_writer]}
        for event in order:
            who, what = event.split(".")
            server = servers[who]
            if what == "ret":
                server.kv.pending[0][2].set_result(revision[who])
            else:
                rev = int(what[1])
                server.registry._on_entry(entry(rev, by_revision[rev]))
            await settle()
        conns = {name: await task for name, task in tasks.items()}
        survivors = [name for name, conn in conns.items() if alive(conn)]
        tables = {name: servers[name].registry.table.latest(PLAYER) for name in servers}
        winner = claims[second_writer]
        ok = survivors == [second_writer] and all(
            t is not None and (t.revision, t.server, t.session_id) == (2, winner.server, winner.session_id)
            for t in tables.values()
        )
        if ok:
            loser = conns[first_writer]
            ok = loser.close_reason == "evicted" and evicted_notice(loser)
            ok = ok and servers[second_writer].connections.is_online(PLAYER)
            ok = ok and not servers[first_writer].connections.is_online(PLAYER)
        if not ok:
            failures.append((order, survivors))
    assert not failures, failures[:5]


async def test_two_logins_of_one_player_on_one_server_keep_the_later_revision() -> None:
    """Admissions of one player on a server run one at a time, so the socket registered last is
    the one with the higher revision (otherwise the local eviction and the registry disagree and
    both sockets die)."""
    server = make_server("a")
    first = asyncio.create_task(admit(server, "s1"))
    second = asyncio.create_task(admit(server, "s2"))
    await settle()
    assert len(server.kv.pending) == 1, "the second admission must wait for the first"
    server.kv.pending[0][2].set_result(1)
    await settle()
    assert len(server.kv.pending) == 2
    server.kv.pending[1][2].set_result(2)
    c1, c2 = await first, await second
    assert not alive(c1) and alive(c2)
    assert server.registry.table.owns(PLAYER, "s2")
    assert server.registry._locks == {}


async def test_a_late_newer_claim_from_elsewhere_evicts_the_local_session() -> None:
    server = make_server("a")
    task = asyncio.create_task(admit(server, "s1"))
    await settle()
    server.kv.pending[0][2].set_result(4)
    conn = await task
    assert alive(conn)
    server.registry._on_entry(entry(4, Claim(4, "a", "s1", 0.0)))  # our own, echoed by the watch
    assert alive(conn)
    server.registry._on_entry(entry(3, Claim(3, "b", "old", 0.0)))  # older: ignored
    assert alive(conn)
    server.registry._on_entry(entry(6, Claim(6, "b", "s9", 0.0)))
    assert not alive(conn) and evicted_notice(conn)
    assert server.metrics.get_cluster_metrics()["cross_server_evictions"] == 1
    assert not server.registry.holds(PLAYER)
    # Evicted for another server: no reconnect grace here, so the player leaves the room's occupants.
    assert server.connections.players_in_room("hall") == []


async def test_the_same_session_moving_to_another_server_is_evicted_here() -> None:
    server = make_server("a")
    task = asyncio.create_task(admit(server, "s1"))
    await settle()
    server.kv.pending[0][2].set_result(1)
    conn = await task
    server.registry._on_entry(entry(2, Claim(2, "b", "s1", 0.0)))
    assert not alive(conn)


async def test_reconnect_of_the_held_session_is_admitted_without_a_write_even_when_nats_is_down() -> None:
    server = make_server("a")
    task = asyncio.create_task(admit(server, "s1"))
    await settle()
    server.kv.pending[0][2].set_result(1)
    first = await task
    server.connections.disconnect(first)
    server.link.down()
    assert not server.registry.available
    again = await admit(server, "s1")
    assert alive(again)
    assert server.kv.puts == 1
    with pytest.raises(SessionRegistryUnavailable) as refused:
        await admit(server, "s2")
    assert refused.value.retry_after == SETTINGS.retry_after_seconds
    assert "try again" in refused.value.message
    assert alive(again), "a refused login must not evict the live session"
    assert server.kv.puts == 1
    assert server.metrics.get_cluster_metrics()["registry_unavailable_refusals"] == 1


async def test_a_new_session_is_refused_while_the_watch_has_not_caught_up() -> None:
    server = make_server("a")
    server.registry._synced = None
    with pytest.raises(SessionRegistryUnavailable):
        await admit(server, "s1")
    assert server.kv.puts == 0 and not server.connections.is_online(PLAYER)


async def test_a_write_that_does_not_answer_in_time_refuses_the_session() -> None:
    server = make_server("a")
    with pytest.raises(SessionRegistryUnavailable) as refused:
        await admit(server, "s1")  # the scripted put is never released: the timeout fires
    assert "did not answer" in refused.value.reason
    assert not server.connections.is_online(PLAYER)
    assert server.registry._locks == {}


async def test_a_link_that_came_back_is_not_trusted_until_its_watch_catches_up() -> None:
    server = make_server("a")
    assert server.registry.available
    server.link.down()
    server.link.up()  # a new generation: the old watch's sync does not count
    assert not server.registry.available
    server.registry._synced = server.registry.link.generation
    assert server.registry.available


def test_bad_and_deleted_entries_change_nothing() -> None:
    server = make_server("a")
    registry = server.registry
    registry._on_entry(SimpleNamespace(key="x", value=b"{}", revision=1, operation=None))
    registry._on_entry(SimpleNamespace(key=str(PLAYER), value=b"nope", revision=2, operation=None))
    registry._on_entry(SimpleNamespace(key=str(PLAYER), value=b"", revision=3, operation="DEL"))
    assert registry.table.latest(PLAYER) is None
