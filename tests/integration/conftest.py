"""Real servers for integration tests: uvicorn on a free loopback port, in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from mythos.app import create_app
from mythos.auth import InviteStore
from mythos.commands.security import CommandSecurity
from mythos.config import AppConfig
from mythos.local_nats import LocalNatsServer
from tests.factories import make_config

START_TIMEOUT_S = 15.0


@dataclass
class LiveServer:
    """A real mythos app served by uvicorn over loopback; stopped via should_exit."""

    config: AppConfig
    security: CommandSecurity | None = None
    _server: uvicorn.Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    port: int = field(default=0, init=False)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def invites(self) -> InviteStore:
        return InviteStore(self.config.security.invite_codes_file)

    def start(self) -> LiveServer:
        # Bind first and hand uvicorn the socket: no window for another process to take the port.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = create_app(self.config, security=self.security)
        cfg = uvicorn.Config(app, log_config=None, access_log=False, ws="websockets-sansio", lifespan="on")
        server = self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("mythos did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def register_and_login(self, username: str, password: str) -> dict[str, object]:
        code = self.invites.create(1)[0]
        with httpx.Client(base_url=self.http_url, timeout=10) as c:
            r = c.post(
                "/auth/register", json={"username": username, "password": password, "invite_code": code}
            )
            assert r.status_code == 201, r.text
            r = c.post("/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            body: dict[str, object] = r.json()
            return body


@pytest.fixture
def live_server(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[LiveServer]:
    config = make_config(
        tmp_path, nats={"enabled": True, "url": nats_server.url}, server={"heartbeat_interval": 0.3}
    )
    server = LiveServer(config).start()
    try:
        yield server
    finally:
        server.stop()
