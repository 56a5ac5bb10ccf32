"""The seam where command security plugs into the pipeline.

The pipeline asks, in this order: rate limit, validate the raw line, expand aliases (with the
alias-graph checks), validate each expansion, then dispatches and finally audits. The server
always runs the real implementation, ``CommandSecurityService``; there is no allow-everything
default in production code (tests that exercise the game alone bring their own stand-in).

The seam takes the pipeline's ``Actor`` (``mythos.commands.actor``, below this module); the real
service accepts any ``ActorLike`` (a name and an admin flag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mythos.commands.actor import Actor

__all__ = ["ALLOW", "ActorLike", "CommandSecurity", "SecurityVerdict"]


class ActorLike(Protocol):
    """What security needs to know about who runs a command."""

    @property
    def name(self) -> str: ...
    @property
    def is_admin(self) -> bool: ...


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
