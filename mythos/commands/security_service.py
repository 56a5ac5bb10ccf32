"""Command security as one object: rate limit, validation, alias checks and expansion, audit.

``check_and_expand`` is the whole check for one line and returns either the commands to run
(``Expansion``) or a ``Refusal`` carrying the wire ``error_type``, plain words for the terminal
and ``retry_after``; it writes the audit line of a refusal itself. ``after_dispatch`` audits what
ran. The methods ``check_rate`` / ``validate`` / ``expand_aliases`` / ``audit`` implement the
pipeline's ``CommandSecurity`` seam on top of the same steps (there ``audit`` writes every line).

Budget rules: a line refused before it runs (invalid, alias loop or bomb, forbidden) still costs
one command, so flooding junk is limited like flooding commands; a line that runs costs exactly
the number of commands it runs; an expansion larger than the remaining budget is refused whole.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from mythos.commands.alias_graph import AliasBoundsCache, AliasLimits, Problem
from mythos.commands.aliases import AliasStorage, ExpansionLimitError, expand_alias, split_head
from mythos.commands.audit import AuditLogger
from mythos.commands.rate_limiter import CommandRateLimiter, MonotonicClock
from mythos.commands.security import ALLOW, SecurityVerdict
from mythos.commands.validator import MAX_RAW_LENGTH, CommandValidator

__all__ = ["ActorLike", "CommandSecurityService", "ErrorType", "Expansion", "Refusal", "SecuritySettings"]


class ErrorType(StrEnum):
    RATE_LIMITED = "rate_limited"
    INVALID_COMMAND = "invalid_command"
    ALIAS_CYCLE = "alias_cycle"
    ALIAS_TOO_LARGE = "alias_too_large"
    FORBIDDEN = "forbidden"


AUDITED_REFUSALS = frozenset(e.value for e in ErrorType)


class SecuritySettings(Protocol):
    """The fields of ``config.security`` this service reads."""

    @property
    def rate_limit_max_commands(self) -> int: ...
    @property
    def rate_limit_window_seconds(self) -> float: ...
    @property
    def max_alias_expansion(self) -> int: ...
    @property
    def max_alias_depth(self) -> int: ...
    @property
    def max_expanded_command_length(self) -> int: ...


class ActorLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Expansion:
    """The commands to dispatch, in order; ``alias`` names the alias that produced them, if any."""

    commands: tuple[str, ...]
    alias: str | None = None
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    error_type: ErrorType
    message: str
    retry_after: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_ws_error(self) -> dict[str, Any]:
        """The WebSocket error frame of DESIGN.md's protocol."""
        frame: dict[str, Any] = {
            "type": "error",
            "error_type": self.error_type.value,
            "message": self.message,
        }
        if self.retry_after is not None:
            frame["retry_after"] = self.retry_after
        return frame

    def to_verdict(self) -> SecurityVerdict:
        return SecurityVerdict.deny(self.error_type.value, self.message, self.retry_after, self.details)


def _wait_words(seconds: float) -> str:
    # Round up (ignoring float noise): retrying at the shown time must succeed.
    shown = math.ceil(seconds * 10 - 1e-6) / 10
    return f"{shown:.1f} s"


def _path(path: tuple[str, ...]) -> dict[str, list[str]]:
    return {"path": list(path)} if path else {}


class CommandSecurityService:
    """Every security check of a command line, in the pipeline's order."""

    def __init__(
        self,
        *,
        aliases: AliasStorage,
        audit: AuditLogger,
        limiter: CommandRateLimiter,
        limits: AliasLimits,
        max_raw_length: int = MAX_RAW_LENGTH,
    ) -> None:
        self.aliases = aliases
        self.audit_log = audit
        self.limiter = limiter
        self.limits = limits
        self.bounds = AliasBoundsCache(aliases, limits)
        self.max_raw_length = max_raw_length

    @classmethod
    def from_settings(
        cls,
        settings: SecuritySettings,
        *,
        aliases: AliasStorage,
        audit: AuditLogger,
        clock: MonotonicClock = time.monotonic,
    ) -> CommandSecurityService:
        """Build from ``config.security``; an expansion never exceeds the per-window budget."""
        limiter = CommandRateLimiter(settings.rate_limit_max_commands, settings.rate_limit_window_seconds, clock=clock)
        limits = AliasLimits(
            max_commands=min(settings.max_alias_expansion, settings.rate_limit_max_commands),
            max_depth=settings.max_alias_depth,
            max_length=settings.max_expanded_command_length,
        )
        return cls(aliases=aliases, audit=audit, limiter=limiter, limits=limits)

    # -- the whole check -----------------------------------------------------------------------

    def check_and_expand(
        self,
        player: str,
        raw_line: str,
        ip: str | None = None,
        session_id: str | None = None,
        *,
        is_admin: bool = False,
    ) -> Expansion | Refusal:
        """Check one line; on refusal the audit line is written here."""
        line = raw_line.strip()
        outcome: Expansion | Refusal | None = self.check_rate_for(player) or self.validate_line(player, line)
        if outcome is None:
            outcome = self.expand(player, line, is_admin=is_admin)
        if isinstance(outcome, Refusal):
            self._audit_refusal(player, line, outcome, ip, session_id)
        return outcome

    def after_dispatch(
        self,
        player: str,
        expansion: Expansion,
        command: str,
        success: bool,
        ip: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Audit one dispatched command when it is security-sensitive (allowed or refused by the game)."""
        if CommandValidator.is_security_sensitive(command):
            meta = {"alias": expansion.alias, **(metadata or {})}
            self.audit_log.log_command(player, command, success, ip, meta, session_id=session_id)

    # -- the steps -----------------------------------------------------------------------------

    def check_rate_for(self, player: str) -> Refusal | None:
        wait = self.limiter.get_wait_time(player)
        if wait <= 0:
            return None
        return Refusal(ErrorType.RATE_LIMITED, f"Too many commands: wait {_wait_words(wait)}.", wait)

    def validate_line(self, player: str, line: str, *, expanded: bool = False) -> Refusal | None:
        limit = self.limits.max_length if expanded else self.max_raw_length
        ok, reason = CommandValidator.validate_command_content(line, max_length=limit)
        if ok:
            return None
        if not expanded:
            self.limiter.try_acquire(player, 1)
        return Refusal(ErrorType.INVALID_COMMAND, f"Command refused: {reason}.", details={"reason": reason})

    def expand(self, player: str, line: str, *, is_admin: bool = False) -> Expansion | Refusal:
        """Alias checks and expansion, validation of what it expands to, permission, then the budget."""
        head, args = split_head(line)
        alias = self.aliases.get_alias(player, head) if head else None
        if alias is None:
            commands: tuple[str, ...] = (line,)
        else:
            verdict = self.bounds.check(player, alias.name, len(args))
            if not verdict.ok:
                self.limiter.try_acquire(player, 1)
                cyclic = verdict.problem is Problem.CYCLE
                error = ErrorType.ALIAS_CYCLE if cyclic else ErrorType.ALIAS_TOO_LARGE
                return Refusal(
                    error,
                    verdict.message(self.limits),
                    details={
                        "alias": alias.name,
                        "problem": str(verdict.problem),
                        **_path(verdict.path),
                    },
                )
            try:
                commands = tuple(expand_alias(self.aliases, player, alias.name, args, self.limits))
            except ExpansionLimitError:
                self.limiter.try_acquire(player, 1)
                return Refusal(
                    ErrorType.ALIAS_TOO_LARGE,
                    f"Alias '{alias.name}' is too large to run.",
                    details={"alias": alias.name},
                )
            for index, command in enumerate(commands, start=1):
                refusal = self.validate_line(player, command, expanded=True)
                if refusal is not None:
                    self.limiter.try_acquire(player, 1)
                    words = refusal.message[0].lower() + refusal.message[1:]
                    return Refusal(
                        refusal.error_type,
                        f"Alias '{alias.name}', command {index}: {words}",
                        details={"alias": alias.name, **refusal.details},
                    )
        sensitive = [c for c in commands if CommandValidator.is_security_sensitive(c)]
        if sensitive and not is_admin:
            self.limiter.try_acquire(player, 1)
            verb = CommandValidator.command_verb(sensitive[0])
            return Refusal(ErrorType.FORBIDDEN, f"You do not have permission to use '{verb}'.", details={"verb": verb})
        if not self.limiter.try_acquire(player, len(commands)):
            wait = self.limiter.get_wait_time(player, len(commands))
            return Refusal(
                ErrorType.RATE_LIMITED,
                f"Too many commands: this runs {len(commands)}, wait {_wait_words(wait)}.",
                wait,
                details={"commands": len(commands)},
            )
        return Expansion(commands, alias.name if alias else None, bool(sensitive))

    def forget_player(self, player: str) -> None:
        """Drop a player's rate window and cached bounds (logout)."""
        self.limiter.forget(player)
        self.bounds.forget(player)

    def player_offline(self, player: str) -> None:
        """The player's last connection closed: drop their aliases and cached bounds from memory.

        The rate window is kept (the limiter drops it once idle): forgetting it here would let a
        client reset its budget by reconnecting.
        """
        self.bounds.forget(player)
        self.aliases.unload(player)

    def _audit_refusal(self, player: str, line: str, refusal: Refusal, ip: str | None, session_id: str | None) -> None:
        meta = {"error_type": refusal.error_type.value, **refusal.details}
        self.audit_log.log_command(player, line, False, ip, meta, session_id=session_id)

    # -- the pipeline's CommandSecurity seam ---------------------------------------------------

    def check_rate(self, actor: ActorLike) -> SecurityVerdict:
        refusal = self.check_rate_for(actor.name)
        return refusal.to_verdict() if refusal else ALLOW

    def validate(self, actor: ActorLike, command: str) -> SecurityVerdict:
        """Content checks. The pipeline calls this for the raw line and again for each expanded
        command, so the length allowed here is the expanded one; the raw line's own limit is
        enforced by ``expand_aliases``, which only ever sees raw lines."""
        line = command.strip()
        if not line:
            # Harmless: the game answers "type a command"; it still costs budget when expanded.
            return ALLOW
        ok, reason = CommandValidator.validate_command_content(line, max_length=self.limits.max_length)
        if ok:
            return ALLOW
        self.limiter.try_acquire(actor.name, 1)
        return SecurityVerdict.deny(
            ErrorType.INVALID_COMMAND.value, f"Command refused: {reason}.", details={"reason": reason}
        )

    async def expand_aliases(self, actor: ActorLike, command: str) -> tuple[SecurityVerdict, Sequence[str]]:
        line = command.strip()
        # Aliases are read lazily, so every path (WebSocket, SSE + HTTP, HTTP alone) sees them.
        await self.aliases.ensure_loaded(actor.name)
        if len(line) > self.max_raw_length:
            refusal = self.validate_line(actor.name, line)
            assert refusal is not None
            return refusal.to_verdict(), []
        outcome = self.expand(actor.name, line, is_admin=actor.is_admin)
        if isinstance(outcome, Refusal):
            return outcome.to_verdict(), []
        return ALLOW, list(outcome.commands)

    def audit(
        self,
        actor: ActorLike,
        command: str,
        *,
        success: bool,
        source: str,
        ip_address: str | None,
        metadata: Mapping[str, Any],
    ) -> None:
        """Write the line for a refusal or a security-sensitive command (also inside an expansion)."""
        expanded = metadata.get("expanded") or ()
        sensitive = CommandValidator.is_security_sensitive(command) or any(
            CommandValidator.is_security_sensitive(str(c)) for c in expanded
        )
        if sensitive or metadata.get("error_type") in AUDITED_REFUSALS:
            session_id = metadata.get("session_id")
            meta = {"source": source, **{k: v for k, v in metadata.items() if k != "session_id"}}
            self.audit_log.log_command(
                actor.name,
                command,
                success,
                ip_address,
                meta,
                session_id=str(session_id) if session_id is not None else None,
            )
