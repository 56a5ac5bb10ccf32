"""A Mythos player over a real WebSocket, for Locust (``websocket-client`` under Locust's gevent).

Every command and its reply is one Locust request (``events.request``): request_type is the
player's role, name the command's verb, response_time the real round trip. Refusals (error
frames such as ``rate_limited``) are reported under ``<role>-refused`` as failures named by
their error_type, so Locust's ``<role>`` entry holds the accepted commands (and timeouts) only.
Each player also keeps its own histogram of those round trips after the warm-up
(``latency_ms``): the load KPIs are computed from it, never from a sample that mixes in refusals.

Reply matching relies on the protocol: the server runs one connection's commands in order and
answers each with exactly one frame (a ``command_result`` envelope or an error frame), so the
oldest unanswered command owns the next reply. A pipelining attacker may see an error overtake
an older result (errors skip the event queue); counts stay exact, only attacker latencies may
swap. Compliant players wait for each reply, so their round trips are exact.

Before any load a player registers with a harness-prepared invite code and logs in over HTTP;
each step is reported too, and the outcome feeds the connection success rate.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import gevent
import requests
import websocket
from gevent.event import AsyncResult, Event
from locust import User, events
from locust.exception import StopUser

from loadtests.config import LoadConfig, append_records, claim_invite, latency_bucket

__all__ = ["CHAT_MARK", "MythosPlayer", "PlayerConnection", "PlayerRecord", "load_config"]

CHAT_MARK = "ld"
USER_AGENT = "mythos-load"
CLOSE_TIMEOUT_S = 1.0


@functools.cache
def load_config() -> LoadConfig:
    """The run's config, read once per Locust process."""
    return LoadConfig.from_env()


class Refused(Exception):
    """The server refused the command; ``str()`` is the wire error_type, so Locust groups by it."""


class ReplyTimeout(Exception):
    """No reply within the configured patience."""


class ConnectionLost(Exception):
    """The WebSocket closed under the player."""


class SlidingMax:
    """The most events seen inside any ``window_s`` span (to compare with the limit)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._times: collections.deque[float] = collections.deque()
        self.peak = 0

    def add(self, now: float) -> None:
        self._times.append(now)
        while now - self._times[0] >= self.window_s:
            self._times.popleft()
        self.peak = max(self.peak, len(self._times))



BUSY_PATIENCE_S = 30.0
"""How long a joining player keeps retrying a 503 with Retry-After (the server's login_busy)."""


class BusyError(RuntimeError):
    """The server answered 503 with Retry-After: busy, come back then."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

@dataclass
class PlayerRecord:
    """What one simulated player did, written as one JSON line when the test stops."""

    role: str
    window_s: float
    username: str = ""
    connect_ok: bool = False
    connect_error: str = ""
    sent: int = 0
    executed: int = 0
    game_errors: int = 0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    timeouts: int = 0
    skipped: int = 0
    unmatched: int = 0
    room_states: int = 0
    chat_sent: int = 0
    chat_received: int = 0
    closed: str = ""
    first_send: float | None = None
    last_send: float | None = None
    first_reply: float | None = None
    last_reply: float | None = None
    last_room_state: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    latency_ms: collections.Counter[int] = field(default_factory=collections.Counter)
    """Round trips of accepted commands after the warm-up (timeouts at the patience), by ms bucket."""
    latency_ms_warmup: collections.Counter[int] = field(default_factory=collections.Counter)
    flushed: bool = False

    def __post_init__(self) -> None:
        self.executed_window = SlidingMax(self.window_s)
        self.room_state_window = SlidingMax(self.window_s)

    def to_dict(self) -> dict[str, Any]:
        def span(a: float | None, b: float | None) -> float:
            return 0.0 if a is None or b is None else b - a

        return {
            "role": self.role,
            "username": self.username,
            "connect_ok": self.connect_ok,
            "connect_error": self.connect_error,
            "sent": self.sent,
            "executed": self.executed,
            "game_errors": self.game_errors,
            "refused": dict(self.refused),
            "timeouts": self.timeouts,
            "skipped": self.skipped,
            "unmatched": self.unmatched,
            "room_states": self.room_states,
            "chat_sent": self.chat_sent,
            "chat_received": self.chat_received,
            "closed": self.closed,
            "send_span_s": span(self.first_send, self.last_send),
            "reply_span_s": span(self.first_reply, self.last_reply),
            "max_executed_in_window": self.executed_window.peak,
            "max_room_states_in_window": self.room_state_window.peak,
            "last_room_state_at": self.last_room_state,
            "latency_ms": {str(k): v for k, v in sorted(self.latency_ms.items())},
            "latency_ms_warmup": {str(k): v for k, v in sorted(self.latency_ms_warmup.items())},
            **self.extra,
        }


@dataclass(slots=True)
class _Pending:
    name: str
    sent_at: float
    result: AsyncResult | None
    abandoned: bool = False


def _verb(command: str) -> str:
    return command.split(" ", 1)[0] or "empty"


def ws_url(host: str, token: str, session_id: str) -> str:
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/api/ws?{urlencode({'token': token, 'session_id': session_id})}"


class PlayerConnection:
    """One WebSocket: a reader greenlet matches replies to commands and passes other events on."""

    def __init__(self, player: MythosPlayer) -> None:
        self.player = player
        self.record = player.record
        self.pending: collections.deque[_Pending] = collections.deque()
        self.ws: websocket.WebSocket | None = None
        self.reader: gevent.Greenlet | None = None
        self.closed = Event()

    def open(self, url: str, timeout: float) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout, header=[f"User-Agent: {USER_AGENT}"])
        self.ws.settimeout(None)
        self.reader = gevent.spawn(self._read_loop)

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close(timeout=CLOSE_TIMEOUT_S)
        if self.reader is not None:
            self.reader.kill(block=False)

    def _read_loop(self) -> None:
        assert self.ws is not None
        while True:
            try:
                raw = self.ws.recv()
            except Exception as exc:  # closed by either side: the reader's only way out
                self._lost(f"{type(exc).__name__}: {exc}")
                return
            if not raw:
                self._lost(f"closed by server ({self.ws.status})")
                return
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if isinstance(frame, dict):
                self._dispatch(frame, len(raw), time.perf_counter())

    def _lost(self, why: str) -> None:
        if not self.player.stopping and not self.record.closed:
            self.record.closed = why
        self.closed.set()

    def _dispatch(self, frame: dict[str, Any], length: int, now: float) -> None:
        if frame.get("type") == "error" or frame.get("event_type") == "command_result":
            self._reply(frame, length, now)
        elif frame.get("type") != "pong":
            self.player.on_event(frame, now)

    def _reply(self, frame: dict[str, Any], length: int, now: float) -> None:
        record = self.record
        record.first_reply = record.first_reply if record.first_reply is not None else now
        record.last_reply = now
        if not self.pending:
            record.unmatched += 1
            return
        pending = self.pending.popleft()
        exception: Exception | None = None
        if frame.get("type") == "error":
            error_type = str(frame.get("error_type") or "error")
            record.refused[error_type] += 1
            exception = Refused(error_type)
        else:
            record.executed += 1
            record.executed_window.add(now)
            data = frame.get("data")
            if isinstance(data, dict) and data.get("ok") is False:
                record.game_errors += 1
        if pending.abandoned:
            return
        took_ms = (now - pending.sent_at) * 1000.0
        report_type = self.player.report_type
        if exception is None:
            self.player.sample_latency(took_ms)
        else:
            report_type = f"{report_type}-refused"
        events.request.fire(request_type=report_type, name=pending.name, response_time=took_ms,
                            response_length=length, exception=exception, context={})
        if pending.result is not None:
            pending.result.set(frame)

    def send(self, command: str, *, wait: bool, timeout: float, name: str | None = None) -> dict[str, Any] | None:
        """Send one command; with ``wait`` return its reply frame (None on timeout)."""
        if self.ws is None or self.closed.is_set():
            raise ConnectionLost(self.record.closed or "not connected")
        pending = _Pending(name or _verb(command), time.perf_counter(), AsyncResult() if wait else None)
        self.pending.append(pending)  # before sending: the reply may beat us back
        try:
            self.ws.send(json.dumps({"type": "command", "data": {"command": command}}))
        except Exception as exc:
            self.pending.remove(pending)
            self._lost(f"send failed: {exc}")
            raise ConnectionLost(str(exc)) from exc
        record = self.record
        record.sent += 1
        record.first_send = record.first_send if record.first_send is not None else pending.sent_at
        record.last_send = pending.sent_at
        if pending.result is None:
            return None
        try:
            reply: dict[str, Any] = pending.result.get(timeout=timeout)
        except gevent.Timeout:
            pending.abandoned = True
            record.timeouts += 1
            self.player.sample_latency(timeout * 1000.0)  # at least this long: a lower bound, never hidden
            events.request.fire(request_type=self.player.report_type, name=pending.name,
                                response_time=timeout * 1000.0, response_length=0,
                                exception=ReplyTimeout(f"no reply in {timeout} s"), context={})
            return None
        return reply


_RECORDS: list[PlayerRecord] = []


@events.test_stop.add_listener
def _flush_records(environment: Any, **_: Any) -> None:
    """Each Locust process (local or worker) writes the records of its own players once."""
    fresh = [r for r in _RECORDS if not r.flushed]
    if not fresh:
        return
    append_records(Path(load_config().results_file), [r.to_dict() for r in fresh])
    for record in fresh:
        record.flushed = True


class MythosPlayer(User):
    """Registers, logs in, opens the WebSocket and waits for its first ``room_state``; then subclasses play."""

    abstract = True
    role = "player"
    name_prefix = "pl"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.cfg = load_config()
        self.record = PlayerRecord(self.role, self.cfg.rate_window_s)
        _RECORDS.append(self.record)
        self.conn = PlayerConnection(self)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.stopping = False
        self.room: dict[str, Any] = {}
        self.occupants: set[str] = set()
        self._first_room = Event()

    @property
    def report_type(self) -> str:
        """The Locust request_type of a round trip now: the role, or ``<role>-warmup`` before the window opens."""
        return self.role if time.time() >= self.cfg.measure_after_epoch else f"{self.role}-warmup"

    def sample_latency(self, ms: float) -> None:
        """Count one accepted (or timed-out) round trip in this player's histogram."""
        warm = time.time() < self.cfg.measure_after_epoch
        (self.record.latency_ms_warmup if warm else self.record.latency_ms)[latency_bucket(ms)] += 1

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self) -> None:
        started = time.perf_counter()
        step = "invite"
        try:
            code = claim_invite(Path(self.cfg.invites_file))
            username = f"{self.name_prefix}{secrets.token_hex(6)}"
            password = secrets.token_urlsafe(12)
            step = "register"
            self._post("/auth/register", {"username": username, "password": password, "invite_code": code}, 201)
            step = "login"
            token = str(self._post("/auth/login", {"username": username, "password": password}, 200)["access_token"])
            step = "websocket"
            self.record.username = username
            self.conn.open(ws_url(self.cfg.host, token, uuid.uuid4().hex), self.cfg.connect_timeout_s)
            if not self._first_room.wait(self.cfg.connect_timeout_s):
                raise TimeoutError("no room_state after connecting")
        except Exception as exc:
            self.record.connect_error = f"{step}: {type(exc).__name__}: {exc}"[:300]
            self._report_connect(started, exc)
            self.conn.close()
            raise StopUser() from exc
        self.record.connect_ok = True
        self._report_connect(started, None)

    def on_stop(self) -> None:
        self.stopping = True
        self.conn.close()

    def _report_connect(self, started: float, exc: Exception | None) -> None:
        events.request.fire(request_type="WS", name="connect", response_time=(time.perf_counter() - started) * 1000.0,
                            response_length=0, exception=exc, context={})

    def _post(self, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        """POST, waiting out a 503 with Retry-After (a full password-hashing queue) as a real
        client does, a few times within the connect timeout; any other answer is final."""
        deadline = time.monotonic() + BUSY_PATIENCE_S
        while True:
            try:
                return self._post_once(path, body, expect)
            except BusyError as busy:
                if time.monotonic() + busy.retry_after > deadline:
                    raise
                time.sleep(busy.retry_after)

    def _post_once(self, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        started = time.perf_counter()
        response: requests.Response | None = None
        exc: Exception | None = None
        try:
            response = self.http.post(self.cfg.host + path, json=body, timeout=self.cfg.connect_timeout_s)
            if response.status_code == 503 and response.headers.get("Retry-After", "").isdigit():
                exc = BusyError(f"HTTP 503: {response.text[:120]}", float(response.headers["Retry-After"]))
            elif response.status_code != expect:
                exc = RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
        except requests.RequestException as error:
            exc = error
        events.request.fire(request_type="HTTP", name=path, response_time=(time.perf_counter() - started) * 1000.0,
                            response_length=len(response.content) if response is not None else 0,
                            exception=exc, context={})
        if exc is not None:
            raise exc
        assert response is not None
        data: dict[str, Any] = response.json()
        return data

    # -- play ------------------------------------------------------------------------------
    def command(self, command: str, *, wait: bool = True, name: str | None = None) -> dict[str, Any] | None:
        """Send ``command`` (waiting for the reply unless ``wait`` is false); stops the user if the link died."""
        try:
            return self.conn.send(command, wait=wait, timeout=self.cfg.reply_timeout_s, name=name)
        except ConnectionLost as exc:
            raise StopUser() from exc

    def say_marked(self) -> None:
        """Say a line that carries its send time, so every listener can measure delivery latency."""
        self.record.chat_sent += 1
        self.command(f"say {CHAT_MARK}-{self.record.username}-{time.time_ns()}")

    def random_exit(self) -> str | None:
        exits = list((self.room.get("exits") or {}).keys())
        return secrets.choice(exits) if exits else None

    def on_event(self, frame: dict[str, Any], now: float) -> None:
        kind = frame.get("event_type")
        data = frame.get("data") or {}
        if kind == "room_state":
            self.record.room_states += 1
            self.record.room_state_window.add(now)
            self.record.last_room_state = now
            self.room = data.get("room") or {}
            self.occupants = set(data.get("occupants") or [])
            self._first_room.set()
        elif kind == "player_entered":
            self.occupants.add(str(data.get("player_name")))
        elif kind == "player_left":
            self.occupants.discard(str(data.get("player_name")))
        elif kind == "chat":
            self._on_chat(data)

    def _on_chat(self, data: dict[str, Any]) -> None:
        content = str(data.get("content") or "")
        parts = content.split("-")
        if len(parts) != 3 or parts[0] != CHAT_MARK or parts[1] == self.record.username:
            return
        try:
            sent_ns = int(parts[2])
        except ValueError:
            return
        self.record.chat_received += 1
        events.request.fire(request_type="chat", name="say delivery",
                            response_time=max(0.0, (time.time_ns() - sent_ns) / 1e6),
                            response_length=len(content), exception=None, context={})
