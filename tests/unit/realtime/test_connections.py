"""Sessions, sequence numbers, the replay buffer, eviction and presence."""

from __future__ import annotations

import asyncio

from mythos.realtime.connections import ConnectionManager
from mythos.realtime.events import EventEnvelope


def _drain(queue: asyncio.Queue[EventEnvelope | None]) -> list[EventEnvelope | None]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_sequence_numbers_increase_per_player_and_fan_out_to_every_connection() -> None:
    cm = ConnectionManager(buffer_size=10)
    ws = cm.connect(1, "A", "hall", "s1", "ws")
    sse = cm.connect(1, "A", "hall", "s1", "sse")
    other = cm.connect(2, "B", "hall", "s2", "ws")
    e1 = cm.send_to_player(1, "system", {"n": 1})
    e2 = cm.send_to_player(1, "system", {"n": 2})
    assert e1 is not None and e2 is not None
    assert e1.sequence_number is not None and e2.sequence_number == e1.sequence_number + 1
    assert _drain(ws.queue) == _drain(sse.queue) == [e1, e2]
    assert _drain(other.queue) == []


async def test_send_to_unknown_player_is_dropped() -> None:
    assert ConnectionManager().send_to_player(99, "system", {}) is None


async def test_buffer_is_bounded_and_replays_after_last_event_id() -> None:
    cm = ConnectionManager(buffer_size=3)
    conn = cm.connect(1, "A", "hall", "s1", "ws")
    events = [cm.send_to_player(1, "system", {"n": i}) for i in range(5)]
    seqs = [e.sequence_number for e in events if e is not None and e.sequence_number is not None]
    assert [e.sequence_number for e in cm.replay_since(1, seqs[0])] == seqs[2:]  # oldest two evicted
    assert cm.replay_since(1, seqs[-1]) == []
    assert cm.replay_since(42, 0) == []
    cm.disconnect(conn)
    again = cm.connect(1, "A", "hall", "s1", "ws", last_event_id=seqs[3])
    assert [e.sequence_number for e in _drain(again.queue) if e] == [seqs[4]]


async def test_a_new_session_evicts_older_sessions_only() -> None:
    cm = ConnectionManager()
    old_ws = cm.connect(1, "A", "hall", "old", "ws")
    same_session = cm.connect(1, "A", "hall", "old", "sse")
    assert not old_ws.closed  # same session: kept
    new = cm.connect(1, "A", "hall", "new", "ws")
    for conn in (old_ws, same_session):
        items = _drain(conn.queue)
        assert conn.closed and conn.close_reason == "evicted"
        assert items[0] is not None and items[0].event_type == "session_evicted"
        assert items[-1] is None
    assert not new.closed
    assert cm.connection_count() == 1


async def test_presence_includes_a_grace_period_after_a_drop() -> None:
    cm = ConnectionManager(presence_grace=60)
    conn = cm.connect(1, "A", "hall", "s", "ws")
    cm.connect(2, "B", "hall", "s2", "ws")
    cm.disconnect(conn)
    assert not cm.is_online(1)
    assert [c.name for c in cm.online_players()] == ["B"]
    assert sorted(c.name for c in cm.players_in_room("hall")) == ["A", "B"]
    # Room events still land in A's buffer for replay.
    assert cm.send_to_room("hall", "chat", {"x": 1}, exclude=[2]) == 1
    assert len(cm.replay_since(1, 0)) == 1
    gone = ConnectionManager(presence_grace=0)
    c = gone.connect(1, "A", "hall", "s", "ws")
    gone.disconnect(c)
    assert gone.players_in_room("hall") == []


async def test_set_room_moves_the_player_between_rooms() -> None:
    cm = ConnectionManager()
    cm.connect(1, "A", "hall", "s", "ws")
    cm.set_room(1, "study")
    cm.set_name(1, "Alpha")
    assert [c.name for c in cm.players_in_room("study")] == ["Alpha"]
    assert cm.players_in_room("hall") == []


async def test_heartbeats_are_unsequenced_and_do_not_enter_the_buffer() -> None:
    cm = ConnectionManager()
    conn = cm.connect(1, "A", "hall", "s", "ws")
    cm.send_to_player(1, "system", {})
    assert cm.heartbeat() == 1
    beat = _drain(conn.queue)[-1]
    assert beat is not None and beat.event_type == "heartbeat" and beat.sequence_number is None
    assert len(cm.replay_since(1, 0)) == 1


async def test_a_stuck_consumer_is_dropped_not_buffered_forever() -> None:
    cm = ConnectionManager(buffer_size=100, queue_size=2)
    conn = cm.connect(1, "A", "hall", "s", "ws")
    for _ in range(3):
        cm.send_to_player(1, "system", {})
    assert conn.closed and conn.close_reason == "overflow"
    assert cm.connection_count() == 0
    assert _drain(conn.queue)[-1] is None


async def test_broadcast_and_close_all() -> None:
    cm = ConnectionManager()
    a = cm.connect(1, "A", "hall", "s", "ws")
    b = cm.connect(2, "B", "study", "s2", "ws")
    assert cm.broadcast("chat", {"c": "global"}) == 2
    cm.close_all()
    assert a.closed and b.closed and cm.connection_count() == 0


async def test_room_occupants_follow_moves_logins_and_drops() -> None:
    """players_in_room reads a per-room index (a look costs the room's size, not the server's):
    it must agree with every channel's room after moves, a login into another room and a drop."""
    mgr = ConnectionManager(presence_grace=60.0)
    a = mgr.connect(1, "alice", "hall", "s1", "ws")
    mgr.connect(2, "bob", "hall", "s2", "ws")
    mgr.connect(3, "carol", "yard", "s3", "ws")

    def names(room: str) -> list[str]:
        return sorted(c.name for c in mgr.players_in_room(room))

    assert names("hall") == ["alice", "bob"] and names("yard") == ["carol"]
    mgr.set_room(2, "yard")
    assert names("hall") == ["alice"] and names("yard") == ["bob", "carol"]
    mgr.set_room(2, "yard")  # a move to where one is changes nothing
    assert names("yard") == ["bob", "carol"]
    mgr.connect(3, "carol", "hall", "s3b", "ws")  # a new login puts her where the database says
    assert names("hall") == ["alice", "carol"] and names("yard") == ["bob"]
    mgr.disconnect(a)  # within the grace period: still present
    assert names("hall") == ["alice", "carol"]
    assert names("nowhere") == []
    for room in ("hall", "yard"):
        assert {c.player_id for c in mgr.players_in_room(room)} == {
            c.player_id for c in (mgr._players[p] for p in (1, 2, 3)) if c.room_id == room}
