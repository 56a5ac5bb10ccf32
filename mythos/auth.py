"""Accounts: invite codes, argon2 password hashes behind the login throttle, signed expiring
tokens, and the FastAPI dependencies (`SessionDep`, `CurrentPlayer`) that route handlers declare.

This module does not import the composition root (`mythos.services`); the services-wide
dependencies (`ServicesDep`, `ConfigDep`) are in `mythos.api.deps`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Protocol

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from mythos.db import Database, DatabaseUnavailableError, Player
from mythos.login_throttle import HashGate, HashLane, HashQueueFull, LoginThrottle, LoginThrottled
from mythos.observability.logging import get_logger

__all__ = [
    "ADMIN_USERNAME",
    "USERNAME_PATTERN",
    "AuthError",
    "AuthService",
    "CurrentPlayer",
    "HashQueueFull",
    "InviteStore",
    "LoginThrottled",
    "RegistrationError",
    "SessionDep",
    "TokenClaims",
    "TokenService",
    "valid_username",
]

log = get_logger(__name__)

ADMIN_USERNAME = "admin"
# Always checked with fullmatch: `$` would also match before a final newline ("admin\n").
USERNAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,19}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
# The same words for every credential failure: the client must not learn which part was wrong.
BAD_CREDENTIALS = "Invalid username or password"



ARGON2_PARAMETERS: Final = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
"""argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).

argon2-cffi's own default (64 MiB, 3 passes, 4 lanes) runs four threads per hash: on a two-core
server one login then takes every core, and a login flood stalls every player's commands (the
abuse suite measured compliant p99 above 500 ms). One lane keeps a hash on one core; hashes made
with other parameters still verify, since argon2 stores its parameters in the hash.
"""

class AuthError(Exception):
    """A token or credential was refused."""


def valid_username(username: str) -> bool:
    """3-20 characters: a letter, then letters, digits or underscores; nothing before or after."""
    return USERNAME_PATTERN.fullmatch(username) is not None


class LockoutAudit(Protocol):
    """Where lockouts are recorded: `mythos.commands.audit.AuditLogger` in the server."""

    def log_command(
        self,
        player_name: str,
        command: str,
        success: bool,
        ip_address: str | None = None,
        metadata: Any = None,
    ) -> Any: ...


class RegistrationError(Exception):
    """Registration refused; `status_code` is the HTTP status to answer with."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class InviteStore:
    """Invite codes in a JSON list file, shared by the server and the CLI.

    An exclusive file lock around read-modify-write keeps two processes (or the CLI and a
    running server) from handing the same code out twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._thread_lock, open(lock_path, "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _read(self) -> list[str]:
        if not self.path.exists():
            return []
        data: Any = json.loads(self.path.read_text(encoding="utf-8") or "[]")
        if not isinstance(data, list):
            raise ValueError(f"{self.path} must hold a JSON list of invite codes")
        return [str(code) for code in data]

    def _write(self, codes: list[str]) -> None:
        # Write then rename, so a crash never leaves a half-written file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(codes, fh, indent=2)
        os.replace(tmp, self.path)

    def list_codes(self) -> list[str]:
        with self._locked():
            return self._read()

    def create(self, n: int = 1) -> list[str]:
        """Add `n` fresh codes and return them."""
        if n < 1:
            raise ValueError("n must be at least 1")
        new = [secrets.token_urlsafe(9) for _ in range(n)]
        with self._locked():
            self._write(self._read() + new)
        return new

    def restore(self, code: str) -> None:
        """Put back a code that `consume` took for a registration that then could not finish."""
        with self._locked():
            codes = self._read()
            if code not in codes:
                self._write([*codes, code])

    def consume(self, code: str) -> bool:
        """Remove `code` if present; True when it was a valid, unused code."""
        with self._locked():
            codes = self._read()
            if not code or code not in codes:
                return False
            codes.remove(code)
            self._write(codes)
            return True


@dataclass(frozen=True)
class TokenClaims:
    player_id: int
    username: str
    expires_at: datetime


class TokenService:
    """HS256 tokens with an expiry; the secret comes from config and is never defaulted."""

    def __init__(self, secret: str, ttl: timedelta) -> None:
        self._secret = secret
        self.ttl = ttl

    def issue(self, player_id: int, username: str, *, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(player_id),
            "name": username,
            "iat": issued,
            "exp": issued + self.ttl,
            "jti": uuid.uuid4().hex,
            "typ": "access",
        }
        return jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)

    def decode(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]}
            )
            if claims.get("typ") != "access":
                raise AuthError("wrong token type")
            return TokenClaims(
                int(claims["sub"]), str(claims.get("name", "")), datetime.fromtimestamp(claims["exp"], UTC)
            )
        except (jwt.PyJWTError, ValueError, KeyError) as exc:
            raise AuthError(str(exc)) from exc


MAX_CONCURRENT_HASHES = 2
"""Two argon2 slots. One slot (a core left to the event loop) lowered the compliant players' p99
in four noisy `harness abuse login_flood` runs on two cores (122/392 ms against 332/489 ms);
two stay until a quiet measurement says which is better."""


class AuthService:
    """Registration, login and token checks over the player database.

    Every argon2 hash runs in one of `MAX_CONCURRENT_HASHES` slots of a bounded `HashGate`
    (each hash holds 19 MiB for ~0.1 s; a burst on the default thread pool would spike RSS by
    gigabytes), and every login passes the `LoginThrottle` before it may hash at all.
    """

    def __init__(
        self,
        db: Database,
        invites: InviteStore,
        tokens: TokenService,
        start_room_id: str,
        *,
        throttle: LoginThrottle | None = None,
        hash_gate: HashGate | None = None,
        audit: LockoutAudit | None = None,
    ) -> None:
        self.db = db
        self.invites = invites
        self.tokens = tokens
        self.start_room_id = start_room_id
        self._hasher = PasswordHasher(
            time_cost=ARGON2_PARAMETERS["time_cost"], memory_cost=ARGON2_PARAMETERS["memory_cost"],
            parallelism=ARGON2_PARAMETERS["parallelism"],
        )
        self._dummy_hash: str | None = None
        self.throttle = throttle
        self.hash_gate = hash_gate or HashGate(MAX_CONCURRENT_HASHES)
        self.audit = audit

    def _verify_now(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    async def hash_password(self, password: str, *, lane: HashLane = HashLane.CLEAN, bounded: bool = True) -> str:
        """Raises HashQueueFull when `bounded` and the queue is full."""
        async with self.hash_gate.slot(lane, bounded=bounded):
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify_password(
        self, password_hash: str, password: str, *, lane: HashLane = HashLane.CLEAN, bounded: bool = True
    ) -> bool:
        """Raises HashQueueFull when `bounded` and the queue is full."""
        async with self.hash_gate.slot(lane, bounded=bounded):
            return await asyncio.to_thread(self._verify_now, password_hash, password)

    async def register(self, username: str, password: str, invite_code: str, address: str | None = None) -> Player:
        if not valid_username(username):
            raise RegistrationError(
                "Username must be 3-20 characters: a letter, then letters, digits or underscores.", 422
            )
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise RegistrationError(
                f"Password must be {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters.", 422
            )
        if await self.db.get_player_by_name(username) is not None:
            raise RegistrationError("That name is already taken.", 409)
        if not await asyncio.to_thread(self.invites.consume, invite_code):
            raise RegistrationError("Invalid or already used invite code.", 400)
        lane = self.throttle.lane(address) if self.throttle is not None else HashLane.CLEAN
        try:
            password_hash = await self.hash_password(password, lane=lane)
        except HashQueueFull:
            # The code was not used for anything: give it back so the player can retry.
            await asyncio.to_thread(self.invites.restore, invite_code)
            raise
        try:
            player = await self.db.create_player(username, password_hash, self.start_room_id)
        except IntegrityError as exc:
            raise RegistrationError("That name is already taken.", 409) from exc
        except DatabaseUnavailableError:
            # No player was written: the code is still unused, so the player can retry with it.
            await asyncio.to_thread(self.invites.restore, invite_code)
            raise
        log.info("player_registered", player_id=player.id, username=username)
        return player

    async def login(self, username: str, password: str, address: str | None = None) -> tuple[Player, str]:
        """A token for the right password. Raises LoginThrottled (before any hashing),
        HashQueueFull (no hash slot soon), or AuthError with the same words for every wrong
        name or password."""
        attempt = self.throttle.begin(username, address) if self.throttle is not None else None
        lane = attempt.lane if attempt is not None else HashLane.CLEAN
        try:
            player = await self.db.get_player_by_name(username) if valid_username(username) else None
            if player is not None:
                ok = await self.verify_password(player.password_hash, password, lane=lane)
            elif valid_username(username):
                # Verifying against a throwaway hash keeps timing from revealing which names exist.
                # (A name that could never be registered needs no such cover: it costs no hash.)
                async with self.hash_gate.slot(lane):
                    if self._dummy_hash is None:
                        self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
                    await asyncio.to_thread(self._verify_now, self._dummy_hash, password)
                ok = False
            else:
                ok = False
        except BaseException:
            if attempt is not None:
                attempt.abandon()
            raise
        if player is None or not ok:
            if attempt is not None:
                for lockout in attempt.failed():
                    self._audit_lockout(username, address, lockout.scope, lockout.seconds, lockout.failures)
            raise AuthError(BAD_CREDENTIALS)
        if attempt is not None:
            attempt.succeeded()
        log.info("player_logged_in", player_id=player.id)
        return player, self.tokens.issue(player.id, player.username)

    def _audit_lockout(self, username: str, address: str | None, scope: str, seconds: int, failures: int) -> None:
        log.warning("login_lockout", username=username[:64], address=address, scope=scope, seconds=seconds)
        if self.audit is not None:
            metadata = {"event": "login_lockout", "scope": scope, "retry_after": seconds, "failures": failures}
            self.audit.log_command(username[:64], "login", False, address, metadata)

    async def authenticate(self, token: str | None) -> Player:
        """The player a token belongs to; AuthError when missing, bad, expired or orphaned.

        Read fresh from the database (never the command cache): a new connection starts from the
        row as stored, and is refused while the database is unreachable."""
        if not token:
            raise AuthError("missing token")
        claims = self.tokens.decode(token)
        player = await self.db.get_player(claims.player_id, fresh=True)
        if player is None:
            raise AuthError("unknown player")
        return player

    async def ensure_admin(self, password: str) -> Player:
        """Create the admin account, or bring its password and flag in line with config."""
        player = await self.db.get_player_by_name(ADMIN_USERNAME)
        if player is None:
            password_hash = await self.hash_password(password, lane=HashLane.TRUSTED, bounded=False)
            try:
                player = await self.db.create_player(
                    ADMIN_USERNAME, password_hash, self.start_room_id, is_admin=True
                )
            except IntegrityError:
                # Another process sharing the database created it first.
                existing = await self.db.get_player_by_name(ADMIN_USERNAME)
                if existing is None:
                    raise
                player = existing
            else:
                log.info("admin_created", player_id=player.id)
                return player
        updates: dict[str, Any] = {}
        if not await self.verify_password(player.password_hash, password, lane=HashLane.TRUSTED, bounded=False):
            updates["password_hash"] = await self.hash_password(password, lane=HashLane.TRUSTED, bounded=False)
        if not player.is_admin:
            updates["is_admin"] = True
        if updates:
            updated = await self.db.update_player(player.id, **updates)
            if updated is None:
                raise RuntimeError("admin account vanished during update")
            player = updated
            log.info("admin_updated", player_id=player.id, fields=sorted(updates))
        return player


# FastAPI dependencies


def get_auth_service(conn: HTTPConnection) -> AuthService:
    """The app's AuthService (`app.state.services.auth`, set by `create_app`)."""
    auth: AuthService = conn.app.state.services.auth
    return auth


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_session(auth: AuthServiceDep) -> AsyncIterator[AsyncSession]:
    async with auth.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)


async def get_current_player(
    auth: AuthServiceDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Player:
    """The authenticated player; 401 (with no detail on why) otherwise."""
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None:
        raise unauthorized
    try:
        claims = auth.tokens.decode(credentials.credentials)
    except AuthError as exc:
        raise unauthorized from exc
    player = await session.get(Player, claims.player_id)
    if player is None:
        raise unauthorized
    return player


CurrentPlayer = Annotated[Player, Depends(get_current_player)]
