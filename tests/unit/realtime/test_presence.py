"""Presence: other servers' lists expire `ttl` after they were written, and `who` merges them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from mythos.observability.metrics import MetricsCollector
from mythos.realtime.cluster_link import ClusterLink, kv_key
from mythos.realtime.connection_state_machine import NATSConnectionStateMachine
from mythos.realtime.connections import ConnectionManager, RosterEntry
from mythos.realtime.presence import Presence

SETTINGS = SimpleNamespace(presence_refresh_seconds=1.0, presence_ttl_seconds=3.0, registry_timeout_seconds=1.0)
NOW_WALL = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class NoLink:
    fsm = NATSConnectionStateMachine("test")
    nc = None
    is_connected = False


def make_presence(owners: dict[int, str] | None = None) -> tuple[Presence, Clock, ConnectionManager]:
    clock = Clock()
    connections = ConnectionManager(buffer_size=10)
    presence = Presence(
        "here",
        ClusterLink(NoLink()),
        connections,
        MetricsCollector(),
        SETTINGS,
        owner_of=(owners or {}).get,
        clock=clock,
    )
    connections.remote_roster = presence.remote_players
    return presence, clock, connections


def value(server: str, *players: tuple[int, str, str], key: str | None = None, age: float = 0.0) -> Any:
    body = {"server": server, "at": NOW_WALL - age, "players": [list(p) for p in players]}
    return SimpleNamespace(
        key=key or kv_key(server),
        value=json.dumps(body).encode(),
        operation=None,
        created=datetime.fromtimestamp(NOW_WALL - age, UTC),
    )


def names(entries: list[RosterEntry]) -> list[str]:
    return sorted(e.name for e in entries)


def test_another_servers_players_expire_ttl_after_their_list_was_written() -> None:
    presence, clock, _ = make_presence()
    presence.on_entry(value("b", (1, "Asenath", "hall")), now_wall=NOW_WALL)
    assert names(presence.remote_players()) == ["Asenath"]
    clock.now += SETTINGS.presence_ttl_seconds - 0.01
    assert names(presence.remote_players()) == ["Asenath"]
    clock.now += 0.02
    assert presence.remote_players() == []
    assert presence.metrics.get_cluster_metrics()["presence_servers"] == 1


def test_a_list_replayed_by_a_new_watch_keeps_its_age() -> None:
    """After a reconnect the watch hands over the last value again; a server that died two
    seconds ago must not get a whole TTL more."""
    presence, clock, _ = make_presence()
    presence.on_entry(value("b", (1, "Asenath", "hall"), age=2.0), now_wall=NOW_WALL)
    clock.now += 1.01
    assert presence.remote_players() == []
    # A clock far off is clamped: never more than a TTL, never less than nothing.
    presence.on_entry(value("c", (2, "Zadok", "hall"), age=-500.0), now_wall=NOW_WALL)
    clock.now += SETTINGS.presence_ttl_seconds - 0.01
    assert names(presence.remote_players()) == ["Zadok"]


def test_own_key_deletes_and_garbage() -> None:
    presence, _, _ = make_presence()
    presence.on_entry(value("here", (1, "Me", "hall")), now_wall=NOW_WALL)
    assert presence.remote_players() == []
    presence.on_entry(value("b", (2, "Obed", "hall")), now_wall=NOW_WALL)
    presence.on_entry(SimpleNamespace(key="c", value=b"{oops", operation=None, created=None))
    presence.on_entry(
        SimpleNamespace(key="d", value=b'{"server": "d", "players": [[1]]}', operation=None, created=None)
    )
    assert names(presence.remote_players()) == ["Obed"]
    presence.on_entry(SimpleNamespace(key="b", value=b"", operation="DEL", created=None))
    assert presence.remote_players() == []


def test_a_player_who_moved_is_listed_once_from_the_server_holding_them() -> None:
    presence, clock, _ = make_presence(owners={1: "c"})
    presence.on_entry(value("b", (1, "Asenath", "hall")), now_wall=NOW_WALL)
    clock.now += 0.5
    presence.on_entry(value("c", (1, "Asenath", "attic")), now_wall=NOW_WALL)
    assert presence.remote_players() == [RosterEntry(1, "Asenath", "attic", "c")]
    # Without a registry claim, the freshest list wins.
    unowned, clock2, _ = make_presence()
    unowned.on_entry(value("b", (1, "Asenath", "hall")), now_wall=NOW_WALL)
    clock2.now += 0.5
    unowned.on_entry(value("c", (1, "Asenath", "attic")), now_wall=NOW_WALL)
    assert [e.room_id for e in unowned.remote_players()] == ["attic"]


def test_roster_lists_local_players_first_and_each_player_once() -> None:
    presence, _, connections = make_presence()
    connections.connect(1, "Wilbur", "hall", "s1", "ws")
    presence.on_entry(value("b", (1, "Wilbur", "stale"), (2, "Lavinia", "attic")), now_wall=NOW_WALL)
    roster = connections.roster()
    assert [(e.name, e.room_id, e.server) for e in roster] == [("Lavinia", "attic", "b"), ("Wilbur", "hall", None)]


def test_roster_without_a_cluster_is_this_servers_players() -> None:
    connections = ConnectionManager(buffer_size=10)
    connections.connect(2, "zed", "hall", "s2", "ws")
    connections.connect(1, "Amy", "hall", "s1", "ws")
    assert [e.name for e in connections.roster()] == ["Amy", "zed"]
    assert connections.holds_session(1)


def test_kv_keys_are_sanitised() -> None:
    assert kv_key("host.example-8000") == "host_example-8000"
    assert kv_key("") == "_"
