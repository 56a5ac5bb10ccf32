"""RateHandoff: the window sent by the server that lost a session, imported by the one that took
it; commands of a player taken over wait for it, and at most one window when it never comes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from mythos.commands.rate_limiter import CommandRateLimiter
from mythos.realtime.cluster_link import ClusterLink
from mythos.realtime.connection_state_machine import NATSConnectionStateMachine
from mythos.realtime.rate_handoff import SUBJECT_PREFIX, RateHandoff

WINDOW_S = 0.3


class FakeNC:
    """Delivers what is published to the other side's handoff, as the NATS subject would."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.is_connected = True

    async def publish(self, subject: str, payload: bytes) -> None:
        self.published.append((subject, payload))

    async def flush(self, timeout: float) -> None:
        return None


class FakeLink:
    def __init__(self, nc: FakeNC | None) -> None:
        self.fsm = NATSConnectionStateMachine("test")
        self._nc = nc

    @property
    def nc(self) -> Any:
        return self._nc

    @property
    def is_connected(self) -> bool:
        return self._nc is not None


def handoff(server: str, nc: FakeNC | None = None, names: dict[int, str] | None = None) -> RateHandoff:
    limiter = CommandRateLimiter(5, WINDOW_S)
    return RateHandoff(server, ClusterLink(FakeLink(nc)), limiter, (names or {}).get)


async def test_the_window_of_a_player_who_moved_is_sent_and_counted_by_the_new_holder() -> None:
    nc = FakeNC()
    a, b = handoff("a", nc, {7: "Wilbur"}), handoff("b")
    assert isinstance(a.limiter, CommandRateLimiter) and isinstance(b.limiter, CommandRateLimiter)
    for _ in range(5):
        assert a.limiter.is_allowed("Wilbur")
    b.taken_over(7, previous_revision=41)
    assert b.waiting(7)
    waiter = asyncio.create_task(b.wait(7))
    a.handed_over(7, held_revision=41, to_server="b")
    await asyncio.sleep(0.01)
    ((subject, payload),) = nc.published
    assert subject == f"{SUBJECT_PREFIX}.7"
    started = time.monotonic()
    b.receive(payload)
    await asyncio.wait_for(waiter, 0.1)
    assert time.monotonic() - started < 0.05, "the waiting command went on once the window arrived"
    assert not b.waiting(7)
    assert not b.limiter.is_allowed("Wilbur"), "the budget spent on a is spent on b"


async def test_a_handoff_that_arrives_before_the_claim_returns_is_not_waited_for_again() -> None:
    nc = FakeNC()
    a, b = handoff("a", nc, {7: "Wilbur"}), handoff("b")
    assert isinstance(a.limiter, CommandRateLimiter)
    assert a.limiter.is_allowed("Wilbur")
    a.handed_over(7, held_revision=3, to_server="b")
    await asyncio.sleep(0.01)
    b.receive(nc.published[0][1])
    b.taken_over(7, previous_revision=3)
    assert not b.waiting(7)
    assert b.limiter.ages("Wilbur") != []


async def test_without_a_handoff_the_wait_ends_one_window_after_the_claim() -> None:
    """The fallback: the previous server is dead (or the message was lost). Every command it
    accepted before the claim has left the window one window later, so the command then runs,
    delayed but not refused."""
    b = handoff("b")
    b.taken_over(7, previous_revision=9)
    started = time.monotonic()
    await b.wait(7)
    waited = time.monotonic() - started
    assert WINDOW_S - 0.02 <= waited <= WINDOW_S + 0.2, waited
    assert not b.waiting(7)
    started = time.monotonic()
    await b.wait(7)  # nothing pending any more: no second wait
    assert time.monotonic() - started < 0.01


async def test_a_handoff_for_another_claim_or_from_ourselves_does_not_end_the_wait() -> None:
    b = handoff("b")
    b.taken_over(7, previous_revision=9)
    stale = {"player_id": 7, "name": "Wilbur", "revision": 8, "origin": "c", "to": "a", "ages": [0.1]}
    own = {**stale, "revision": 9, "origin": "b"}
    b.receive(json.dumps(stale).encode())
    b.receive(json.dumps(own).encode())
    b.receive(b"not json")
    assert b.waiting(7)
    assert b.limiter.ages("Wilbur") != [], "another server's window still counts (merged, not added)"


async def test_the_handoff_is_sent_empty_for_a_player_with_no_window_and_not_at_all_without_a_link() -> None:
    nc = FakeNC()
    a = handoff("a", nc)
    a.handed_over(7, held_revision=2, to_server="b")
    await asyncio.sleep(0.01)
    body = json.loads(nc.published[0][1])
    assert body["ages"] == [] and body["name"] is None and body["to"] == "b"
    offline = handoff("a", None)
    offline.handed_over(7, held_revision=2, to_server="b")
    await asyncio.sleep(0.01)  # logged, nothing raised: the new holder waits out one window


async def test_a_player_going_offline_where_the_session_is_held_sends_the_window_ahead_of_the_claim() -> None:
    """A player switching servers closes one socket before opening the next: the window is sent
    then, so the next holder has it when its claim returns and does not wait."""
    nc = FakeNC()
    held = {7: 5}
    a = RateHandoff("a", ClusterLink(FakeLink(nc)), CommandRateLimiter(5, WINDOW_S), {7: "Wilbur"}.get,
                    held_revision=held.get)
    b = handoff("b")
    assert isinstance(a.limiter, CommandRateLimiter) and isinstance(b.limiter, CommandRateLimiter)
    for _ in range(5):
        assert a.limiter.is_allowed("Wilbur")
    a.went_offline(8, "Lavinia")  # not held here: nothing to send
    a.went_offline(7, "Wilbur")
    await asyncio.sleep(0.01)
    ((_, payload),) = nc.published
    assert json.loads(payload)["to"] is None
    b.receive(payload)
    b.taken_over(7, previous_revision=5)
    assert not b.waiting(7)
    assert not b.limiter.is_allowed("Wilbur")
    b.taken_over(7, previous_revision=6)  # a newer claim than the window sent: wait for that one
    assert b.waiting(7)
