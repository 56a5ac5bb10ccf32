"""No route lets a command or a chat line around `process_command_unified`.

Every route of the app (HTTP, WebSocket and mounts) must be classified here: a command route,
or a non-command route with the reason it takes no command. A new route fails
`test_every_route_is_classified` until someone decides which it is. Then, behaviourally:
each command route consults command security before the game runs a command, is rate-limited
(the 11th command in a window is refused, chat included), and no other route runs a command
whatever command-shaped payload it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from mythos.app import create_app
from mythos.commands.builtin import BUILTIN_COMMANDS
from mythos.commands.context import Actor, CommandContext, CommandResult
from mythos.commands.parser import ParsedCommand
from mythos.commands.security import CommandSecurity, SecurityVerdict
from mythos.services import AppServices
from tests.factories import ADMIN_PASSWORD, PASSWORD, make_config

RouteKey = tuple[str, str]

COMMAND_ROUTES: dict[RouteKey, str] = {
    ("WS", "/api/ws"): "commands and chat over WebSocket",
    ("POST", "/api/commands"): "one command (or chat line) over HTTP",
}

NON_COMMAND_ROUTES: dict[RouteKey, str] = {
    ("POST", "/auth/register"): "account creation; no command text",
    ("POST", "/auth/login"): "credentials only (failures are audited)",
    ("GET", "/api/health"): "read-only probe",
    ("GET", "/api/events"): "SSE is server-to-client only; SSE clients send commands to POST /api/commands",
    ("GET", "/api/events/probe"): "read-only token check for a stream that failed to open",
    ("GET", "/metrics"): "read-only Prometheus text",
    ("GET", "/api/metrics"): "read-only, admin only",
    ("GET", "/api/admin/dlq"): "read-only, admin only",
    ("GET", "/api/admin/dlq/{entry_id}"): "read-only, admin only",
    ("POST", "/api/admin/dlq/replay"): "re-publishes chat that passed the pipeline when first sent; admin only",
    ("POST", "/api/admin/dlq/{entry_id}/replay"): "as above, one entry; admin only",
    ("DELETE", "/api/admin/dlq/{entry_id}"): "admin only; removes a dead letter",
    ("POST", "/api/admin/dlq/purge"): "admin only; removes dead letters",
    ("GET", "/openapi.json"): "FastAPI's schema",
    ("GET", "/docs"): "FastAPI's docs page",
    ("GET", "/docs/oauth2-redirect"): "FastAPI's docs page",
    ("GET", "/redoc"): "FastAPI's docs page",
    ("MOUNT", "/"): "the built client's static files",
}

# Command-shaped payloads a careless route might act on.
PAYLOADS: tuple[dict[str, Any], ...] = (
    {"command": "look"},
    {"type": "command", "data": {"command": "look"}},
    {"message": "say hi", "content": "say hi", "text": "look"},
)


def _flattened(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, str]]:
    """Each route with its full path: FastAPI >= 0.165 keeps included routers as lazy branches."""
    iter_contexts = getattr(routing, "iter_route_contexts", None)
    if iter_contexts is None:  # older FastAPI: included routes are copied flat into app.routes
        for route in routes:
            yield route, str(getattr(route, "path", "?"))
        return
    for context in iter_contexts(routes):
        yield context.original_route, str(context.path if context.path is not None else "?")


def route_keys(routes: Sequence[BaseRoute]) -> set[RouteKey]:
    keys: set[RouteKey] = set()
    for route, path in _flattened(routes):
        if isinstance(route, WebSocketRoute):
            keys.add(("WS", path))
        elif isinstance(route, Route):
            keys.update((method, path) for method in (route.methods or ()) if method != "HEAD")
        elif isinstance(route, Mount):
            keys.add(("MOUNT", path or "/"))
        else:  # an unknown kind of route is unclassified by definition
            keys.add((type(route).__name__, path))
    return keys


@dataclass
class SpySecurity:
    """Delegates to the real security and records the order of checks and of handler runs."""

    real: CommandSecurity
    log: list[tuple[str, str]] = field(default_factory=list)

    def check_rate(self, actor: Actor) -> SecurityVerdict:
        self.log.append(("check_rate", actor.name))
        return self.real.check_rate(actor)

    def validate(self, actor: Actor, command: str) -> SecurityVerdict:
        self.log.append(("validate", command))
        return self.real.validate(actor, command)

    async def expand_aliases(self, actor: Actor, command: str) -> tuple[SecurityVerdict, Sequence[str]]:
        self.log.append(("expand", command))
        return await self.real.expand_aliases(actor, command)

    def audit(
        self,
        actor: Actor,
        command: str,
        *,
        success: bool,
        source: str,
        ip_address: str | None,
        metadata: Mapping[str, Any],
    ) -> None:
        self.log.append(("audit", command))
        self.real.audit(actor, command, success=success, source=source, ip_address=ip_address, metadata=metadata)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    dist = tmp_path / "client-dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>Mythos</title>")
    return create_app(make_config(tmp_path, server={"client_dist_dir": dist}))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _services(app: FastAPI) -> AppServices:
    services: AppServices = app.state.services
    return services


def _token(client: TestClient, services: AppServices, name: str) -> str:
    code = services.auth.invites.create(1)[0]
    r = client.post("/auth/register", json={"username": name, "password": PASSWORD, "invite_code": code})
    assert r.status_code == 201, r.text
    return _login(client, name, PASSWORD)


def _login(client: TestClient, name: str, password: str) -> str:
    r = client.post("/auth/login", json={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _send_ws(client: TestClient, token: str, commands: Sequence[str]) -> list[dict[str, Any]]:
    """Send the commands at once, return one reply (result or error frame) per command."""
    replies: list[dict[str, Any]] = []
    with client.websocket_connect(f"/api/ws?token={token}&session_id=route-test") as ws:
        for command in commands:
            ws.send_json({"type": "command", "data": {"command": command}})
        while len(replies) < len(commands):
            msg = ws.receive_json()
            if msg.get("type") == "error" or msg.get("event_type") == "command_result":
                replies.append(msg)
    return replies


def _send_http(client: TestClient, token: str, commands: Sequence[str]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    replies = []
    for command in commands:
        r = client.post("/api/commands", json={"command": command}, headers=headers)
        assert r.status_code in (200, 429), r.text
        replies.append(r.json())
    return replies


SENDERS = {("WS", "/api/ws"): _send_ws, ("POST", "/api/commands"): _send_http}


def test_every_route_is_classified(app: FastAPI) -> None:
    found = route_keys(app.routes)
    unclassified = found - COMMAND_ROUTES.keys() - NON_COMMAND_ROUTES.keys()
    assert not unclassified, f"classify these routes in {__name__}: {sorted(unclassified)}"
    assert COMMAND_ROUTES.keys() <= found, "a command route disappeared: update the classification"
    assert set(SENDERS) == set(COMMAND_ROUTES), "every command route needs a behavioural check"


def test_route_keys_cover_every_kind_of_route() -> None:
    app = FastAPI()
    app.add_api_route("/a", lambda: None, methods=["GET", "POST"])
    app.add_api_websocket_route("/w", lambda ws: None)
    app.mount("/static", FastAPI())

    class Odd(BaseRoute):
        path = "/odd"

    app.router.routes.append(Odd())
    keys = route_keys(app.router.routes)
    assert {("GET", "/a"), ("POST", "/a"), ("WS", "/w"), ("MOUNT", "/static"), ("Odd", "/odd")} <= keys


def test_a_new_route_is_unclassified_until_someone_classifies_it(app: FastAPI) -> None:
    from fastapi import APIRouter

    chat = APIRouter(prefix="/api")
    chat.add_api_route("/chat", lambda: None, methods=["POST"])
    chat.add_api_websocket_route("/chat/ws", lambda ws: None)
    app.include_router(chat)
    found = route_keys(app.routes)
    assert found - COMMAND_ROUTES.keys() - NON_COMMAND_ROUTES.keys() == {("POST", "/api/chat"), ("WS", "/api/chat/ws")}


@pytest.mark.parametrize("route", sorted(COMMAND_ROUTES))
def test_each_command_route_checks_security_before_the_game_runs(
    route: RouteKey, app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _services(app)
    spy = SpySecurity(services.game.security)
    services.game.security = spy
    real_look = BUILTIN_COMMANDS["look"]

    async def recording_look(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
        spy.log.append(("handler", cmd.raw))
        return await real_look(ctx, cmd)

    monkeypatch.setitem(BUILTIN_COMMANDS, "look", recording_look)
    token = _token(client, services, "Checked")
    replies = SENDERS[route](client, token, ["look"])
    assert replies[0]["data"]["ok"] is True
    steps = [step for step, _ in spy.log]
    # The WebSocket checks the rate itself, before it reads the player from the database, and
    # tells the pipeline so (the budget is charged in expand either way): one check per route.
    assert steps == ["check_rate", "validate", "expand", "handler", "audit"]


@pytest.mark.parametrize("route", sorted(COMMAND_ROUTES))
@pytest.mark.parametrize("command", ["look", "say hello", "emote waves", "whisper admin psst"])
def test_each_command_route_is_rate_limited(route: RouteKey, command: str, app: FastAPI, client: TestClient) -> None:
    services = _services(app)
    limit = services.config.security.rate_limit_max_commands
    token = _token(client, services, "Flooder")
    replies = SENDERS[route](client, token, [command] * (limit + 1))
    # Exactly the command over the limit is refused. A refusal waits only a bounded time (0.5 s) for
    # the results of earlier commands, so on a busy machine it may overtake them: count, not order.
    errors = [r for r in replies if r.get("type") == "error"]
    assert len(replies) == limit + 1 and len(errors) == 1, replies
    (refused,) = errors
    assert (refused["type"], refused["error_type"]) == ("error", "rate_limited")
    assert 0 < refused["retry_after"] <= services.config.security.rate_limit_window_seconds
    assert "Too many commands: wait" in refused["message"]


def test_no_other_route_runs_a_command(app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services(app)
    ran: list[str] = []

    def recording(verb: str) -> Any:
        real = BUILTIN_COMMANDS[verb]

        async def handler(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
            ran.append(cmd.raw)
            return await real(ctx, cmd)

        return handler

    for verb in ("look", "say"):
        monkeypatch.setitem(BUILTIN_COMMANDS, verb, recording(verb))
    admin = {"Authorization": f"Bearer {_login(client, 'admin', ADMIN_PASSWORD)}"}
    for method, path in sorted(NON_COMMAND_ROUTES):
        if method == "MOUNT":
            continue
        url = path.replace("{entry_id}", "look")
        for payload in PAYLOADS:
            client.request(method, url, json=payload, params={"command": "look"}, headers=admin)
    client.get("/index.html", params={"command": "look"})
    assert ran == []
    assert services.connections.connection_count() == 0


def test_http_refusals_have_their_status_codes(app: FastAPI, client: TestClient) -> None:
    services = _services(app)
    headers = {"Authorization": f"Bearer {_token(client, services, 'Refused')}"}
    forbidden = client.post("/api/commands", json={"command": "mute admin", "session_id": "h1"}, headers=headers)
    assert forbidden.status_code == 403 and forbidden.json()["error_type"] == "forbidden"
    invalid = client.post("/api/commands", json={"command": "say {{7*7}}"}, headers=headers)
    assert invalid.status_code == 400 and invalid.json()["error_type"] == "invalid_command"
    assert "{{" not in invalid.json()["message"]
