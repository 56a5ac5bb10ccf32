"""The seam where command security plugs into the pipeline.

The pipeline asks, in this order: rate limit, validate the raw line, expand aliases (with the
alias-graph checks), validate each expansion, then dispatches and finally audits. The
command-security package provides the real implementation; `PermissiveSecurity` allows
everything so the game runs before (and without) it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mythos.commands.context import Actor

__all__ = ["ALLOW", "CommandSecurity", "PermissiveSecurity", "SecurityVerdict"]


@dataclass(frozen=True)
class SecurityVerdict:
    """`error_type` names the refusal on the wire: rate_limited, invalid_command, alias_cycle, ...

    `details` (alias, cycle path, reason) go to the audit line, never to the wire.
    """

    allowed: bool
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def deny(
        cls,
        error_type: str,
        message: str,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> SecurityVerdict:
        return cls(False, error_type, message, retry_after, dict(details or {}))


ALLOW = SecurityVerdict(True)


class CommandSecurity(Protocol):
    """What the pipeline needs from command security; one call per step."""

    def check_rate(self, actor: Actor) -> SecurityVerdict: ...

    def validate(self, actor: Actor, command: str) -> SecurityVerdict: ...

    async def expand_aliases(self, actor: Actor, command: str) -> tuple[SecurityVerdict, Sequence[str]]: ...

    def audit(
        self,
        actor: Actor,
        command: str,
        *,
        success: bool,
        source: str,
        ip_address: str | None,
        metadata: Mapping[str, Any],
    ) -> None: ...


class PermissiveSecurity:
    """Allows every command and expands nothing: the default until the real checks are wired."""

    def check_rate(self, actor: Actor) -> SecurityVerdict:
        return ALLOW

    def validate(self, actor: Actor, command: str) -> SecurityVerdict:
        return ALLOW

    async def expand_aliases(self, actor: Actor, command: str) -> tuple[SecurityVerdict, Sequence[str]]:
        return ALLOW, [command]

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
        return None
