"""The harness's services really start, answer, break and heal: real nats-server, real toxiproxy.

Timing assertions state their tolerance and log expected vs actual even on success, like
Toxiproxy's own tests; everything that could hang has a hard timeout.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from harness.faults.base import applied
from harness.faults.registry import make_fault
from harness.required_tools import require_toxiproxy
from harness.services.nats import NatsServer, nats_ping
from harness.services.process import ManagedProcess
from harness.services.toxiproxy import ProxyInfo, ToxiproxyClient, ToxiproxyServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TOLERANCE_S = 0.5
"""Generous: two shared cores. Each assertion logs expected and actual so drift is visible."""


def _toxiproxy_binary() -> Path:
    """A missing toxiproxy-server fails these tests with how to install it (never a skip)."""
    return require_toxiproxy()


def report(what: str, expected: str, actual: float) -> None:
    print(f"[timing] {what}: expected {expected}, actual {actual * 1000:.1f} ms", file=sys.stderr)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "logs") as server:
        yield server


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(tmp_path / "logs", binary=_toxiproxy_binary()) as server:
        yield server


class NatsLink:
    """A FaultTarget over one proxy in front of nats-server: faults act on it by name."""

    def __init__(self, toxiproxy: ToxiproxyServer, nats_server: NatsServer) -> None:
        self.info: ProxyInfo = toxiproxy.client.create_proxy("nats-0", f"127.0.0.1:{nats_server.port}")
        self._client = toxiproxy.client
        self._nats = nats_server

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        return self._client

    def proxy_name(self, link: str) -> str:
        assert link == "nats-0"
        return self.info.name

    def service(self, name: str) -> NatsServer:
        assert name == "nats"
        return self._nats


def pong_rtt(port: int, timeout: float = 3.0) -> float:
    """Seconds for one PING -> PONG on an established NATS connection through ``port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        info = b""
        while b"\r\n" not in info:
            info += sock.recv(4096)
        sock.sendall(b'CONNECT {"verbose":false}\r\n')
        started = time.monotonic()
        sock.sendall(b"PING\r\n")
        reply = b""
        while b"PONG\r\n" not in reply:
            chunk = sock.recv(4096)
            assert chunk, "connection closed before PONG"
            reply += chunk
        return time.monotonic() - started


def test_nats_server_starts_answers_and_stops_by_pid(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "logs")
    with server:
        pid = server.pid
        assert pid is not None and server.ping()
    assert not server.process.running
    assert server.process.returncode is not None
    assert not server.store_dir.exists()
    assert (tmp_path / "logs" / "nats.log").read_text()


def test_nats_kill9_and_restart_keeps_port_and_jetstream_store(nats_server: NatsServer) -> None:
    async def publish() -> None:
        nc = await nats.connect(nats_server.url, connect_timeout=2, max_reconnect_attempts=0)
        js = nc.jetstream()
        await js.add_stream(name="HARNESS", subjects=["harness.>"])
        for i in range(10):
            await js.publish("harness.test", str(i).encode())
        await nc.close()

    async def count() -> int:
        nc = await nats.connect(nats_server.url, connect_timeout=2, max_reconnect_attempts=0)
        info = await nc.jetstream().stream_info("HARNESS")
        await nc.close()
        return int(info.state.messages)

    asyncio.run(asyncio.wait_for(publish(), 10))
    old_pid, port = nats_server.pid, nats_server.port
    nats_server.kill()
    assert not nats_server.ping()
    took = nats_server.restart()
    report("nats-server restart to PONG", f"< {2 * TOLERANCE_S * 1000:.0f} ms", took)
    assert nats_server.pid != old_pid and nats_server.port == port
    assert took < 2 * TOLERANCE_S
    # SIGKILL, not power loss: the page cache still holds what JetStream wrote.
    assert asyncio.run(asyncio.wait_for(count(), 10)) == 10


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    stubborn = ManagedProcess(
        "stubborn",
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('sigterm', 'ignored', flush=True); time.sleep(60)"],
        tmp_path / "stubborn.log", stop_timeout=0.5)
    stubborn.start()
    deadline = time.monotonic() + 10
    while "sigterm ignored" not in stubborn.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    code = stubborn.stop()
    took = time.monotonic() - started
    report("SIGTERM ignored -> SIGKILL", f"~500 ms (+{TOLERANCE_S * 1000:.0f})", took)
    assert code == -9
    assert 0.5 <= took < 0.5 + TOLERANCE_S


def test_toxiproxy_answers_and_refuses_browser_user_agents(toxiproxy: ToxiproxyServer) -> None:
    assert toxiproxy.client.version()
    browser = httpx.get(f"{toxiproxy.api_url}/version", headers={"User-Agent": "Mozilla/5.0"}, timeout=2)
    assert browser.status_code == 403  # the trap our client's User-Agent avoids
    toxiproxy.stop()
    assert not toxiproxy.process.running


def test_client_times_out_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = ToxiproxyClient("127.0.0.1", silent.getsockname()[1], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(Exception, match="GET /version"):
            client.version()
        took = time.monotonic() - started
        report("API call against a silent server", "~300 ms timeout", took)
        assert took < 0.3 + TOLERANCE_S


def test_partition_and_heal_through_the_nats_proxy(toxiproxy: ToxiproxyServer,
                                                   nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    assert nats_ping("127.0.0.1", link.info.port)
    fault = make_fault("partition", link="nats-0")
    with applied(fault, link):
        started = time.monotonic()
        with pytest.raises(OSError):
            nats_ping("127.0.0.1", link.info.port, timeout=1.0)
        refused_after = time.monotonic() - started
        report("partition refuses connections", f"< {TOLERANCE_S * 1000:.0f} ms", refused_after)
        assert refused_after < TOLERANCE_S
    started = time.monotonic()
    assert nats_ping("127.0.0.1", link.info.port)
    healed_after = time.monotonic() - started
    report("heal to first PONG through the proxy", f"< {TOLERANCE_S * 1000:.0f} ms", healed_after)
    assert healed_after < TOLERANCE_S
    assert toxiproxy.client.proxy(link.info.name).listen == link.info.listen


def test_partition_drops_established_connections(toxiproxy: ToxiproxyServer, nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    with socket.create_connection(("127.0.0.1", link.info.port), timeout=2) as sock:
        sock.settimeout(2)
        assert sock.recv(4096).startswith(b"INFO")
        with applied(make_fault("partition", link="nats-0"), link):
            assert sock.recv(4096) == b""  # closed by the proxy, not left dangling


def test_latency_toxic_delays_pong_within_tolerance(toxiproxy: ToxiproxyServer,
                                                    nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    baseline = pong_rtt(link.info.port)
    with applied(make_fault("latency", link="nats-0", latency_ms=300, jitter_ms=0), link):
        delayed = pong_rtt(link.info.port)
    report("PONG RTT with 300 ms latency", f"300..{300 + TOLERANCE_S * 1000:.0f} ms "
           f"(baseline {baseline * 1000:.1f} ms)", delayed)
    assert 0.3 <= delayed < 0.3 + TOLERANCE_S
    assert pong_rtt(link.info.port) < 0.3  # healed


def test_blackhole_keeps_the_connection_open_but_silent(toxiproxy: ToxiproxyServer,
                                                        nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    with applied(make_fault("blackhole", link="nats-0"), link):
        with socket.create_connection(("127.0.0.1", link.info.port), timeout=1) as sock:
            sock.settimeout(1.0)
            with pytest.raises(TimeoutError):  # no INFO, no close: only a ping timeout can tell
                sock.recv(4096)
        assert toxiproxy.client.toxics(link.info.name) != []
    assert toxiproxy.client.toxics(link.info.name) == []
    assert nats_ping("127.0.0.1", link.info.port)


def test_kill_nats_fault_restarts_on_heal(toxiproxy: ToxiproxyServer, nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    with applied(make_fault("kill_nats"), link):
        assert not nats_server.ping()
    started = time.monotonic()
    assert nats_ping("127.0.0.1", link.info.port)
    report("first PONG through the proxy after restart", f"< {TOLERANCE_S * 1000:.0f} ms",
           time.monotonic() - started)


def test_flapping_link_goes_down_repeatedly_and_ends_up(toxiproxy: ToxiproxyServer,
                                                        nats_server: NatsServer) -> None:
    link = NatsLink(toxiproxy, nats_server)
    fault = make_fault("flapping", link="nats-0", period_s=0.3, down_s=0.15)
    seen_down = seen_up = 0
    with applied(fault, link):
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                nats_ping("127.0.0.1", link.info.port, timeout=0.2)
                seen_up += 1
            except OSError:
                seen_down += 1
            time.sleep(0.02)
    print(f"[flapping] flaps={fault.flaps} down samples={seen_down} up samples={seen_up}", file=sys.stderr)
    assert fault.flaps >= 3  # type: ignore[attr-defined]
    assert seen_down > 0 and seen_up > 0
    assert toxiproxy.client.proxy(link.info.name).enabled
    assert nats_ping("127.0.0.1", link.info.port)
