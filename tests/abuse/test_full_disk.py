"""A full disk under the DLQ and the audit log: chat is refused honestly, the game goes on, health says so.

The server runs with DATA_DIR (the DLQ) and LOG_BASE_DIR (the audit log) on a 4 MiB tmpfs; the
database stays on the ordinary disk. Once a player is in, the tmpfs is filled and nats-server
is stopped, so a chat line can only be kept by the DLQ, which cannot write. Then:

- the line is refused with a message, or reported queued and really on disk: never
  acknowledged and lost;
- look and movement still work;
- the audit log's failed writes show in /api/health and in /metrics.

The server tests are ``slow`` (full profile); the detectors' own checks are in the short one.
Mounting needs root (CAP_SYS_ADMIN). Where that is missing the test fails with the reason:
a check that cannot run is not a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.abuse.clients import WsAttacker, frame_data, http_client, login, register, ws_url
from harness.services.mythos import MythosServer
from harness.services.nats import NatsServer

pytestmark = [pytest.mark.abuse, pytest.mark.timeout(120)]
SERVER = pytest.mark.slow
"""The tests that need the mounted server: the full profile (the short one has a minute in all)."""

SIZE = "4m"
HEALTH_PATIENCE_S = 5.0
OK_WORDS = frozenset({"ok", "healthy", "up", "true"})


@contextlib.contextmanager
def small_filesystem(mount_point: Path, size: str = SIZE) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount_point``, unmounted afterwards (lazily if still busy)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a {size} tmpfs at {mount_point} (this test needs root with CAP_SYS_ADMIN; "
                    f"it fails rather than skips): {done.stderr.strip() or done.stdout.strip()}")
    try:
        assert os.path.ismount(mount_point), f"{mount_point} is not a mount point after mount"
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def fill(directory: Path) -> int:
    """Write until the filesystem says ENOSPC; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with (directory / "filler").open("wb", buffering=0) as handle:
        while True:
            try:
                written += handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    # The last partial block: fill it byte by byte so nothing is left at all.
    with (directory / "filler-tail").open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while handle.write(b"\0"):
            written += 1
    return written


def audit_failure_in_health(body: Any, under_audit: bool = False) -> bool:
    """True when an ``audit`` entry of the health body says the audit log is failing."""
    if isinstance(body, Mapping):
        for key, value in body.items():
            inside = under_audit or "audit" in str(key).lower()
            if inside and _says_failing(str(key), value):
                return True
            if audit_failure_in_health(value, inside):
                return True
    return False


def _says_failing(key: str, value: Any) -> bool:
    key = key.lower()
    if isinstance(value, bool):
        return (key in ("healthy", "ok", "up", "writable") or "audit" in key) and value is False
    if isinstance(value, int | float):
        return ("error" in key or "fail" in key) and value > 0
    if isinstance(value, str):
        return ("audit" in key or key == "status") and value.lower() not in OK_WORDS
    return False


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(?P<value>\S+)")


def audit_failure_in_metrics(text: str) -> bool:
    """True when a Prometheus sample about the audit log counts failures or reports it unhealthy."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or "audit" not in match["name"]:
            continue
        name, value = match["name"], float(match["value"])
        if ("error" in name or "fail" in name) and not name.endswith("_created") and value > 0:
            return True
        if any(word in name for word in ("healthy", "_up", "writable")) and value == 0:
            return True
    return False


def test_the_audit_failure_detectors_can_say_no() -> None:
    """The detectors below must be able to fail: healthy bodies and metrics are not failures."""
    assert not audit_failure_in_health({"status": "ok", "database": "ok", "nats": "ok"})
    assert not audit_failure_in_health({"status": "ok", "audit": {"healthy": True, "write_errors": 0}})
    assert audit_failure_in_health({"status": "ok", "audit": {"healthy": False, "write_errors": 3}})
    assert audit_failure_in_health({"status": "degraded", "audit": "failing"})
    assert not audit_failure_in_metrics("mythos_audit_write_errors_total 0.0\nmythos_audit_healthy 1.0\n")
    assert audit_failure_in_metrics("# HELP x\nmythos_audit_write_errors_total 2.0\n")
    assert audit_failure_in_metrics('mythos_audit_healthy{log="audit"} 0.0\n')


async def _player(server: MythosServer) -> WsAttacker:
    name, password = f"disk{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    async with http_client(server.base_url, timeout=30.0) as client:
        response = await register(client, name, password, server.take_invite())
        assert response.status_code == 201, response.text
        answer = await login(client, name, password)
        assert answer.token is not None, answer
    player = WsAttacker(ws_url(server.base_url, answer.token, secrets.token_hex(8)), keep_replies=True)
    await player.connect()
    return player


def _persisted(data_dir: Path, text: str) -> bool:
    for path in data_dir.rglob("*"):
        if path.is_file() and path.name not in ("filler", "filler-tail"):
            with contextlib.suppress(OSError):
                if text in path.read_text(encoding="utf-8", errors="replace"):
                    return True
    return False


async def _scenario(server: MythosServer, nats: NatsServer, small: Path) -> dict[str, Any]:
    player = await _player(server)
    try:
        assert (await player.command("look")) is not None
        assert os.path.ismount(small), "refusing to fill anything but the small tmpfs"
        filled = fill(small)
        nats.stop()  # from now on a chat line can only be kept on the full disk
        marker = f"lost{secrets.token_hex(4)}"
        chat = await player.command(f"say {marker}", patience_s=30.0)
        # A refused command is audited: the write fails on the full disk.
        audited = await player.command("say <script>alert(1)</script>")
        commands = {c: await player.command(c) for c in ("look", "go north", "look", "go south")}
    finally:
        await player.close()
    health: dict[str, Any] = {}
    metrics = ""
    async with http_client(server.base_url) as client:
        for _ in range(int(HEALTH_PATIENCE_S / 0.25)):
            health = (await client.get("/api/health")).json()
            metrics = (await client.get("/metrics")).text
            if audit_failure_in_health(health) and audit_failure_in_metrics(metrics):
                break
            await asyncio.sleep(0.25)
    return {"filled": filled, "marker": marker, "chat": chat, "audited": audited, "commands": commands,
            "health": health, "metrics": metrics}


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("full-disk")
    with small_filesystem(root / "small") as small:
        env = {"DATA_DIR": str(small / "data"), "LOG_BASE_DIR": str(small / "logs")}
        with NatsServer(root / "logs") as nats, MythosServer(root, root / "logs", nats_url=nats.url,
                                                             extra_env=env) as server:
            outcome = asyncio.run(_scenario(server, nats, small))
            outcome["persisted"] = _persisted(small / "data", outcome["marker"])
            outcome["server_log"] = server.process.log_tail(3000)
    return outcome


def _describe(frame: dict[str, Any] | None) -> str:
    return "no answer" if frame is None else json.dumps(frame)[:400]


@SERVER
def test_the_disk_really_filled(full_disk: dict[str, Any]) -> None:
    assert full_disk["filled"] > 1_000_000, "the filler wrote less than 1 MB: the tmpfs was not the one filled"


@SERVER
def test_chat_is_refused_with_a_message_or_queued_and_persisted(full_disk: dict[str, Any]) -> None:
    chat = full_disk["chat"]
    assert chat is not None, "the say command got no answer at all on a full disk"
    data = frame_data(chat)
    message = str(chat.get("message") or data.get("text") or "")
    if chat.get("type") == "error" or data.get("ok") is False:
        if data.get("queued"):
            assert full_disk["persisted"], (
                f"the server said the line was queued, but it is nowhere on the disk: {_describe(chat)}")
        else:
            assert message.strip(), f"the line was refused without a message: {_describe(chat)}"
            # An unhandled exception's generic answer is not a refusal anyone designed: the player
            # is not told that the message service and the disk are both unavailable.
            assert chat.get("error_type") != "internal_error", (
                f"the line failed with an internal error instead of a refusal that says why: {_describe(chat)}")
    else:
        assert full_disk["persisted"], (
            f"the line was acknowledged while neither NATS nor the full disk could keep it: {_describe(chat)}")


@SERVER
def test_look_and_movement_keep_working(full_disk: dict[str, Any]) -> None:
    for command, reply in full_disk["commands"].items():
        assert reply is not None and frame_data(reply).get("ok") is True, f"{command}: {_describe(reply)}"


@SERVER
def test_the_audit_failure_shows_in_health(full_disk: dict[str, Any]) -> None:
    assert full_disk["audited"] is not None and full_disk["audited"].get("type") == "error", (
        f"the refused line that should have been audited: {_describe(full_disk['audited'])}")
    assert audit_failure_in_health(full_disk["health"]), (
        f"/api/health does not report the audit log failing on a full disk: {full_disk['health']}")


@SERVER
def test_the_audit_failure_shows_in_metrics(full_disk: dict[str, Any]) -> None:
    audit_lines = [line for line in full_disk["metrics"].splitlines() if "audit" in line and not line.startswith("#")]
    assert audit_failure_in_metrics(full_disk["metrics"]), (
        f"/metrics has no audit failure sample on a full disk; its audit lines: {audit_lines or 'none'}")

