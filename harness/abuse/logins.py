"""Login attacks: brute force on ``admin`` and on a player, and a Locust login flood while real players log in.

The brute forces guess from addresses other than 127.0.0.1; afterwards the account's real
owner logs in from 127.0.0.1 with the right password, which must work: a throttle that locks the
owner out is a weapon for the attacker. The flood runs in Locust (a subprocess: importing locust
monkey-patches the process) from twenty loopback addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.abuse.clients import LoginAnswer, http_client, login
from harness.abuse.context import Account, AttackContext, AttackOutcome, Budget
from harness.abuse.measure import Guess, guesses_per_hour, pace_s

__all__ = ["FLOOD_ADDRESSES", "LOCUSTFILE", "login_brute_force_admin", "login_brute_force_player", "login_flood"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = PROJECT_ROOT / "loadtests" / "abuse_login_flood.py"
CONFIG_ENV = "MYTHOS_ABUSE_FLOOD_CONFIG"  # read by the locustfile
OWNER_ADDRESS = "127.0.0.1"
ADMIN_ATTACKER = ("127.0.0.2",)
PLAYER_ATTACKERS = ("127.0.0.3", "127.0.0.4")
LOCKED_PAUSE_S = 0.05
"""Between refused guesses: the attacker still meets the end of a lock within this, without
spinning a core on 429s."""
FLOOD_ADDRESSES = tuple(f"127.0.0.{n}" for n in range(10, 30))
FLOOD_USERS = 16
OWNER_PATIENCE_S = 5.0
LEGIT_PATIENCE_S = 5.0
"""A real player who has not got in after this long has given up: the sample is this long."""
LEGIT_PAUSE_S = 0.2
LOCUST_START_S = 15.0
LOCUST_GRACE_S = 20.0


async def _brute_force(ctx: AttackContext, budget: Budget, account: Account,
                       addresses: Sequence[str]) -> AttackOutcome:
    """Wrong passwords for ``account``, one in flight per address, each sent as soon as the last
    is answered (so a lock is met the moment it ends). An address stops early once a lock
    outlasts the window: nothing more can be learnt from it before the deadline."""
    by_address: dict[str, list[Guess]] = {address: [] for address in addresses}
    started = time.monotonic()
    deadline = started + budget.seconds
    remaining = [budget.count]

    async def guesser(address: str) -> None:
        async with http_client(ctx.base_url, local_address=address) as client:
            while time.monotonic() < deadline and remaining[0] > 0:
                remaining[0] -= 1
                answer = await login(client, account.name, secrets.token_urlsafe(12))
                now = time.monotonic()
                by_address[address].append(Guess(now - started, answer.status, answer.retry_after_s))
                if answer.status == 429 and answer.retry_after_s:
                    if now + answer.retry_after_s >= deadline:
                        return
                    await asyncio.sleep(LOCKED_PAUSE_S)

    await asyncio.gather(*(guesser(a) for a in addresses))
    window = max(time.monotonic() - started, 1e-3)
    answers = [g for guesses in by_address.values() for g in guesses]
    statuses = Counter(g.status for g in answers)
    per_address = {address: {"evaluated": sum(1 for g in guesses if g.evaluated), "answers": len(guesses),
                             "pace_s": None if (p := pace_s(guesses)) is None else round(p, 1)}
                   for address, guesses in by_address.items()}
    figures: dict[str, Any] = {
        "account": account.name, "addresses": len(addresses), "guesses": len(answers),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "evaluated": sum(1 for g in answers if g.evaluated),
        "refused": sum(1 for g in answers if g.status in (429, 503)), "window_s": round(window, 2),
        "per_address": per_address,
        "guesses_per_hour": round(guesses_per_hour(by_address, window), 1),
    }
    outcome = AttackOutcome(figures=figures, refusals=sum(1 for g in answers if g.status in (401, 429, 503)))
    owner = await _owner_logs_in(ctx, account)
    figures["owner_login"] = {"status": owner.status, "ms": round(owner.elapsed_ms, 1)}
    if owner.status != 200:
        outcome.failures.append(
            f"{account.name} could not log in from {OWNER_ADDRESS} with the right password after a brute "
            f"force from {', '.join(addresses)}: HTTP {owner.status} (the throttle locks the owner out)")
    return outcome


async def _owner_logs_in(ctx: AttackContext, account: Account) -> LoginAnswer:
    """The real owner, from another address; a 503 (hash queue full) is retried, a 429 is not."""
    deadline = time.monotonic() + OWNER_PATIENCE_S
    async with http_client(ctx.base_url, local_address=OWNER_ADDRESS) as client:
        while True:
            answer = await login(client, account.name, account.password)
            if answer.status not in (0, 503) or time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(min(answer.retry_after_s or 0.2, 1.0))


async def login_brute_force_admin(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Guess ``admin``'s password from one address; then the real admin logs in from another."""
    admin = Account("admin", ctx.admin_password)
    return await _brute_force(ctx, budget, admin, ADMIN_ATTACKER)


async def login_brute_force_player(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Guess a player's password from two addresses; then the player logs in from a third."""
    return await _brute_force(ctx, budget, ctx.victim, PLAYER_ATTACKERS)


async def _legit_logins(ctx: AttackContext, until: float) -> tuple[list[float], int]:
    """Real players logging in (right password, from 127.0.0.1) until ``until``; retries a
    refusal after its Retry-After like a client would. Returns (ms to get in, players who gave up)."""
    samples: list[float] = []
    gave_up = [0]

    async def player(index: int) -> None:
        async with http_client(ctx.base_url, local_address=OWNER_ADDRESS, timeout=LEGIT_PATIENCE_S) as client:
            turn = index
            while time.monotonic() < until:
                account = ctx.compliant[turn % len(ctx.compliant)]
                turn += 1
                started = time.perf_counter()
                deadline = time.monotonic() + LEGIT_PATIENCE_S
                while True:
                    answer = await login(client, account.name, account.password)
                    if answer.status == 200:
                        samples.append((time.perf_counter() - started) * 1000.0)
                        break
                    if time.monotonic() >= deadline or answer.status not in (0, 429, 503):
                        samples.append(max((time.perf_counter() - started) * 1000.0, LEGIT_PATIENCE_S * 1000.0))
                        gave_up[0] += 1
                        break
                    await asyncio.sleep(min(answer.retry_after_s or 0.2, 1.0))
                await asyncio.sleep(LEGIT_PAUSE_S)

    await asyncio.gather(*(player(i) for i in range(2)))
    return samples, gave_up[0]


def _locust_argv(out: Path, users: int, run_s: float) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
            "-r", str(users), "-t", f"{max(1, round(run_s))}s", "--only-summary", "--loglevel", "WARNING",
            "--logfile", str(out / "locust.log"), "--html", str(out / "report.html"),
            "--stop-timeout", "2", "--exit-code-on-error", "0"]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the Locust we started, then SIGKILL to the process group it leads."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 5)


async def login_flood(ctx: AttackContext, budget: Budget) -> AttackOutcome:
    """Wrong-password logins from twenty addresses (Locust) while real players log in."""
    out = ctx.out_dir / "login_flood"
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("started", "results.json"):
        (out / stale).unlink(missing_ok=True)
    config = {"host": ctx.base_url, "addresses": list(FLOOD_ADDRESSES), "max_requests": budget.count,
              "results_file": str(out / "results.json"), "started_file": str(out / "started"),
              "usernames": [f"ghost{n}" for n in range(40)] + [a.name for a in ctx.compliant]}
    config_path = out / "config.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    env = {**os.environ, CONFIG_ENV: str(config_path), "PYTHONPATH": str(PROJECT_ROOT)}
    argv = _locust_argv(out, FLOOD_USERS, budget.seconds)
    with (out / "locust.out").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(*argv, cwd=PROJECT_ROOT, env=env, stdout=log,
                                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                    start_new_session=True)
        try:
            started = time.monotonic()
            while not (out / "started").exists():
                if proc.returncode is not None or time.monotonic() - started > LOCUST_START_S:
                    raise RuntimeError(f"locust did not start the flood (exit {proc.returncode}); see {out}")
                await asyncio.sleep(0.05)
            samples, gave_up = await _legit_logins(ctx, time.monotonic() + budget.seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), budget.seconds + LOCUST_GRACE_S)
        finally:
            await _stop(proc)
    results = json.loads((out / "results.json").read_text(encoding="utf-8")) if (out / "results.json").exists() else {}
    statuses: dict[str, int] = results.get("statuses", {})
    sent = int(results.get("sent", 0))
    if not sent:
        raise RuntimeError(f"the login flood sent nothing (locust exit {proc.returncode}); see {out}")
    answered = sum(statuses.values())
    refusals = sum(n for code, n in statuses.items() if code in ("401", "429", "503"))
    figures = {"flood_sent": sent, "flood_answered": answered, "flood_statuses": statuses,
               "flood_answered_per_s": round(answered / max(results.get("seconds", budget.seconds), 1e-3), 1),
               "legit_logins": len(samples), "legit_gave_up": gave_up, "locust_report": str(out / "report.html")}
    outcome = AttackOutcome(figures=figures, refusals=refusals, samples={"legit_login_ms": samples})
    if statuses.get("200"):
        outcome.failures.append(f"the login flood got {statuses['200']} logins with wrong passwords")
    return outcome
