"""The behaviours the scenarios combine: attacker, compliant player, alias attacker, chatter.

All are abstract so a locustfile picks exactly the ones it subclasses. Rates come from the
run's config and are paced with Locust's own ``constant_throughput``.
"""

from __future__ import annotations

import random
import time
from typing import Any

import gevent
from locust import constant_throughput, task
from locust.exception import StopUser

from loadtests.ws_player import MythosPlayer

__all__ = ["AliasAttacker", "Attacker", "Chatter", "CompliantPlayer"]

ALIAS_NAME = "boom"
GATHER_POLL_S = 0.5


class Attacker(MythosPlayer):
    """Floods without waiting for replies, at ``attacker_rate`` commands/s (spec: 50 vs a limit of 10)."""

    abstract = True
    role = "attacker"
    name_prefix = "at"

    def wait_time(self) -> float:
        result: float = constant_throughput(self.cfg.attacker_rate)(self)
        return result

    @task
    def flood(self) -> None:
        if len(self.conn.pending) >= self.cfg.max_outstanding:
            self.record.skipped += 1  # the server is behind; piling up more proves nothing
            return
        self.command(self.cfg.attacker_command, wait=False)


class CompliantPlayer(MythosPlayer):
    """Plays within the rules: ``player_rate`` commands/s, waiting for each reply; some are chat."""

    abstract = True
    role = "player"
    name_prefix = "pl"

    def wait_time(self) -> float:
        result: float = constant_throughput(self.player_rate)(self)
        return result

    @property
    def player_rate(self) -> float:
        return self.cfg.player_rate

    @task
    def play(self) -> None:
        roll = random.random()
        if roll < self.cfg.chat_share:
            self.say_marked()
            return
        direction = self.random_exit() if roll < self.cfg.chat_share + 0.2 else None
        self.command(f"go {direction}" if direction else "look")


class AliasAttacker(MythosPlayer):
    """Defines an alias of ``alias_size`` looks and fires it ``alias_rate`` times/s without waiting.

    Each executed ``look`` sends the player a ``room_state``, so executed commands are counted
    from what the server sent back, not from what the attacker hoped for.
    """

    abstract = True
    role = "alias"
    name_prefix = "aa"

    def wait_time(self) -> float:
        result: float = constant_throughput(self.cfg.alias_rate)(self)
        return result

    def on_start(self) -> None:
        super().on_start()
        definition = "; ".join(["look"] * self.cfg.alias_size)
        reply = self.command(f"alias {ALIAS_NAME} {definition}", name="alias define") or {}
        data: dict[str, Any] = reply.get("data") or {}
        defined = reply.get("event_type") == "command_result" and data.get("ok") is not False
        self.record.extra["alias_defined"] = defined
        if not defined:
            self.record.extra["alias_error"] = str(reply.get("error_type") or data.get("error_type") or
                                                   reply.get("message") or data.get("text") or "no reply")[:200]
            raise StopUser()
        gevent.sleep(self.cfg.rate_window_s)  # the definition used budget: start the flood clean
        self.record.extra["room_states_before_flood"] = self.record.room_states
        self.record.extra["flood_started_at"] = time.perf_counter()  # same clock as last_room_state_at

    @task
    def fire(self) -> None:
        if len(self.conn.pending) >= self.cfg.max_outstanding:
            self.record.skipped += 1
            return
        self.command(ALIAS_NAME, wait=False)

    def on_stop(self) -> None:
        started = self.record.extra.get("flood_started_at")
        if started is not None:
            self.record.extra["flood_span_s"] = time.perf_counter() - started
        super().on_stop()


class Chatter(MythosPlayer):
    """Waits until ``chat_players`` are in the room, then says ``chat_lines`` marked lines."""

    abstract = True
    role = "chat"
    name_prefix = "ch"

    def wait_time(self) -> float:
        result: float = constant_throughput(1.0 / self.cfg.chat_interval_s)(self)
        return result

    def on_start(self) -> None:
        super().on_start()
        # Arrivals by login send no player_entered, so look (well under the limit) until all are here.
        deadline = time.monotonic() + self.cfg.chat_gather_s
        while len(self.occupants) < self.cfg.chat_players and time.monotonic() < deadline:
            gevent.sleep(GATHER_POLL_S)
            self.command("look", name="gather look")
        self.record.extra["room_size_at_start"] = len(self.occupants)
        gevent.sleep(random.uniform(0, self.cfg.chat_interval_s))  # spread the lines out

    @task
    def chat(self) -> None:
        if self.record.chat_sent >= self.cfg.chat_lines:
            gevent.sleep(self.cfg.chat_interval_s)  # done talking; keep listening
            return
        self.say_marked()
