"""Command-security stand-ins for tests that exercise the game alone.

Production code has no allow-everything security: the server always runs
``CommandSecurityService``. A test that wants the game without its checks, or one refusal
forced at a chosen step, subclasses ``PermissiveSecurity`` here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mythos.commands.actor import Actor
from mythos.commands.security import ALLOW, SecurityVerdict

__all__ = ["PermissiveSecurity"]


class PermissiveSecurity:
    """Allows every command, expands nothing and audits nothing."""

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
