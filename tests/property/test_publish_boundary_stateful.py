"""The NATS error boundaries under random interleavings and cancellations (issue 12).

A RuleBasedStateMachine drives the real PublishGuard + CircuitBreaker (publish side) and the
real NATSMessageHandler + CircuitBreaker (consume side). Only the edges are fakes: a publish and
a fan-out whose every attempt is scripted (ok, slow until released, transient error, permanent
error), a DLQ kept in memory with a yield point inside its write (so a cancellation can land
there), and a clock the breakers read. Async code runs on the machine's own event loop through a
small sync shim; each `step` rule lets the loop run a few iterations, so tasks stop at different
await points, and `cancel` cancels one task or every live one wherever they are (a task may be
cancelled twice). The breakers' thresholds are drawn small (1-3 failures, 1-2 successes) so
that open and half-open are reached in a few steps.

The reference model is plain bookkeeping of what happened to each line:
- publish: a line whose publish started is, once everything settled, either stored by the fake
  server or in the DLQ, never both, never twice; a sender that was not cancelled got the
  matching answer (sent, or not sent with its DLQ id);
- consume: a message is delivered to players at most once; one that was neither delivered nor
  dead-lettered (its handling was cancelled) is redelivered, as JetStream does for an unacked
  message, until it is one or the other, exactly once;
- the publish breaker leaves half-open for closed only on probe results: as many successful
  probes as `success_threshold` since it went half-open;
- a half-open breaker refuses for "probe in flight" only while a probe's task is alive (a
  cancelled probe released the slot);
- bad input (permanent errors) never moves either breaker;
- liveness (`heal`): once every call succeeds and the breaker's timeout has passed,
  `success_threshold` calls close both breakers again, whatever was cancelled before.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mythos.realtime.circuit_breaker import CircuitBreaker, CircuitState
from mythos.realtime.dead_letter_queue import DeadLetterQueue, entry_id_for
from mythos.realtime.message_handler import HandleOutcome, NATSMessageHandler
from mythos.realtime.publish_guard import PublishGuard, PublishResult
from mythos.realtime.retry import NATSRetryHandler, PermanentError, RetryConfig, is_permanent
from tests.property.budget import examples

TIMEOUT_S = 10.0
ATTEMPTS = 2
OUTCOMES = ("ok", "slow", "transient", "permanent")
# Slow and failing attempts are what reach open, half-open and mid-flight cancellations.
outcomes = st.lists(st.sampled_from((*OUTCOMES, "slow", "transient")), min_size=1, max_size=ATTEMPTS)
bursts = st.lists(outcomes, min_size=1, max_size=4)


async def _yield(_delay: float = 0.0) -> None:
    """Retry's backoff sleep, and the DLQ's write: one await point each, no wall time."""
    await asyncio.sleep(0)


class MemoryDLQ(DeadLetterQueue):
    """The DLQ's contract (idempotent by id) in memory, with an await point inside the write (a
    cancellation there means nothing was written), and a count of completed enqueues per id: a
    second one for the same line would be a double account."""

    def __init__(self, storage_path: Path) -> None:
        super().__init__(storage_path)
        self.entries: dict[str, dict[str, Any]] = {}
        self.enqueues: Counter[str] = Counter()

    async def enqueue(
        self,
        message_data: dict[str, Any],
        error: str | BaseException,
        retry_count: int,
        *,
        error_type: str | None = None,
        origin: str | None = None,
    ) -> str:
        entry_id = entry_id_for(message_data)
        await _yield()
        self.enqueues[entry_id] += 1
        self.entries.setdefault(entry_id, {"message": message_data, "error": str(error)})
        return entry_id

    async def get_pending_count(self) -> int:
        return len(self.entries)


class Script:
    """Per-id attempt outcomes; `slow` waits for a gate the machine releases."""

    def __init__(self) -> None:
        self.plans: dict[str, list[str]] = {}
        self.attempts: Counter[str] = Counter()
        self.gates: list[asyncio.Event] = []
        self.heal = False
        self.draining = False  # while settling, a slow attempt is released at once

    async def attempt(self, key: str) -> None:
        plan = self.plans[key]
        outcome = "ok" if self.heal else plan[min(self.attempts[key], len(plan) - 1)]
        self.attempts[key] += 1
        if outcome == "slow":
            gate = asyncio.Event()
            self.gates.append(gate)
            if self.draining:
                gate.set()
            await gate.wait()
        elif outcome == "transient":
            await _yield()
            raise ConnectionError(f"{key}: transient")
        elif outcome == "permanent":
            raise PermanentError(f"{key}: bad input")


class BoundaryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="mythos-boundary-")
        self.now = 1000.0
        self.script = Script()
        self.stored: Counter[str] = Counter()  # the fake NATS server's stream
        self.delivered: Counter[str] = Counter()  # what local players were shown
        self.pub_dlq = MemoryDLQ(Path(self._tmp.name) / "pub")
        self.con_dlq = MemoryDLQ(Path(self._tmp.name) / "con")
        self.failures, self.successes = 5, 2  # the game's defaults until `thresholds` draws others
        self.pub_breaker = self._breaker()
        self.con_breaker = self._breaker()
        self.guard = PublishGuard(self._publish, self.pub_dlq, retry=self._retry(), breaker=self.pub_breaker)
        self.handler = NATSMessageHandler(self._fan_out, self.con_dlq, retry=self._retry(), breaker=self.con_breaker)
        self.lines: dict[str, asyncio.Task[PublishResult]] = {}
        self.started: set[str] = set()
        self.cancelled: set[str] = set()
        self.messages: dict[str, dict[str, Any]] = {}
        self.handling: dict[str, asyncio.Task[HandleOutcome]] = {}
        self.counter = 0
        # Half-open bookkeeping of the publish breaker (bug 2: stale successes closed it).
        self.half_open_gen = 0
        self.admitted_gen: dict[str, int | None] = {}
        self.probes: set[str] = set()  # calls admitted while their breaker was half-open
        self.probe_successes = 0
        self.unproven_closes: list[str] = []
        self.pub_breaker.add_listener(self._on_publish_breaker)
        self._previous = CircuitState.CLOSED

    @initialize(failures=st.integers(1, 3), successes=st.integers(1, 2))
    def thresholds(self, failures: int, successes: int) -> None:
        """Small thresholds reach open and half-open in few steps; the parts are rebuilt with them."""
        note(f"breakers: {failures} failures open, {successes} probe successes close")
        self.failures, self.successes = failures, successes
        self.pub_breaker = self._breaker()
        self.con_breaker = self._breaker()
        self.guard = PublishGuard(self._publish, self.pub_dlq, retry=self._retry(), breaker=self.pub_breaker)
        self.handler = NATSMessageHandler(self._fan_out, self.con_dlq, retry=self._retry(), breaker=self.con_breaker)
        self.pub_breaker.add_listener(self._on_publish_breaker)

    # -- the parts ------------------------------------------------------------------------------
    def _breaker(self) -> CircuitBreaker:
        return CircuitBreaker(
            failure_threshold=self.failures,
            timeout=timedelta(seconds=TIMEOUT_S),
            success_threshold=self.successes,
            clock=lambda: self.now,
            excluded=is_permanent,
        )

    @staticmethod
    def _retry() -> NATSRetryHandler:
        return NATSRetryHandler(RetryConfig(max_attempts=ATTEMPTS, base_delay=0.0, jitter=False), sleep=_yield)

    async def _publish(self, subject: str, message: dict[str, Any]) -> None:
        key = message["message_id"]
        if key not in self.admitted_gen:  # the first attempt runs in the step that admitted it
            probing = self.pub_breaker.state is CircuitState.HALF_OPEN
            self.admitted_gen[key] = self.half_open_gen if probing else None
            if probing:
                self.probes.add(key)
        await self.script.attempt(key)
        self.stored[key] += 1  # acknowledged: nothing awaits between this and the return
        if self.admitted_gen[key] is not None and self.admitted_gen[key] == self.half_open_gen:
            self.probe_successes += 1

    async def _fan_out(self, message: dict[str, Any]) -> None:
        key = message["message_id"]
        if self.script.attempts[key] == 0 and self.con_breaker.state is CircuitState.HALF_OPEN:
            self.probes.add(key)
        await self.script.attempt(key)
        self.delivered[key] += 1

    def _on_publish_breaker(self, state: CircuitState) -> None:
        if state is CircuitState.HALF_OPEN:
            self.half_open_gen += 1
            self.probe_successes = 0
        elif (
            state is CircuitState.CLOSED
            and self._previous is CircuitState.HALF_OPEN
            and self.probe_successes < self.successes
        ):
            self.unproven_closes.append(f"closed after {self.probe_successes} probe successes")
        self._previous = state

    # -- the sync shim --------------------------------------------------------------------------
    def _spin(self, iterations: int) -> None:
        async def spin() -> None:
            for _ in range(iterations):
                await asyncio.sleep(0)

        self.loop.run_until_complete(spin())

    def _settle(self) -> None:
        """Release every slow call and run until every task and every shielded DLQ write is done."""
        self.script.draining = True
        try:
            for gate in self.script.gates:
                gate.set()
            tasks = [*self.lines.values(), *self.handling.values()]
            if tasks:
                self.loop.run_until_complete(asyncio.wait(tasks))
            self.loop.run_until_complete(self.guard.drain())
        finally:
            self.script.draining = False

    def teardown(self) -> None:
        try:
            for task in (*self.lines.values(), *self.handling.values()):
                task.cancel()
            self._settle()
        finally:
            self.loop.close()
            self._tmp.cleanup()

    def _new_key(self, prefix: str, plan: list[str]) -> str:
        self.counter += 1
        key = f"{prefix}{self.counter}"
        self.script.plans[key] = plan
        return key

    # -- rules ----------------------------------------------------------------------------------
    @rule(plans=bursts)
    def say(self, plans: list[list[str]]) -> None:
        """A burst of players' lines enters the publish path, each in its WebSocket reader's task."""
        for plan in plans:
            key = self._new_key("p", plan)
            note(f"say {key} {plan}")

            async def send(key: str = key) -> PublishResult:
                self.started.add(key)
                return await self.guard.publish("chat.say.hall", {"message_id": key, "channel": "say", "content": key})

            self.lines[key] = self.loop.create_task(send())
        self._spin(1)  # the readers are running: each line is admitted (or refused) as it arrives

    @rule(plans=bursts)
    def receive(self, plans: list[list[str]]) -> None:
        """A burst of messages arrives from the stream for local fan-out."""
        for plan in plans:
            key = self._new_key("c", plan)
            note(f"receive {key} {plan}")
            message = {"message_id": key, "sender_id": 1, "channel": "say", "content": key, "timestamp": "t"}
            self.messages[key] = message
            self.handling[key] = self.loop.create_task(self.handler.handle(message))
        self._spin(1)

    @rule(iterations=st.integers(1, 12))
    def step(self, iterations: int) -> None:
        self._spin(iterations)

    @precondition(lambda self: any(not t.done() for t in (*self.lines.values(), *self.handling.values())))
    @rule(data=st.data(), every=st.booleans())
    def cancel(self, data: st.DataObject, every: bool) -> None:
        """Tasks are cancelled wherever they stand: one (a session evicted mid-`say`) or every live
        one (a mass eviction, or the consumer stopping)."""
        live = sorted(k for k, t in (*self.lines.items(), *self.handling.items()) if not t.done())
        chosen = live if every else [data.draw(st.sampled_from(live), label="cancel")]
        note(f"cancel {chosen}")
        for key in chosen:
            (self.lines.get(key) or self.handling[key]).cancel()
            self.cancelled.add(key)
        self._spin(1)  # the cancellation lands where each task stands

    @precondition(lambda self: any(not g.is_set() for g in self.script.gates))
    @rule(data=st.data(), every=st.booleans())
    def release(self, data: st.DataObject, every: bool) -> None:
        """Slow acks (or slow sockets) answer: one, or all of them."""
        waiting = [g for g in self.script.gates if not g.is_set()]
        for gate in waiting if every else [data.draw(st.sampled_from(waiting), label="release")]:
            gate.set()
        note(f"release {'every' if every else 'one'} slow call")

    @rule(seconds=st.sampled_from([1.0, TIMEOUT_S]))
    def advance(self, seconds: float) -> None:
        """Time passes, and the health probe reads both breakers (an expired open one is half-open)."""
        self.now += seconds
        note(f"t+{seconds}: publish {self.pub_breaker.state}, consume {self.con_breaker.state}")

    def redeliver(self) -> None:
        """JetStream redelivers what was neither acked nor dead-lettered (a cancelled handling)."""
        self._settle()
        for key, task in list(self.handling.items()):
            if task.cancelled() and not self.delivered[key] and key not in self.con_dlq.entries:
                note(f"redeliver {key}")
                self.handling[key] = self.loop.create_task(self.handler.handle(self.messages[key]))

    @rule(extra=st.integers(0, 2))
    def bad_input_burst(self, extra: int) -> None:
        """Permanent errors (bad input) are the sender's fault, not NATS's: they never count."""
        self._settle()
        before = (self.pub_breaker.state, self.pub_breaker.failure_count)
        before_consume = (self.con_breaker.state, self.con_breaker.failure_count)
        self.say([["permanent"]] * (self.failures + extra))
        self.receive([["permanent"]] * (self.failures + extra))
        self._settle()
        assert (self.pub_breaker.state, self.pub_breaker.failure_count) == before, "publish breaker counted bad input"
        assert (self.con_breaker.state, self.con_breaker.failure_count) == before_consume, "consume breaker counted it"

    @rule()
    def heal(self) -> None:
        """NATS and the players' sockets recover: every breaker must close again."""
        self._settle()
        self.redeliver()
        self._settle()
        self.script.heal = True
        try:
            self.now += TIMEOUT_S
            for _ in range(self.successes):
                self.say([["ok"]])
                self.receive([["ok"]])
                self._settle()
            note(f"after heal: publish {self.pub_breaker.state}, consume {self.con_breaker.state}")
            assert self.pub_breaker.state is CircuitState.CLOSED, f"publish breaker {self.pub_breaker.state}"
            assert self.con_breaker.state is CircuitState.CLOSED, f"consume breaker {self.con_breaker.state}"
            for key in list(self.lines)[-self.successes :]:
                assert self.lines[key].result().sent
        finally:
            self.script.heal = False
        self._check_settled()

    # -- what must always hold ------------------------------------------------------------------
    @invariant()
    def each_line_at_most_once(self) -> None:
        for key in self.lines:
            assert self.stored[key] + self.pub_dlq.enqueues[key] <= 1, (
                key,
                self.stored[key],
                self.pub_dlq.enqueues[key],
            )
        for key in self.messages:
            assert self.delivered[key] <= 1, f"{key} shown twice"
            assert self.con_dlq.enqueues[key] <= 1, f"{key} dead-lettered twice"

    @invariant()
    def no_probe_slot_without_a_live_probe(self) -> None:
        """A half-open breaker refuses for "probe in flight" only while its probe's task lives:
        a cancelled probe must have released the slot."""
        for breaker, tasks in ((self.pub_breaker, self.lines), (self.con_breaker, self.handling)):
            live_probe = any(key in self.probes and not task.done() for key, task in tasks.items())
            if breaker.state is CircuitState.HALF_OPEN and not live_probe:
                breaker.release(breaker.before_call())  # CircuitBreakerOpen here: a probe slot leaked

    @invariant()
    def only_probes_close_a_half_open_breaker(self) -> None:
        assert not self.unproven_closes, self.unproven_closes

    def _check_settled(self) -> None:
        """After a settle: every started line is accounted for exactly once and answered rightly."""
        for key, task in self.lines.items():
            if key not in self.started:
                continue  # cancelled before the publish began: the line never entered the path
            accounted = self.stored[key] + self.pub_dlq.enqueues[key]
            assert accounted == 1, f"line {key}: stored {self.stored[key]}, dead-lettered {self.pub_dlq.enqueues[key]}"
            if task.cancelled():
                continue  # its sender is gone; the line is stored or queued for replay
            result = task.result()
            assert result.sent == bool(self.stored[key]), (key, result)
            assert result.sent or result.dlq_id == key, (key, result)
        for key, handled in self.handling.items():
            if handled.cancelled():
                assert self.delivered[key] + self.con_dlq.enqueues[key] <= 1
                continue
            outcome = handled.result()
            done = self.delivered[key] + self.con_dlq.enqueues[key]
            assert done == 1 and outcome in (HandleOutcome.PROCESSED, HandleOutcome.DEAD_LETTERED,
                                             HandleOutcome.DUPLICATE), (key, outcome, done)  # fmt: skip


TestPublishBoundary = BoundaryMachine.TestCase
TestPublishBoundary.settings = settings(max_examples=examples("stateful"))
