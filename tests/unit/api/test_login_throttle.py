"""Login throttling over HTTP (issue 12, item 5): back-off per account and address, a ceiling per
account that a new address still passes, and 503 at once when the hashing queue is full.

Each client has its own address (the ASGI scope's client), as players behind different hosts do.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mythos.app import create_app
from mythos.services import AppServices
from tests.factories import ADMIN_PASSWORD, PASSWORD, make_config

ATTACKER = "10.0.0.66"
OWNER = "10.0.0.7"

Client = Callable[[str], Awaitable[httpx.AsyncClient]]


def _config(tmp_path: Path, **security: Any) -> Any:
    base = {"login_free_failures": 3, "login_backoff_base_seconds": 60.0}
    return make_config(tmp_path, security={**base, **security})


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def _start(stack: AsyncExitStack, tmp_path: Path, **security: Any) -> tuple[FastAPI, Client]:
    app = create_app(_config(tmp_path, **security))
    await stack.enter_async_context(app.router.lifespan_context(app))

    async def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40_000))
        return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://mythos.test"))

    return app, client


def _services(app: FastAPI) -> AppServices:
    services: AppServices = app.state.services
    return services


async def _login(c: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await c.post("/auth/login", json={"username": name, "password": password})


def _assert_throttled(r: httpx.Response, scope: str) -> int:
    """A 429 with an integer Retry-After and a JSON body that says why and for how long."""
    assert r.status_code == 429, r.text
    header = r.headers["Retry-After"]
    assert header.isdigit() and int(header) >= 1
    body = r.json()
    assert body["error_type"] == "login_throttled"
    assert body["scope"] == scope
    assert body["retry_after"] == int(header)
    assert f"{int(header)} second" in body["message"]
    return int(header)


async def test_a_brute_force_on_admin_does_not_lock_the_admin_out(stack: AsyncExitStack, tmp_path: Path) -> None:
    app, client = await _start(stack, tmp_path)
    attacker, owner = await client(ATTACKER), await client(OWNER)
    statuses = [(await _login(attacker, "admin", f"guess-{i}-password")).status_code for i in range(6)]
    assert statuses[:3] == [401, 401, 401], statuses
    assert statuses[3:] == [429, 429, 429], statuses
    retry_after = _assert_throttled(await _login(attacker, "admin", "guess-again-pw"), "account_address")
    assert 55 <= retry_after <= 60
    # Even the right password is not evaluated from the throttled address...
    _assert_throttled(await _login(attacker, "admin", ADMIN_PASSWORD), "account_address")
    # ...but the real admin, from another address, gets in at once.
    started = time.perf_counter()
    r = await _login(owner, "admin", ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    assert time.perf_counter() - started < 5.0
    # The lockout is in the audit log, with how long it lasts.
    audit = _services(app).audit
    assert audit is not None
    records = [
        json.loads(line)
        for path in sorted(Path(tmp_path / "logs").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    lockouts = [r for r in records if r.get("metadata", {}).get("event") == "login_lockout"]
    assert len(lockouts) == 1, records
    assert lockouts[0]["player"] == "admin" and lockouts[0]["ip_address"] == ATTACKER
    assert lockouts[0]["metadata"]["scope"] == "account_address"
    assert lockouts[0]["metadata"]["retry_after"] == 60


async def test_back_off_doubles_after_each_further_failure(stack: AsyncExitStack, tmp_path: Path) -> None:
    _app, client = await _start(stack, tmp_path, login_backoff_base_seconds=2.0)
    attacker = await client(ATTACKER)
    for i in range(3):
        assert (await _login(attacker, "admin", f"guess-{i}-password")).status_code == 401
    first = _assert_throttled(await _login(attacker, "admin", "too-soon-password"), "account_address")
    assert first == 2
    await asyncio.sleep(2.05)
    assert (await _login(attacker, "admin", "later-guess-pw")).status_code == 401
    assert _assert_throttled(await _login(attacker, "admin", "too-soon-password"), "account_address") == 4


async def test_an_address_spraying_accounts_is_throttled(stack: AsyncExitStack, tmp_path: Path) -> None:
    _app, client = await _start(stack, tmp_path, login_address_free_failures=4)
    sprayer, other = await client(ATTACKER), await client(OWNER)
    names = (f"ghost{i}" for i in itertools.count())
    statuses = [(await _login(sprayer, next(names), "some-password")).status_code for _ in range(4)]
    assert statuses == [401] * 4
    _assert_throttled(await _login(sprayer, next(names), "some-password"), "address")
    assert (await _login(other, "admin", ADMIN_PASSWORD)).status_code == 200


async def test_the_account_ceiling_stops_guessing_addresses_but_not_a_new_one(
    stack: AsyncExitStack, tmp_path: Path
) -> None:
    _app, client = await _start(stack, tmp_path, login_account_failures_per_hour=4)
    a, b, fresh = await client("10.0.1.1"), await client("10.0.1.2"), await client("10.0.1.3")
    for c in (a, b, a, b):
        assert (await _login(c, "admin", "wrong-password")).status_code == 401
    _assert_throttled(await _login(a, "admin", "wrong-password"), "account")
    _assert_throttled(await _login(b, "admin", ADMIN_PASSWORD), "account")
    assert (await _login(fresh, "admin", ADMIN_PASSWORD)).status_code == 200
    # A new address gets its guess evaluated, and is then one of the guessing addresses.
    late = await client("10.0.1.4")
    assert (await _login(late, "admin", "wrong-password")).status_code == 401
    _assert_throttled(await _login(late, "admin", "wrong-password"), "account")


async def test_a_success_clears_the_failures_of_that_account_and_address(stack: AsyncExitStack, tmp_path: Path) -> None:
    _app, client = await _start(stack, tmp_path)
    owner = await client(OWNER)
    for _ in range(2):
        assert (await _login(owner, "admin", "typo-password")).status_code == 401
    assert (await _login(owner, "admin", ADMIN_PASSWORD)).status_code == 200
    for _ in range(2):
        assert (await _login(owner, "admin", "typo-password")).status_code == 401
    assert (await _login(owner, "admin", ADMIN_PASSWORD)).status_code == 200


class _SlowHasher:
    """Verification that takes `seconds` in a worker thread, as argon2 does under load."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, _hash: str, _password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return False

    def hash(self, password: str) -> str:
        return "not-a-hash"


async def test_a_full_hashing_queue_is_refused_at_once_with_503(stack: AsyncExitStack, tmp_path: Path) -> None:
    app, client = await _start(stack, tmp_path, login_hash_queue_max=2, login_suspect_queue_max=1)
    slow = _SlowHasher(0.6)
    _services(app).auth._hasher = slow  # type: ignore[assignment]  # forces the edge: slow hashes
    clients = [await client(f"10.0.2.{i}") for i in range(10)]

    async def timed(c: httpx.AsyncClient) -> tuple[int, float, httpx.Response]:
        started = time.perf_counter()
        r = await _login(c, "admin", "wrong-password")
        return r.status_code, time.perf_counter() - started, r

    results = await asyncio.gather(*(timed(c) for c in clients))
    statuses = sorted(status for status, _, _ in results)
    # New addresses share one of the two slots and have two waiting places: three evaluated,
    # seven refused at once.
    assert statuses == [401] * 3 + [503] * 7, statuses
    assert slow.most == 1
    # Refused at once: before the first hash (0.6 s) is done, not after waiting for a slot.
    evaluated = min(elapsed for status, elapsed, _ in results if status == 401)
    for status, elapsed, r in results:
        if status == 503:
            assert elapsed < evaluated, (elapsed, evaluated)
            assert r.headers["Retry-After"].isdigit() and int(r.headers["Retry-After"]) >= 1
            assert r.json()["error_type"] == "login_busy"
            assert r.json()["retry_after"] == int(r.headers["Retry-After"])


async def test_a_login_flood_cannot_delay_a_returning_player(stack: AsyncExitStack, tmp_path: Path) -> None:
    """Addresses that failed queue for one slot; an address that logged in before gets the other."""
    app, client = await _start(stack, tmp_path, login_address_free_failures=50, login_free_failures=50)
    slow = _SlowHasher(0.4)
    services = _services(app)
    returning = await client(OWNER)
    assert (await _login(returning, "admin", ADMIN_PASSWORD)).status_code == 200
    flooders = [await client(f"10.0.3.{i}") for i in range(8)]
    for c in flooders:  # each address fails once: from now on it is suspect
        assert (await _login(c, "admin", "wrong-password")).status_code == 401
    services.auth._hasher = slow  # type: ignore[assignment]
    stop = asyncio.Event()

    async def flood(c: httpx.AsyncClient) -> None:
        while not stop.is_set():
            r = await _login(c, "admin", "wrong-password")
            if r.status_code == 503:
                await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(flood(c)) for c in flooders]
    try:
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        r = await _login(returning, "ghost", "whatever-password")
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert r.status_code == 401
    # One hash of its own, no wait behind the flood's queue (0.4 s each).
    assert elapsed < 0.4 * 2.5, elapsed


async def test_registration_checks_the_whole_name(stack: AsyncExitStack, tmp_path: Path) -> None:
    app, client = await _start(stack, tmp_path)
    c = await client(OWNER)
    code = _services(app).auth.invites.create(1)[0]
    r = await c.post("/auth/register", json={"username": "admin\n", "password": PASSWORD, "invite_code": code})
    assert r.status_code == 422, r.text
