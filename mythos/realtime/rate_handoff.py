"""The rate budget follows the player across servers: the window moves with the session.

Each server counts a player's commands in its own `CommandRateLimiter`, so without this a player
who logs in on another server mid-flood would get a fresh budget there. When a server applies a
newer session claim naming another server for a player it held (`SessionRegistry`), it publishes
the player's window on core NATS, `mythos.rate.handoff.<player_id>`: the ages of the commands it
accepted within the window, relative to now (the servers' clocks need not agree; the time in
flight makes them look younger, so they are counted a little longer, never shorter). Every other
server imports them into its limiter (`CommandRateLimiter.import_ages`); the one that took the
session needs them, and for the others they expire within a window.

The server that took the session over from another lets that player's commands wait for the
handoff before they are counted (normally tens of ms). Core NATS is at-most-once and the previous
server may be dead, so the wait is bounded: if nothing has arrived one window after the claim,
every command the previous server accepted before the claim has left the window anyway, and the
commands run on what this server counts. So a command is delayed, never refused, by the handoff:
a player failing over from a stopped server waits at most one window once. See
docs/adr/ADR-006-cluster-sessions.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from mythos.observability.logging import get_logger
from mythos.realtime.cluster_link import ClusterLink, follow_link, stop_follower

__all__ = ["SUBJECT_PREFIX", "RateHandoff"]

log = get_logger(__name__)

SUBJECT_PREFIX = "mythos.rate.handoff"
FLUSH_TIMEOUT_S = 0.5
IDLE_CHECK_S = 1.0
_RECEIVED_KEEP = 256
"""Handoffs that arrived before this server's own claim returned are kept (a window long) for it."""


class _Limiter(Protocol):
    @property
    def window_seconds(self) -> float: ...
    def ages(self, player: str) -> list[float]: ...
    def import_ages(self, player: str, ages: Iterable[float]) -> int: ...


@dataclass
class _Pending:
    """A player this server took over: the claim it superseded and when waiting stops."""

    previous_revision: int
    deadline: float
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class RateHandoff:
    """Publishes the windows of players this server lost and imports the other servers'."""

    def __init__(
        self,
        server: str,
        link: ClusterLink,
        limiter: _Limiter,
        name_of: Callable[[int], str | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        held_revision: Callable[[int], int | None] | None = None,
    ) -> None:
        self.server = server
        self.link = link
        self.limiter = limiter
        self.name_of = name_of
        self.clock = clock
        # The revision of the claim by which this server holds the player, None when it does not.
        self.held_revision = held_revision
        self._pending: dict[int, _Pending] = {}
        self._received: dict[int, tuple[int, float]] = {}  # player_id -> (handed-over revision, when)
        self._sends: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    # -- the server that lost the session --------------------------------------------------------

    def handed_over(self, player_id: int, held_revision: int, to_server: str) -> None:
        """A newer claim names `to_server`: send the player's window (empty or not, so the new
        holder stops waiting at once). The ages are taken now, before anything else runs."""
        self._publish(player_id, self.name_of(player_id), held_revision, to_server)

    def went_offline(self, player_id: int, name: str) -> None:
        """The player's last connection here closed while this server holds their session (a
        player switching servers closes one socket, then opens the next; a stopping server closes
        them all): send the window now, so the next holder need not wait for it. Commands this
        server still runs for the player before it sees the next claim are sent again then."""
        revision = self.held_revision(player_id) if self.held_revision is not None else None
        if revision is not None:
            self._publish(player_id, name, revision, None)

    def _publish(self, player_id: int, name: str | None, revision: int, to_server: str | None) -> None:
        ages = self.limiter.ages(name) if name is not None else []
        body = {
            "player_id": player_id,
            "name": name,
            "revision": revision,
            "origin": self.server,
            "to": to_server,
            "ages": [round(age, 4) for age in ages],
        }
        task = asyncio.get_running_loop().create_task(self._send(player_id, json.dumps(body).encode()))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, player_id: int, data: bytes) -> None:
        nc = self.link.nc
        if nc is None:
            log.warning("rate_handoff_not_sent", player_id=player_id, reason="NATS link down")
            return
        try:
            await nc.publish(f"{SUBJECT_PREFIX}.{player_id}", data)
            await nc.flush(timeout=FLUSH_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception as exc:  # the new holder falls back to waiting out one window
            log.warning("rate_handoff_not_sent", player_id=player_id, error=repr(exc))

    # -- the server that took the session ----------------------------------------------------------

    def taken_over(self, player_id: int, previous_revision: int) -> None:
        """This server's claim superseded `previous_revision`, another server's: hold the player's
        commands until that server's window arrives, at most one window from now."""
        now = self.clock()
        received = self._received.pop(player_id, None)
        window = self.limiter.window_seconds
        if received is not None and received[0] >= previous_revision and now - received[1] < window:
            return  # it arrived before the claim returned and is imported already
        deadline = now + window
        self._pending[player_id] = _Pending(previous_revision, deadline)

    def waiting(self, player_id: int) -> bool:
        """Must the player's next command wait for a handoff? (One dict lookup: the fast path.)"""
        return player_id in self._pending

    async def wait(self, player_id: int) -> None:
        """Return once the player's handoff arrived, or one window after the claim."""
        pending = self._pending.get(player_id)
        if pending is None:
            return
        started = self.clock()
        remaining = pending.deadline - started
        if remaining > 0 and not pending.arrived.is_set():
            try:
                await asyncio.wait_for(pending.arrived.wait(), remaining)
            except TimeoutError:
                log.warning("rate_handoff_missing", player_id=player_id, waited_s=round(self.clock() - started, 3),
                            previous_revision=pending.previous_revision)
        if self._pending.get(player_id) is pending:
            del self._pending[player_id]

    # -- receiving -------------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Import one handoff; wake the commands waiting for it."""
        try:
            body = json.loads(data)
            origin, player_id, revision = str(body["origin"]), int(body["player_id"]), int(body["revision"])
            name = body.get("name")
            ages = [float(age) for age in body.get("ages") or ()]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("rate_handoff_malformed", error=repr(exc))
            return
        if origin == self.server:
            return
        counted = self.limiter.import_ages(str(name), ages) if name and ages else 0
        to = body.get("to")
        if to is not None and to != self.server:
            return
        pending = self._pending.get(player_id)
        # The sender may have held a newer claim than the one this server superseded (its own
        # login raced ours); its window is the one to count either way.
        if pending is not None and revision >= pending.previous_revision:
            pending.arrived.set()
            del self._pending[player_id]
            log.info("rate_handoff_received", player_id=player_id, origin=origin, commands=len(ages), counted=counted)
            return
        # Sent before our claim: the player went offline there, or the previous server saw our
        # claim on the watch before our own write returned.
        self._received[player_id] = (revision, self.clock())
        self._prune()

    def _prune(self) -> None:
        if len(self._received) <= _RECEIVED_KEEP:
            return
        cutoff = self.clock() - self.limiter.window_seconds
        for player_id in [p for p, (_, at) in self._received.items() if at < cutoff]:
            del self._received[player_id]

    async def _on_msg(self, msg: Msg) -> None:
        self.receive(msg.data)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            follow_link(self.link, "rate_handoff", self._follow, lambda: None), name="rate-handoff"
        )

    async def stop(self) -> None:
        await stop_follower(self._task)
        self._task = None
        for pending in self._pending.values():
            pending.arrived.set()
        for task in list(self._sends):
            task.cancel()

    async def _follow(self, generation: int, nc: NATS) -> None:
        sub = await nc.subscribe(f"{SUBJECT_PREFIX}.*", cb=self._on_msg)
        try:
            await nc.flush(timeout=FLUSH_TIMEOUT_S)  # type: ignore[arg-type]
            while self.link.current(generation):
                await self.link.changed(IDLE_CHECK_S)
        finally:
            with suppress(Exception):
                await sub.unsubscribe()
