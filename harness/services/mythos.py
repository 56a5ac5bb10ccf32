"""A real mythos game server: ``python -m mythos serve`` configured only by environment variables.

Each instance gets its own work directory (SQLite files, DATA_DIR with the DLQ, invites, logs)
and per-run secrets, so runs never share state and no secret is a constant. ``kill()`` +
``start()`` is the crash-and-restart fault: same port, same database, same DLQ.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from harness.services.lifecycle import Managed
from harness.services.process import ManagedProcess, free_port

__all__ = ["ADMIN_USERNAME", "MythosServer"]

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 3.0
REPLAY_TIMEOUT_S = 30.0
"""A replay republishes every entry one by one and waits for each acknowledgement."""
INVITE_COUNT = 200
ADMIN_USERNAME = "admin"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
USER_AGENT = "mythos-harness"


class MythosServer(Managed):
    """``with MythosServer(work_dir, log_dir, nats_url=...) as srv: srv.base_url``."""

    def __init__(self, work_dir: Path, log_dir: Path, *, nats_url: str, name: str = "mythos-0",
                 port: int | None = None, extra_env: Mapping[str, str] | None = None,
                 start_timeout: float = START_TIMEOUT_S, admin_password: str | None = None,
                 jwt_secret: str | None = None) -> None:
        self.name = name
        self.port = port or free_port(HOST)
        self.nats_url = nats_url
        self.start_timeout = start_timeout
        # Absolute: the server runs with its work dir as cwd, so relative paths would resolve twice.
        self.work_dir = (work_dir / name).resolve()
        # Servers sharing one database share these too: each sets the admin account's password at
        # start, and one world's tokens are signed with one key.
        self.admin_password = admin_password or secrets.token_urlsafe(18)
        self.jwt_secret = jwt_secret or secrets.token_urlsafe(48)  # kept across restarts: tokens stay valid
        self.invites_file = self.work_dir / "invites.json"
        self._invites: list[str] = []
        env = {k: v for k, v in os.environ.items() if k != "MYTHOS_ENV_FILE"}
        env.update(self.environment())
        env.update(extra_env or {})
        argv = [sys.executable, "-m", "mythos", "serve"]
        self.process = ManagedProcess(name, argv, log_dir / f"{name}.log", env=env, cwd=self.work_dir)

    def environment(self) -> dict[str, str]:
        """The configuration contract's variables for this instance (secrets generated per run)."""
        data = self.work_dir / "data"
        return {
            "SERVER_HOST": HOST,
            "SERVER_PORT": str(self.port),
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.work_dir / 'mythos.db'}",
            "NPC_DATABASE_URL": f"sqlite+aiosqlite:///{self.work_dir / 'npcs.db'}",
            "NATS_ENABLED": "true",
            "NATS_URL": self.nats_url,
            "MYTHOSMUD_ADMIN_PASSWORD": self.admin_password,
            "MYTHOSMUD_JWT_SECRET": self.jwt_secret,
            "LOGGING_ENVIRONMENT": "e2e_test",
            "LOG_FORMAT": "json",
            "INVITE_CODES_FILE": str(self.invites_file),
            "LOG_BASE_DIR": str(self.work_dir / "logs"),
            "DATA_DIR": str(data),
            "PYTHONPATH": str(PROJECT_ROOT),
        }

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    def take_invite(self) -> str:
        """An unused invite code from this instance's file (written before the first start)."""
        if not self._invites:
            raise RuntimeError(f"{self.name}: out of invite codes")
        return self._invites.pop()

    def _write_invites(self) -> None:
        if self.invites_file.exists():
            return
        self._invites = [secrets.token_urlsafe(9) for _ in range(INVITE_COUNT)]
        self.invites_file.write_text(json.dumps(self._invites), encoding="utf-8")

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/api/health", timeout=HTTP_TIMEOUT_S,
                             headers={"User-Agent": USER_AGENT})
        body: dict[str, Any] = response.json()
        body["http_status"] = response.status_code
        return body

    def admin_token(self) -> str:
        """Log in as the admin account the server creates from MYTHOSMUD_ADMIN_PASSWORD."""
        response = httpx.post(f"{self.base_url}/auth/login", timeout=HTTP_TIMEOUT_S,
                              headers={"User-Agent": USER_AGENT},
                              json={"username": ADMIN_USERNAME, "password": self.admin_password})
        response.raise_for_status()
        return str(response.json()["access_token"])

    def metrics(self) -> dict[str, Any]:
        """GET /api/metrics (admin only): breaker and NATS link state for steady-state checks."""
        response = httpx.get(f"{self.base_url}/api/metrics", timeout=HTTP_TIMEOUT_S,
                             headers={"User-Agent": USER_AGENT,
                                      "Authorization": f"Bearer {self.admin_token()}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def replay_dlq(self) -> dict[str, Any]:
        """POST /api/admin/dlq/replay (admin only): republish every dead-lettered line."""
        response = httpx.post(f"{self.base_url}/api/admin/dlq/replay", timeout=REPLAY_TIMEOUT_S,
                              headers={"User-Agent": USER_AGENT,
                                       "Authorization": f"Bearer {self.admin_token()}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def prometheus(self) -> str:
        """GET /metrics in Prometheus text format."""
        response = httpx.get(f"{self.base_url}/metrics", timeout=HTTP_TIMEOUT_S,
                             headers={"User-Agent": USER_AGENT})
        response.raise_for_status()
        return response.text

    def _healthy(self) -> bool:
        return self.health()["http_status"] == 200

    def start(self) -> float:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_invites()
        return self.process.start_until(self._healthy, timeout=self.start_timeout,
                                        what=f"{self.name} on {self.base_url}")

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def restart(self) -> float:
        if self.process.running:
            self.process.stop()
        return self.start()
