"""Sessions and live connections: per-player sequence numbers, replay buffer, eviction.

Everything here runs on the event loop without awaiting, so registering a connection and
replaying the buffer is atomic: no event can slip between the replay and the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mythos.observability.logging import get_logger
from mythos.realtime.events import EventEnvelope, EventType

__all__ = ["Connection", "ConnectionManager", "DrainResult", "PlayerChannel", "RosterEntry"]

log = get_logger(__name__)

_connection_ids = itertools.count(1)

# A graceful stop polls its conditions (commands in flight, transports still open) this often.
DRAIN_POLL_S = 0.01
# A stop keeps the sockets open at least this long, refusing commands: a command already on its
# way when the stop began is answered (`server_restarting`) instead of meeting the close, and a
# player who sends one meanwhile is closed right after that answer, while not sending; only a
# socket silent for the whole notice is closed at its end, when a command may cross the close.
NOTICE_S = 0.5
# After the drain closes the connections, how long their transports get to write what is queued
# (the replies of the commands that just finished) and close: milliseconds on a healthy socket;
# a client that does not read is closed by the server's own shutdown after this.
FLUSH_GRACE_S = 0.5

# How long a player whose last connection dropped still counts as in their room, so room events
# keep landing in their replay buffer and a quick reconnect with Last-Event-ID misses nothing.
PRESENCE_GRACE_S = 30.0


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One player in `who`: online here, or on another server of the world."""

    player_id: int
    name: str
    room_id: str
    server: str | None = None  # None: this server


@dataclass(eq=False)
class Connection:
    """One transport (an SSE stream or a WebSocket) of one session of one player."""

    player_id: int
    session_id: str
    transport: str
    queue: asyncio.Queue[EventEnvelope | None]
    id: int = field(default_factory=lambda: next(_connection_ids))
    closed: bool = False
    close_reason: str | None = None

    def close(self, reason: str) -> None:
        """Ask the transport loop to end: a None in the queue wakes it up."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            # Drain one slot: the loop only needs to see the sentinel.
            self.queue.get_nowait()
            self.queue.put_nowait(None)


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What a graceful stop left behind: commands still running at its bound, transports still open."""

    unfinished_commands: int
    open_transports: int
    seconds: float


@dataclass
class PlayerChannel:
    """Per-player state that outlives a connection: sequence, replay buffer, session, room."""

    player_id: int
    name: str
    room_id: str
    buffer: deque[EventEnvelope]
    # Sequence numbers start at the wall clock in ms so they keep increasing across a restart:
    # a client that dedupes by sequence number must never drop a fresh event as old.
    next_sequence: int = field(default_factory=lambda: int(time.time() * 1000))
    session_id: str | None = None
    connections: list[Connection] = field(default_factory=list)
    disconnected_at: float | None = None

    @property
    def online(self) -> bool:
        return bool(self.connections)


class ConnectionManager:
    """Who is connected, in which room, and the per-player event streams."""

    def __init__(
        self, buffer_size: int = 500, queue_size: int | None = None, presence_grace: float = PRESENCE_GRACE_S
    ) -> None:
        self.buffer_size = buffer_size
        self.queue_size = queue_size or max(buffer_size, 16)
        self.presence_grace = presence_grace
        self._players: dict[int, PlayerChannel] = {}
        # The channels of each room, so a room's occupants cost the room's size, not the server's.
        # Kept by _place, the one writer of a channel's room_id.
        self._rooms: dict[str, dict[int, PlayerChannel]] = {}
        # Called with (player_id, name) when a player's last connection closes.
        self.on_offline: Callable[[int, str], None] | None = None
        # Several servers as one world (CLUSTER_SESSIONS); both None on a single server.
        # session_holder(player_id): does this server hold the player's session (the one
        # writer of their room)? remote_roster(): the players online on the other servers.
        self.session_holder: Callable[[int], bool] | None = None
        self.remote_roster: Callable[[], list[RosterEntry]] | None = None
        # Graceful stop: once draining, transports refuse new commands (`server_restarting`).
        self.draining = False
        self._in_flight = 0
        # Every transport between connect() and its disconnect(), evicted or closed ones included:
        # the drain waits for them to flush and close.
        self._transports: set[Connection] = set()

    # Sessions and connections

    def connect(
        self,
        player_id: int,
        name: str,
        room_id: str,
        session_id: str,
        transport: str,
        last_event_id: int | None = None,
    ) -> Connection:
        """Register a connection; a new session evicts the player's older sessions.

        Buffered events after `last_event_id` are queued first, so the stream continues where
        the client left off.
        """
        channel = self._channel(player_id, name, room_id)
        channel.name = name
        self._place(channel, room_id)
        if channel.session_id is not None and channel.session_id != session_id:
            self._evict(channel, new_session_id=session_id)
        channel.session_id = session_id
        conn = Connection(player_id, session_id, transport, asyncio.Queue(self.queue_size))
        if last_event_id is not None:
            for event in self.replay_since(player_id, last_event_id):
                conn.queue.put_nowait(event)
        channel.connections.append(conn)
        self._transports.add(conn)
        if self.draining:  # opened while the server stops: it sends what is queued, then closes
            conn.close("restart")
        log.info("connection_opened", player_id=player_id, session_id=session_id, transport=transport)
        return conn

    def disconnect(self, conn: Connection) -> None:
        channel = self._players.get(conn.player_id)
        conn.close(conn.close_reason or "disconnected")
        self._transports.discard(conn)
        if channel is not None and conn in channel.connections:
            channel.connections.remove(conn)
            if not channel.connections:
                self._went_offline(channel)
            log.info("connection_closed", player_id=conn.player_id, transport=conn.transport)

    def _evict(self, channel: PlayerChannel, new_session_id: str | None) -> int:
        """Evict every connection not of `new_session_id` (None: every connection)."""
        evicted_count = 0
        for conn in list(channel.connections):
            if conn.session_id == new_session_id:
                continue
            # Sent straight to the evicted connection only: it is not part of the new session's stream.
            evicted = EventEnvelope(
                EventType.SESSION_EVICTED,
                {"reason": "new_login", "message": "You logged in from somewhere else."},
                player_id=channel.player_id,
            )
            with contextlib.suppress(asyncio.QueueFull):
                conn.queue.put_nowait(evicted)
            conn.close("evicted")
            channel.connections.remove(conn)
            evicted_count += 1
            log.info("session_evicted", player_id=channel.player_id, old_session=conn.session_id)
        return evicted_count

    def evict(self, player_id: int, keep_session: str | None) -> int:
        """Evict the player's connections here except those of `keep_session` (None: all of them),
        as a new login does; returns how many were evicted.

        The session registry calls this when the player's session now lives elsewhere: the player
        is no longer in their room on this server (no reconnect grace), so this server stops
        buffering their room's events and counting them among the room's occupants.
        """
        channel = self._players.get(player_id)
        if channel is None:
            return 0
        count = self._evict(channel, keep_session)
        if count and not channel.connections:
            self._went_offline(channel, grace=False)
        return count

    def _channel(self, player_id: int, name: str, room_id: str) -> PlayerChannel:
        channel = self._players.get(player_id)
        if channel is None:
            channel = PlayerChannel(player_id, name, room_id, deque(maxlen=self.buffer_size))
            self._players[player_id] = channel
            self._rooms.setdefault(room_id, {})[player_id] = channel
        return channel

    def _place(self, channel: PlayerChannel, room_id: str) -> None:
        """Move the channel to ``room_id``, in its room_id and in the room index."""
        if channel.room_id != room_id:
            old = self._rooms.get(channel.room_id)
            if old is not None:
                old.pop(channel.player_id, None)
                if not old:
                    del self._rooms[channel.room_id]
            channel.room_id = room_id
        self._rooms.setdefault(room_id, {})[channel.player_id] = channel

    # Presence

    def holds_session(self, player_id: int) -> bool:
        """May this server write the player's room? Always on a single server; in a cluster, only
        on the server holding the player's session (one writer of a room position)."""
        return self.session_holder is None or self.session_holder(player_id)

    def roster(self) -> list[RosterEntry]:
        """Who is online in the whole world, by name: this server's players, then those the
        other servers report (a player online here is listed once, from here)."""
        local = [RosterEntry(c.player_id, c.name, c.room_id) for c in self.online_players()]
        seen = {e.player_id for e in local}
        remote = self.remote_roster() if self.remote_roster is not None else []
        merged = local + [e for e in remote if e.player_id not in seen]
        return sorted(merged, key=lambda e: e.name.lower())

    def has_live_session(self, player_id: int, session_id: str | None) -> bool:
        """True when `session_id` already has an open connection for this player."""
        channel = self._players.get(player_id)
        return bool(channel and session_id and channel.session_id == session_id and channel.connections)

    def name_of(self, player_id: int) -> str | None:
        """The player's name, online or not, if they were ever connected here."""
        channel = self._players.get(player_id)
        return channel.name if channel is not None else None

    def is_online(self, player_id: int) -> bool:
        channel = self._players.get(player_id)
        return channel is not None and channel.online

    def online_players(self) -> list[PlayerChannel]:
        return [c for c in self._players.values() if c.online]

    def players_in_room(self, room_id: str) -> list[PlayerChannel]:
        """Players in the room, including those within the reconnect grace period."""
        in_room = self._rooms.get(room_id)
        if not in_room:
            return []
        # Present: online, or dropped less than presence_grace seconds ago. Inlined, not a method
        # per channel: this runs on every look, say and move.
        since = time.monotonic() - self.presence_grace
        return [c for c in in_room.values()
                if c.connections or (c.disconnected_at is not None and c.disconnected_at > since)]

    def set_room(self, player_id: int, room_id: str) -> None:
        channel = self._players.get(player_id)
        if channel is not None:
            self._place(channel, room_id)

    def set_name(self, player_id: int, name: str) -> None:
        channel = self._players.get(player_id)
        if channel is not None:
            channel.name = name

    def connection_count(self) -> int:
        return sum(len(c.connections) for c in self._players.values())

    # Sending

    def send_to_player(
        self, player_id: int, event_type: str, data: dict[str, Any], room_id: str | None = None
    ) -> EventEnvelope | None:
        """Sequence, buffer and fan out one event; None when the player has no channel yet."""
        channel = self._players.get(player_id)
        if channel is None:
            return None
        event = EventEnvelope(
            event_type, data, sequence_number=channel.next_sequence, room_id=room_id, player_id=player_id
        )
        channel.next_sequence += 1
        channel.buffer.append(event)
        for conn in list(channel.connections):
            self._offer(channel, conn, event)
        return event

    def send_to_room(
        self,
        room_id: str,
        event_type: str,
        data: dict[str, Any],
        exclude: Iterable[int] = (),
    ) -> int:
        skip = set(exclude)
        targets = [c.player_id for c in self.players_in_room(room_id) if c.player_id not in skip]
        for player_id in targets:
            self.send_to_player(player_id, event_type, data, room_id=room_id)
        return len(targets)

    def broadcast(self, event_type: str, data: dict[str, Any]) -> int:
        targets = [c.player_id for c in self.online_players()]
        for player_id in targets:
            self.send_to_player(player_id, event_type, data)
        return len(targets)

    def heartbeat(self) -> int:
        """Queue an unsequenced heartbeat on every connection; returns how many got one."""
        count = 0
        for channel in self._players.values():
            for conn in list(channel.connections):
                beat = EventEnvelope(
                    EventType.HEARTBEAT,
                    {"last_sequence": channel.next_sequence - 1},
                    player_id=channel.player_id,
                )
                self._offer(channel, conn, beat)
                count += 1
        return count

    def replay_since(self, player_id: int, last_event_id: int) -> list[EventEnvelope]:
        channel = self._players.get(player_id)
        if channel is None:
            return []
        return [e for e in channel.buffer if (e.sequence_number or 0) > last_event_id]

    def _offer(self, channel: PlayerChannel, conn: Connection, event: EventEnvelope) -> None:
        try:
            conn.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A consumer this far behind is stuck: drop it; it reconnects and replays the buffer.
            log.warning("connection_overflow", player_id=channel.player_id, transport=conn.transport)
            conn.close("overflow")
            if conn in channel.connections:
                channel.connections.remove(conn)
                if not channel.connections:
                    self._went_offline(channel)

    def _went_offline(self, channel: PlayerChannel, grace: bool = True) -> None:
        channel.disconnected_at = time.monotonic() if grace else None
        if self.on_offline is not None:
            try:
                self.on_offline(channel.player_id, channel.name)
            except Exception:  # a failing listener must not break the transport's cleanup
                log.exception("on_offline_failed", player_id=channel.player_id)

    # Graceful stop

    def command_in_flight(self) -> _InFlight:
        """Count a command as running until its reply is queued: the drain waits for it."""
        return _InFlight(self)

    @property
    def commands_in_flight(self) -> int:
        return self._in_flight

    async def drain(self, bound_s: float, reason: str = "restart") -> DrainResult:
        """Stop taking commands, let those in flight finish (up to `bound_s` seconds; the sockets
        stay open at least NOTICE_S, so a command on its way is refused rather than cut off), then
        close every connection and wait for the transports to write what is queued and close.

        The replies of finished commands are queued before the close sentinel, so a transport
        sends them before it closes; a command still running at the bound is reported, not waited for.
        """
        self.draining = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + bound_s
        notice_end = started + (min(NOTICE_S, bound_s) if self._transports else 0.0)
        # Polled: commands finish on many paths; a counter is all they share.
        while (self._in_flight or loop.time() < notice_end) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_POLL_S)
        unfinished = self._in_flight
        self.close_all(reason)
        flush_deadline = loop.time() + FLUSH_GRACE_S
        while self._transports and loop.time() < flush_deadline:  # noqa: ASYNC110
            await asyncio.sleep(DRAIN_POLL_S)
        return DrainResult(unfinished, len(self._transports), loop.time() - started)

    def close_all(self, reason: str = "shutdown") -> None:
        """Ask every connection to close: each transport sends what is queued, then closes."""
        for channel in self._players.values():
            for conn in list(channel.connections):
                conn.close(reason)
            channel.connections.clear()
            channel.disconnected_at = time.monotonic()


class _InFlight:
    """``with manager.command_in_flight():`` as a plain class (a generator-based context manager
    cost a few microseconds on every command)."""

    __slots__ = ("_manager",)

    def __init__(self, manager: ConnectionManager) -> None:
        self._manager = manager

    def __enter__(self) -> None:
        self._manager._in_flight += 1

    def __exit__(self, *_: object) -> None:
        self._manager._in_flight -= 1
