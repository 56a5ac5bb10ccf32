"""Command security end to end: a real server (uvicorn, SQLite, nats-server) and real WebSockets.

Each attack gets the right error frame and the right line in the audit log (read from the file
the server writes), and aliases survive reconnects and a server restart. The tests that read or
write aliases in the database run on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mythos.commands.security_setup import audit_dir
from mythos.local_nats import LocalNatsServer
from tests.factories import ADMIN_PASSWORD, PASSWORD, database_section, make_config, unique_name, write_behind
from tests.integration.conftest import LiveServer
from tests.integration.realtime_clients import RECV_TIMEOUT_S, WSPlayer, ws_player


def _serve(tmp_path: Path, nats_server: LocalNatsServer, db_url: str | None = None, **security: Any) -> LiveServer:
    database = database_section(db_url, tmp_path) if db_url else {}
    config = make_config(
        tmp_path,
        nats={"enabled": True, "url": nats_server.url},
        server={"heartbeat_interval": 5.0},
        security=security,
        database=database,
    )
    return LiveServer(config).start()


@pytest.fixture
def server(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[LiveServer]:
    """Default security settings: 10 commands per second."""
    live = _serve(tmp_path, nats_server)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def db_server(tmp_path: Path, nats_server: LocalNatsServer, db_url: str) -> Iterator[LiveServer]:
    """Default settings, once on SQLite and once on PostgreSQL."""
    live = _serve(tmp_path, nats_server, db_url)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def roomy_server(tmp_path: Path, nats_server: LocalNatsServer) -> Iterator[LiveServer]:
    """A budget large enough that a test's many refusals never meet the rate limit, and an audit
    burst large enough that each of them is written in full."""
    live = _serve(tmp_path, nats_server, rate_limit_max_commands=100, audit_refusal_burst=100)
    try:
        yield live
    finally:
        live.stop()


def _player(server: LiveServer) -> tuple[str, str, int]:
    name = unique_name("sec")
    body = server.register_and_login(name, PASSWORD)
    return name, str(body["access_token"]), int(str(body["player_id"]))


def _login(server: LiveServer, name: str, password: str = PASSWORD) -> str:
    with httpx.Client(base_url=server.http_url, timeout=10) as c:
        r = c.post("/auth/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def audit_lines(server: LiveServer) -> list[dict[str, Any]]:
    """Every record of the server's audit files; each line must be one JSON object."""
    records = []
    for path in sorted(audit_dir(server.config.logging.log_base).glob("audit-*.jsonl")):
        for line in path.read_text(encoding="ascii").splitlines():
            records.append(json.loads(line))
    return records


def audited(server: LiveServer, player: str, **expect: Any) -> list[dict[str, Any]]:
    """The player's audit records whose metadata has every `expect` item."""
    return [
        r
        for r in audit_lines(server)
        if r["player"] == player and all(r["metadata"].get(k) == v for k, v in expect.items())
    ]


def insert_aliases(server: LiveServer, player_id: int, aliases: dict[str, str]) -> None:
    """Write aliases straight into the database, behind the server's back."""
    write_behind(
        server.config.database.url,
        "INSERT INTO aliases (player_id, name, command) VALUES (:player_id, :name, :command)",
        [{"player_id": player_id, "name": name, "command": command} for name, command in aliases.items()],
    )


def _is_reply(msg: dict[str, Any]) -> bool:
    return msg.get("type") == "error" or msg.get("event_type") == "command_result"


async def burst(p: WSPlayer, commands: list[str]) -> list[dict[str, Any]]:
    """Send every command before reading any reply; one reply per command, in order."""
    for command in commands:
        await p.conn.send(json.dumps({"type": "command", "data": {"command": command}}))
    return [await p.until(_is_reply) for _ in commands]


async def test_a_flood_is_refused_with_retry_after_and_waiting_it_out_works(server: LiveServer) -> None:
    name, token, _ = _player(server)
    limit = server.config.security.rate_limit_max_commands
    async with ws_player(server.ws_url, token, "flood-session") as p:
        await p.until_event("room_state")
        replies = await burst(p, ["look"] * (limit + 2))
        assert [r.get("event_type") for r in replies[:limit]] == ["command_result"] * limit
        refused = replies[limit]
        assert (refused["type"], refused["error_type"]) == ("error", "rate_limited")
        assert 0 < refused["retry_after"] <= server.config.security.rate_limit_window_seconds
        assert refused["message"].startswith("Too many commands: wait ")
        assert refused["message"].endswith(" s.")
        # The line sent after the refused one is held unread until the window has room (fake
        # lag), then runs: not refused, not lost.
        assert replies[limit + 1].get("event_type") == "command_result", replies[limit + 1]
        # The refusal said how long to wait; waiting exactly that long is enough.
        await asyncio.sleep(refused["retry_after"])
        again = await p.command("look")
        assert again.get("event_type") == "command_result" and again["data"]["ok"] is True
    records = audited(server, name, error_type="rate_limited")
    assert len(records) == 1
    for record in records:
        assert record["command"] == "look" and record["success"] is False
        assert record["session_id"] == "flood-session" and record["ip_address"] == "127.0.0.1"
        assert record["metadata"]["source"] == "ws"


async def test_an_alias_expansion_counts_every_command_and_runs_whole_or_not_at_all(server: LiveServer) -> None:
    name, token, _ = _player(server)
    async with ws_player(server.ws_url, token, "s") as p:
        await p.until_event("room_state")
        defined = await p.command("alias four look; look; look; look")
        assert defined["data"]["ok"] is True, defined
        replies = await burst(p, ["four", "four", "four"])
        assert replies[0]["data"]["ok"] is True and replies[1]["data"]["ok"] is True
        # 1 (alias) + 8 ran: the third would run 4 with 1 left, so none of it runs.
        assert (replies[2]["type"], replies[2]["error_type"]) == ("error", "rate_limited")
        assert "this runs 4" in replies[2]["message"]
    assert audited(server, name, error_type="rate_limited", commands=4)


async def test_an_alias_cycle_written_behind_the_commands_back_is_refused_at_use(db_server: LiveServer) -> None:
    server = db_server
    name, token, player_id = _player(server)
    insert_aliases(server, player_id, {"a": "b", "b": "a"})
    async with ws_player(server.ws_url, token, "cycle-session") as p:
        await p.until_event("room_state")
        refused = await p.command("a")
        assert (refused["type"], refused["error_type"]) == ("error", "alias_cycle")
        assert "a -> b -> a" in refused["message"]
        # Defining a loop with the command is refused too, and says why.
        await p.command("unalias b")
        looped = await p.command("alias b a")
        assert (looped["type"], looped["error_type"]) == ("error", "alias_cycle")
        assert "b -> a -> b" in looped["message"] or "a -> b -> a" in looped["message"]
        still_fine = await p.command("look")
        assert still_fine["data"]["ok"] is True
    [at_use] = audited(server, name, error_type="alias_cycle", alias="a")
    assert at_use["command"] == "a" and at_use["success"] is False
    assert at_use["metadata"]["path"] == ["a", "b", "a"] and at_use["session_id"] == "cycle-session"
    [at_definition] = audited(server, name, error_type="alias_cycle", source="ws", alias="b")
    assert at_definition["command"] == "alias b a"


async def test_an_alias_bomb_is_refused_at_definition_and_at_use(server: LiveServer) -> None:
    name, token, player_id = _player(server)
    # 12 levels of 4-way fan-out (4**12 commands) stored behind the server's back.
    bomb = {"w0": "look; look; look; look"} | {f"w{i}": "; ".join([f"w{i - 1}"] * 4) for i in range(1, 12)}
    insert_aliases(server, player_id, bomb)
    async with ws_player(server.ws_url, token, "bomb-session") as p:
        await p.until_event("room_state")
        started = time.monotonic()
        refused = await p.command("w11")
        elapsed = time.monotonic() - started
        assert (refused["type"], refused["error_type"]) == ("error", "alias_too_large")
        assert "w11" in refused["message"]
        assert elapsed < RECV_TIMEOUT_S  # answered, not expanded: 16.7 million commands would hang
        defined = await p.command("alias x4 look; look; look; look")
        assert defined["data"]["ok"] is True
        too_big = await p.command("alias x16 x4; x4; x4; x4")
        assert (too_big["type"], too_big["error_type"]) == ("error", "alias_too_large")
        assert "more than 10 commands" in too_big["message"]
        listed = await p.command("aliases")
        assert "x16" not in listed["data"]["text"]
    [at_use] = audited(server, name, error_type="alias_too_large", alias="w11")
    assert at_use["command"] == "w11" and at_use["session_id"] == "bomb-session"
    [at_definition] = audited(server, name, error_type="alias_too_large", alias="x16")
    assert at_definition["command"] == "alias x16 x4; x4; x4; x4"


INJECTIONS = {
    "say <script>alert(1)</script>": "HTML script or markup injection",
    "say <img src=x onerror=alert(1)>": "HTML script or markup injection",
    "say javascript:alert(1)": "script URL",
    "say {{7*7}}": "template injection",
    "say ${jndi:ldap://x}": "template injection",
    "look; $(rm -rf /)": "shell command substitution",
    "look && cat /etc/passwd": "shell command chaining",
    "say ' OR '1'='1": "SQL injection",
    "say x'; DROP TABLE players; --": "SQL injection",
    "look ../../etc/passwd": "path traversal",
    "say __import__('os').system('id')": "Python special name",
    "say hi\x00there": "null byte",
    "say forged\nline": "control character",
    "say \x1b[31mred": "control character",
}


async def test_injection_attempts_are_refused_without_echo_and_audited(
    roomy_server: LiveServer,
) -> None:
    server = roomy_server
    name, token, _ = _player(server)
    _, listener_token, _ = _player(server)
    async with (
        ws_player(server.ws_url, listener_token, "listener") as listener,
        ws_player(server.ws_url, token, "inject-session") as p,
    ):
        await listener.until_event("room_state")
        await p.until_event("room_state")
        for payload, reason in INJECTIONS.items():
            refused = await p.command(payload)
            assert (refused["type"], refused["error_type"]) == ("error", "invalid_command"), payload
            assert refused["message"] == f"Command refused: {reason}.", payload
        # Over HTTP the same checks answer 400 with the same error body.
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            r = await http.post(
                "/api/commands",
                json={"command": "say <script>x</script>", "session_id": "inject-session"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert r.status_code == 400 and r.json()["error_type"] == "invalid_command"
        # Nothing injected reached the room: the first chat the listener hears is the clean one.
        await p.command("say all clear")
        chat = await listener.until_event("chat")
        assert chat["data"]["content"] == "all clear"
    records = audited(server, name, error_type="invalid_command")
    assert [r["command"] for r in records] == [*INJECTIONS, "say <script>x</script>"]
    assert [r["metadata"]["reason"] for r in records[:-1]] == list(INJECTIONS.values())
    assert all(r["success"] is False and r["session_id"] == "inject-session" for r in records)
    assert records[-1]["metadata"]["source"] == "http"


async def test_an_admin_command_by_a_non_admin_is_forbidden_and_audited(server: LiveServer) -> None:
    name, token, _ = _player(server)
    admin_token = _login(server, "admin", ADMIN_PASSWORD)
    async with ws_player(server.ws_url, token, "player-session") as p:
        await p.until_event("room_state")
        refused = await p.command(f"teleport {name} witch_attic")
        assert (refused["type"], refused["error_type"]) == ("error", "forbidden")
        assert refused["message"] == "You do not have permission to use 'teleport'."
        # Hidden in an alias it is refused all the same, before anything runs.
        assert (await p.command("alias sneak look; grant admin me"))["data"]["ok"] is True
        hidden = await p.command("sneak")
        assert (hidden["type"], hidden["error_type"]) == ("error", "forbidden")
    async with ws_player(server.ws_url, admin_token, "admin-session") as admin:
        await admin.until_event("room_state")
        done = await admin.command(f"teleport {name} witch_attic")
        assert done["data"]["ok"] is True, done
    refusals = audited(server, name, error_type="forbidden")
    assert [r["command"] for r in refusals] == [f"teleport {name} witch_attic", "sneak"]
    assert all(r["success"] is False and r["session_id"] == "player-session" for r in refusals)
    assert refusals[1]["metadata"]["verb"] == "grant"
    [allowed] = [r for r in audit_lines(server) if r["player"] == "admin" and r["command"].startswith("teleport")]
    assert allowed["success"] is True and allowed["session_id"] == "admin-session"


async def test_a_failed_login_is_audited(server: LiveServer) -> None:
    name, _, _ = _player(server)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        r = await http.post("/auth/login", json={"username": name, "password": "not-the-password"})
    assert r.status_code == 401
    [record] = audited(server, name, event="login_failed")
    assert record["command"] == "login" and record["success"] is False and record["ip_address"] == "127.0.0.1"


async def test_aliases_survive_reconnects_and_a_server_restart(
    tmp_path: Path, nats_server: LocalNatsServer, db_url: str
) -> None:
    server = _serve(tmp_path, nats_server, db_url)
    try:
        name, token, _ = _player(server)
        async with ws_player(server.ws_url, token, "first") as p:
            await p.until_event("room_state")
            defined = await p.command("alias peek look; say I see $1")
            assert defined["data"]["ok"] is True
        async with ws_player(server.ws_url, token, "second") as p:
            await p.until_event("room_state")
            assert "peek = look; say I see $1" in (await p.command("aliases"))["data"]["text"]
            used = await p.command("peek shadows")
            assert used["data"]["ok"] is True and "Exits:" in used["data"]["text"]
    finally:
        server.stop()
    restarted = LiveServer(server.config).start()
    try:
        token = _login(restarted, name)
        async with ws_player(restarted.ws_url, token, "third") as p:
            await p.until_event("room_state")
            used = await p.command("peek the stars")
            assert used["data"]["ok"] is True
            assert (await p.until_event("chat", timeout=10))["data"]["content"] == "I see the"
            assert (await p.command("unalias peek"))["data"]["text"] == "Alias 'peek' removed."
        # Over plain HTTP too: the same storage, the same pipeline.
        async with httpx.AsyncClient(base_url=restarted.http_url, timeout=10) as http:
            r = await http.post(
                "/api/commands", json={"command": "aliases"}, headers={"Authorization": f"Bearer {token}"}
            )
        assert r.status_code == 200 and "You have no aliases" in r.json()["data"]["text"]
    finally:
        restarted.stop()


async def test_an_alias_cannot_define_aliases_through_its_arguments(server: LiveServer) -> None:
    name, token, _ = _player(server)
    async with ws_player(server.ws_url, token, "alias-args") as p:
        await p.until_event("room_state")
        assert (await p.command("alias x $1 $2 $3"))["data"]["ok"] is True
        refused = await p.command("x alias y look; look")
        assert (refused["type"], refused["error_type"]) == ("error", "forbidden")
        assert "cannot define or remove aliases" in refused["message"]
        listed = await p.command("aliases")
        assert "y = " not in listed["data"]["text"]
    [record] = audited(server, name, error_type="forbidden", alias="x")
    assert record["command"] == "x alias y look; look" and record["metadata"]["verb"] == "alias"


SPOOFING = {
    "\u202e": "U+202E RIGHT-TO-LEFT OVERRIDE",
    "\u2067": "U+2067 RIGHT-TO-LEFT ISOLATE",
    "\u200d": "U+200D ZERO WIDTH JOINER",
    "\ufeff": "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    "\U000e0069": "U+E0069 TAG LATIN SMALL LETTER I",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u034f": "U+034F COMBINING GRAPHEME JOINER",
}


async def test_invisible_and_direction_changing_characters_never_reach_other_players(
    roomy_server: LiveServer,
) -> None:
    server = roomy_server
    _, token, _ = _player(server)
    _, listener_token, _ = _player(server)
    async with (
        ws_player(server.ws_url, listener_token, "listener") as listener,
        ws_player(server.ws_url, token, "spoofer") as p,
    ):
        await listener.until_event("room_state")
        await p.until_event("room_state")
        for char, named in SPOOFING.items():
            for line in (f"say gnp.{char}exe", f"emote waves{char} hi", f"'{char}hi"):
                refused = await p.command(line)
                assert (refused.get("type"), refused.get("error_type")) == ("error", "invalid_command"), (line, refused)
                assert refused["message"] == f"Command refused: invisible or direction-changing character {named}."
                assert char not in refused["message"]
        # The verb of a look-alike admin command is refused as that verb.
        forged = await p.command("t\u0435leport me")
        assert (forged["type"], forged["error_type"]) == ("error", "forbidden") and "'teleport'" in forged["message"]
        await p.command("say all clear")
        chat = await listener.until_event("chat")
        assert chat["data"]["content"] == "all clear", "the first chat heard is the clean one"


async def test_a_flood_of_long_refused_lines_keeps_the_audit_log_small(
    tmp_path: Path, nats_server: LocalNatsServer
) -> None:
    """200 lines of 16,000 characters, each refused: the audit log grows a few bytes per refusal."""
    server = _serve(tmp_path, nats_server)
    audit = audit_dir(server.config.logging.log_base)
    try:
        name, token, _ = _player(server)
        async with ws_player(server.ws_url, token, "flood") as p:
            await p.until_event("room_state")
            replies = await burst(p, [f"say {i} " + "A" * 16_000 for i in range(200)])
        assert all(r["type"] == "error" for r in replies)
        kinds = {r["error_type"] for r in replies}
        assert kinds == {"invalid_command", "rate_limited"}
    finally:
        server.stop()  # shutdown writes the held counts
    size = sum(p.stat().st_size for p in audit.glob("audit-*"))
    records = [r for r in audit_lines(server) if r["player"] == name]
    assert sum(int(r["metadata"].get("count", 1)) for r in records) == 200, "every refusal is accounted for"
    per_refusal = size / 200
    print(f"audit bytes per refusal: {per_refusal:.1f} ({size} bytes for 200 refusals of 16,000 characters)")
    assert per_refusal <= 512
    assert all(len(r["command"]) <= 64 and r["command_length"] > 16_000 for r in records)
