"""A graceful stop (SIGTERM to a real `mythos serve`) loses no reply and dead-letters no line.

A rolling restart stops each game server with SIGTERM while players keep playing. A command in
flight at that moment must get its reply before the socket closes, a command that arrives during
the stop must be refused with `server_restarting` (not met by a silent close), every socket must
then close with 1012 (service restart, so the client reconnects at once, maybe elsewhere), and
a chat line whose publish is in flight must be acknowledged, not cancelled into the DLQ.

To hold a `say` in flight for a known time, the test's own nats-server is frozen with SIGSTOP
(the publish waits for its acknowledgement) and thawed with SIGCONT, both by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.services.mythos import MythosServer
from mythos.local_nats import LocalNatsServer
from mythos.realtime.connections import ConnectionManager
from mythos.realtime.events import EventType
from tests.factories import PASSWORD, unique_name

pytestmark = pytest.mark.integration

CLOSE_SERVICE_RESTART = 1012
HOLD_S = 0.2  # how long the `say` is in flight before the SIGTERM
FROZEN_S = 0.8  # how long NATS stays frozen after the SIGTERM: the stop runs meanwhile
RECV_TIMEOUT_S = 10.0
EXIT_TIMEOUT_S = 15.0


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[LocalNatsServer]:
    """A nats-server of this test only: freezing it must not stall other tests' servers."""
    store = tmp_path / "nats"
    server = LocalNatsServer(store_dir=store, log_file=tmp_path / "nats.log")
    server.start()
    try:
        yield server
    finally:
        _signal_nats(server, signal.SIGCONT)
        server.stop()


@pytest.fixture
def mythos(tmp_path: Path, nats: LocalNatsServer) -> Iterator[MythosServer]:
    server = MythosServer(tmp_path / "work", tmp_path / "logs", nats_url=nats.url,
                          extra_env={"SHUTDOWN_DRAIN_SECONDS": "4"})
    server.start()
    try:
        yield server
    finally:
        server.stop()  # SIGTERM then SIGKILL by PID; a no-op once it exited


def _signal_nats(server: LocalNatsServer, sig: signal.Signals) -> None:
    if server.process is not None and server.process.poll() is None:
        os.kill(server.process.pid, sig)


async def _token(server: MythosServer, name: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        r = await client.post("/auth/register",
                              json={"username": name, "password": PASSWORD, "invite_code": server.take_invite()})
        assert r.status_code == 201, r.text
        r = await client.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


async def _open(server: MythosServer, token: str, session_id: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{server.port}/api/ws?token={token}&session_id={session_id}",
                       open_timeout=10)
    await _until(ws, lambda m: m.get("event_type") == "room_state")
    return ws


async def _until(ws: ClientConnection, predicate: Any) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if predicate(message):
                return message

    return await asyncio.wait_for(find(), RECV_TIMEOUT_S)


async def _frames_until_close(ws: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame the server still sends, then the close code it closed with."""
    frames: list[dict[str, Any]] = []

    async def read() -> None:
        with_close = True
        while with_close:
            try:
                frames.append(json.loads(await ws.recv()))
            except ConnectionClosed:
                with_close = False

    await asyncio.wait_for(read(), RECV_TIMEOUT_S)
    return frames, ws.close_code


def _is_reply(frame: dict[str, Any], command: str) -> bool:
    return frame.get("event_type") == "command_result" and frame.get("data", {}).get("command") == command


def _dlq_entries(server: MythosServer) -> list[str]:
    dlq = server.data_dir / "dlq"
    return sorted(p.name for p in dlq.glob("*.json")) if dlq.exists() else []


async def test_sigterm_answers_the_command_in_flight_refuses_new_ones_and_closes_with_1012(
    mythos: MythosServer, nats: LocalNatsServer
) -> None:
    sayer = await _open(mythos, await _token(mythos, unique_name("say")), "stop-a")
    late = await _open(mythos, await _token(mythos, unique_name("late")), "stop-b")
    line = f"say graceful-{unique_name('t')}"
    pid = mythos.process.pid
    assert pid is not None
    _signal_nats(nats, signal.SIGSTOP)
    try:
        await sayer.send(json.dumps({"type": "command", "data": {"command": line}}))
        await asyncio.sleep(HOLD_S)  # the publish now waits for NATS's acknowledgement
        sigterm_at = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.1)
        # A command after the SIGTERM, on a socket still open: refused out loud, never ignored.
        # (A send to a socket the server already closed counts as sent: what it received decides.)
        with contextlib.suppress(ConnectionClosed):
            await late.send(json.dumps({"type": "command", "data": {"command": "look"}}))
        await asyncio.sleep(max(0.0, FROZEN_S - (time.monotonic() - sigterm_at)))
    finally:
        _signal_nats(nats, signal.SIGCONT)

    said, said_code = await _frames_until_close(sayer)
    refused, refused_code = await _frames_until_close(late)

    assert any(_is_reply(f, line) and f["data"].get("ok") is True for f in said), (
        f"the line in flight at SIGTERM got no reply before the close ({said_code}): {said}"
    )
    assert said_code == CLOSE_SERVICE_RESTART, said_code
    errors = [f for f in refused if f.get("type") == "error"]
    assert errors and errors[-1]["error_type"] == "server_restarting", (
        f"a command during the stop was not refused with server_restarting ({refused_code}): {refused}"
    )
    assert errors[-1].get("retry_after", 0) > 0, errors[-1]
    assert not any(_is_reply(f, "look") for f in refused), refused
    assert refused_code == CLOSE_SERVICE_RESTART, refused_code

    await asyncio.to_thread(_wait_exit, mythos)
    # The acknowledged line's publish was not cancelled into the DLQ by the stop.
    assert _dlq_entries(mythos) == []


def _wait_exit(server: MythosServer) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while server.process.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.process.running, "mythos serve did not exit after SIGTERM"


async def test_drain_waits_for_the_command_in_flight_and_queues_its_reply_before_the_close() -> None:
    """The order the WebSocket relies on: reply, then the close sentinel, then nothing."""
    cm = ConnectionManager()
    conn = cm.connect(1, "alice", "r1", "s1", "ws")
    release = asyncio.Event()

    async def command() -> None:
        with cm.command_in_flight():
            await release.wait()
            cm.send_to_player(1, EventType.COMMAND_RESULT, {"command": "say hi", "ok": True})

    running = asyncio.create_task(command())
    await asyncio.sleep(0)
    drain = asyncio.create_task(cm.drain(5.0))
    await asyncio.sleep(0.05)
    assert cm.draining and not drain.done() and not conn.closed  # waiting for the command
    release.set()
    await running

    async def transport() -> list[str]:
        seen = []
        while (event := await conn.queue.get()) is not None:
            seen.append(event.event_type)
        cm.disconnect(conn)
        return seen

    seen = await transport()
    result = await drain
    assert seen == [EventType.COMMAND_RESULT]
    assert conn.close_reason == "restart"
    assert (result.unfinished_commands, result.open_transports) == (0, 0)
    assert result.seconds < 1.0


async def test_drain_is_bounded_and_reports_what_it_left_running() -> None:
    cm = ConnectionManager()
    conn = cm.connect(1, "alice", "r1", "s1", "ws")
    stuck = asyncio.Event()

    async def command() -> None:
        with cm.command_in_flight():
            await stuck.wait()

    running = asyncio.create_task(command())
    await asyncio.sleep(0)
    started = time.monotonic()
    result = await cm.drain(0.2)
    took = time.monotonic() - started
    stuck.set()
    await running
    # The bound, then the flush grace for the open transport nobody reads.
    assert 0.2 <= took < 2.0, took
    assert result.unfinished_commands == 1 and result.open_transports == 1
    assert conn.closed and conn.close_reason == "restart"
    # A connection opened during the stop is closed at once, after what it was sent.
    late = cm.connect(2, "bob", "r1", "s2", "ws")
    assert late.closed and late.close_reason == "restart"


async def test_commands_racing_the_sigterm_are_each_answered_or_refused_before_the_close(
    mythos: MythosServer,
) -> None:
    """Nothing in flight: the stop is quick, and a command sent at the moment of the SIGTERM
    meets the close unless the server keeps reading long enough to refuse it."""
    players = [await _open(mythos, await _token(mythos, unique_name("race")), f"race-{i}") for i in range(4)]
    pid = mythos.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    for i, ws in enumerate(players):
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "command", "data": {"command": f"say race-{i}"}}))
    for i, ws in enumerate(players):
        frames, code = await _frames_until_close(ws)
        answers = [f for f in frames if _is_reply(f, f"say race-{i}")
                   or (f.get("type") == "error" and f.get("error_type") == "server_restarting")]
        assert answers, f"player {i}: a command sent at SIGTERM met a silent close ({code}): {frames}"
        assert code == CLOSE_SERVICE_RESTART, code
    await asyncio.to_thread(_wait_exit, mythos)
    assert _dlq_entries(mythos) == []
