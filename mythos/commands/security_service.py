"""Command security as one object: rate limit, validation, alias checks and expansion, audit.

``CommandSecurityService`` implements the pipeline's ``CommandSecurity`` seam and nothing else:
``check_rate``, ``validate`` (the raw line and each expanded command), ``expand_aliases`` (alias
graph checks, expansion, the checks an alias body gets applied again to every expanded command,
permission, budget) and ``audit`` (refusals and security-sensitive commands).

Budget rules: a line refused before it runs (invalid, alias loop or bomb, forbidden) still costs
one command, so flooding junk is limited like flooding commands; a line that runs costs exactly
the number of commands it runs; an expansion larger than the remaining budget is refused whole.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Protocol

from mythos.commands.alias_graph import AliasBoundsCache, AliasLimits, Problem
from mythos.commands.aliases import ALIAS_VERBS, AliasStorage, ExpansionLimitError, expand_alias, split_head
from mythos.commands.audit import AuditLogger
from mythos.commands.rate_limiter import CommandRateLimiter, MonotonicClock
from mythos.commands.security import ALLOW, ActorLike, SecurityVerdict
from mythos.commands.validator import MAX_RAW_LENGTH, CommandValidator

__all__ = ["CommandSecurityService", "ErrorType", "SecuritySettings"]


class ErrorType(StrEnum):
    RATE_LIMITED = "rate_limited"
    INVALID_COMMAND = "invalid_command"
    ALIAS_CYCLE = "alias_cycle"
    ALIAS_TOO_LARGE = "alias_too_large"
    FORBIDDEN = "forbidden"


AUDITED_REFUSALS = frozenset(e.value for e in ErrorType)
ALIAS_VERBS_REFUSAL = "an alias cannot define or remove aliases"


class HandoffGate(Protocol):
    """Holds the commands of a player just taken over from another server until that server's
    rate window has been counted here (`mythos.realtime.rate_handoff.RateHandoff`)."""

    def waiting(self, player_id: int) -> bool: ...
    async def wait(self, player_id: int) -> None: ...


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


def _deny(
    error_type: ErrorType, message: str, retry_after: float | None = None, details: Mapping[str, Any] | None = None
) -> SecurityVerdict:
    return SecurityVerdict.deny(error_type.value, message, retry_after, details)


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
        # Set on several servers (CLUSTER_SESSIONS): None on one server, where nothing waits.
        self.handoff: HandoffGate | None = None

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

    # -- the pipeline's CommandSecurity seam ---------------------------------------------------

    def check_rate(self, actor: ActorLike) -> SecurityVerdict:
        wait = self.limiter.get_wait_time(actor.name)
        if wait <= 0:
            return ALLOW
        return _deny(ErrorType.RATE_LIMITED, f"Too many commands: wait {_wait_words(wait)}.", wait)

    def validate(self, actor: ActorLike, command: str) -> SecurityVerdict:
        """Content checks. The pipeline calls this for the raw line and again for each expanded
        command, so the length allowed here is the expanded one; the raw line's own limit is
        enforced by ``expand_aliases``, which only ever sees raw lines."""
        line = command.strip()
        if not line:
            # Harmless: the game answers "type a command"; it still costs budget when expanded.
            return ALLOW
        return self._content(actor.name, line, self.limits.max_length) or ALLOW

    async def expand_aliases(self, actor: ActorLike, command: str) -> tuple[SecurityVerdict, Sequence[str]]:
        """Alias checks and expansion, the checks of an alias body on what it expands to,
        permission, then the budget. Allowed: the commands to run, in order."""
        line = command.strip()
        if self.handoff is not None:
            player_id = getattr(actor, "id", None)
            if isinstance(player_id, int) and self.handoff.waiting(player_id):
                # Charged below, once the window the previous server counted is part of this one.
                await self.handoff.wait(player_id)
        # Aliases are read lazily, so every path (WebSocket, SSE + HTTP, HTTP alone) sees them.
        await self.aliases.ensure_loaded(actor.name)
        refusal = self._content(actor.name, line, self.max_raw_length) if len(line) > self.max_raw_length else None
        if refusal is not None:
            return refusal, []
        expanded = self._expand(actor.name, line)
        if isinstance(expanded, SecurityVerdict):
            return expanded, []
        commands, alias = expanded
        sensitive = [c for c in commands if CommandValidator.is_security_sensitive(c)]
        if sensitive and not actor.is_admin:
            self.limiter.try_acquire(actor.name, 1)
            verb = CommandValidator.command_verb(sensitive[0])
            return _deny(
                ErrorType.FORBIDDEN, f"You do not have permission to use '{verb}'.", details={"verb": verb}
            ), []
        if not self.limiter.try_acquire(actor.name, len(commands)):
            wait = self.limiter.get_wait_time(actor.name, len(commands))
            return _deny(
                ErrorType.RATE_LIMITED,
                f"Too many commands: this runs {len(commands)}, wait {_wait_words(wait)}.",
                wait,
                details={"commands": len(commands)} | ({"alias": alias} if alias else {}),
            ), []
        return ALLOW, list(commands)

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
        """Write the line for a refusal or a security-sensitive command (also inside an expansion).

        A sensitive line carries ``verb``: the admin verb it was matched as (a look-alike such as
        ``t\u0435leport`` is audited as ``teleport``)."""
        expanded = [str(c) for c in metadata.get("expanded") or ()]
        sensitive = [c for c in (command, *expanded) if CommandValidator.is_security_sensitive(c)]
        if not sensitive and metadata.get("error_type") not in AUDITED_REFUSALS:
            return
        session_id = metadata.get("session_id")
        meta = {"source": source, **{k: v for k, v in metadata.items() if k != "session_id"}}
        if sensitive:
            meta.setdefault("verb", CommandValidator.command_verb(sensitive[0]))
        self.audit_log.log_command(
            actor.name,
            command,
            success,
            ip_address,
            meta,
            session_id=str(session_id) if session_id is not None else None,
        )

    # -- lifecycle -----------------------------------------------------------------------------

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

    # -- the steps -----------------------------------------------------------------------------

    def _content(self, player: str, line: str, limit: int, *, charge: bool = True) -> SecurityVerdict | None:
        ok, reason = CommandValidator.validate_command_content(line, max_length=limit)
        if ok:
            return None
        if charge:
            self.limiter.try_acquire(player, 1)
        return _deny(ErrorType.INVALID_COMMAND, f"Command refused: {reason}.", details={"reason": reason})

    def _expand(self, player: str, line: str) -> tuple[tuple[str, ...], str | None] | SecurityVerdict:
        """The commands a line runs and the alias that produced them, or the refusal."""
        head, args = split_head(line)
        alias = self.aliases.get_alias(player, head) if head else None
        if alias is None:
            return (line,), None
        verdict = self.bounds.check(player, alias.name, len(args))
        if not verdict.ok:
            self.limiter.try_acquire(player, 1)
            cyclic = verdict.problem is Problem.CYCLE
            return _deny(
                ErrorType.ALIAS_CYCLE if cyclic else ErrorType.ALIAS_TOO_LARGE,
                verdict.message(self.limits),
                details={"alias": alias.name, "problem": str(verdict.problem), **_path(verdict.path)},
            )
        try:
            commands = tuple(expand_alias(self.aliases, player, alias.name, args, self.limits))
        except ExpansionLimitError:
            self.limiter.try_acquire(player, 1)
            return _deny(
                ErrorType.ALIAS_TOO_LARGE, f"Alias '{alias.name}' is too large to run.", details={"alias": alias.name}
            )
        # The arguments are substituted now: what they produced gets the body's checks again.
        for index, command in enumerate(commands, start=1):
            refusal = self._content(player, command, self.limits.max_length, charge=False)
            if refusal is None and CommandValidator.command_verb(command) in ALIAS_VERBS:
                refusal = _deny(
                    ErrorType.FORBIDDEN,
                    f"Command refused: {ALIAS_VERBS_REFUSAL}.",
                    details={"verb": CommandValidator.command_verb(command)},
                )
            if refusal is not None:
                self.limiter.try_acquire(player, 1)
                words = (refusal.message or "")[0].lower() + (refusal.message or "")[1:]
                return SecurityVerdict.deny(
                    refusal.error_type or ErrorType.INVALID_COMMAND.value,
                    f"Alias '{alias.name}', command {index}: {words}",
                    details={"alias": alias.name, **refusal.details},
                )
        return commands, alias.name
