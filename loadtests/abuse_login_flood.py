"""Locust login flood for the abuse suite: wrong passwords, back to back, from many loopback addresses.

Run by ``harness.abuse`` as a subprocess (``MYTHOS_ABUSE_FLOOD_CONFIG`` names its JSON config).
Each simulated attacker binds its connections to one address of the config's list (Linux
answers all of 127.0.0.0/8 on loopback), so per-address throttles see many attackers, as they
would from a botnet. Requests sent and answers by HTTP status are counted and written to ``results_file``
when the test stops; ``started_file`` appears when every attacker is spawned, so the harness
starts its real players' logins inside the flood, not before it.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from locust import HttpUser, constant, events, task
from locust.exception import StopUser
from requests.adapters import HTTPAdapter

CONFIG_ENV = "MYTHOS_ABUSE_FLOOD_CONFIG"
USER_AGENT = "mythos-abuse-flood"


def _config() -> dict[str, Any]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: this locustfile is run by harness.abuse")
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


CONFIG = _config()
_ADDRESSES = itertools.cycle(CONFIG["addresses"])
_STATUSES: Counter[str] = Counter()
_SENT = [0]
_LOCK = threading.Lock()
_STARTED: list[float] = []


class SourceAddressAdapter(HTTPAdapter):
    """Connections leave from one chosen local address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(pool_connections=1, pool_maxsize=1)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class LoginFlooder(HttpUser):
    host = CONFIG["host"]
    wait_time = constant(0)

    def on_start(self) -> None:
        adapter = SourceAddressAdapter(next(_ADDRESSES))
        self.client.mount("http://", adapter)
        self.client.headers["User-Agent"] = USER_AGENT

    @task
    def guess(self) -> None:
        with _LOCK:
            if _SENT[0] >= int(CONFIG["max_requests"]):
                raise StopUser()
            _SENT[0] += 1
        body = {"username": secrets.choice(CONFIG["usernames"]), "password": secrets.token_urlsafe(12)}
        with self.client.post("/auth/login", json=body, name="/auth/login", catch_response=True,
                              timeout=30) as response:
            status = str(response.status_code)
            with _LOCK:
                _STATUSES[status] += 1
            # Refusals are what a defended server answers; only a crash or a 5xx other than 503 is an error.
            if response.status_code in (401, 429, 503):
                response.success()


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    _STARTED.append(time.monotonic())
    Path(CONFIG["started_file"]).write_text(str(user_count), encoding="utf-8")


@events.test_stop.add_listener
def _write_results(**_: Any) -> None:
    seconds = time.monotonic() - _STARTED[0] if _STARTED else 0.0
    with _LOCK:
        # Requests still unanswered when the run stopped are in "sent" but in no status.
        results = {"sent": _SENT[0], "statuses": dict(_STATUSES), "seconds": round(seconds, 3)}
    Path(CONFIG["results_file"]).write_text(json.dumps(results), encoding="utf-8")
