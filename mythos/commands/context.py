"""What a command handler sees: who runs it, the game services, and what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mythos.commands.actor import Actor
from mythos.commands.parser import ParsedCommand

if TYPE_CHECKING:
    from mythos.commands.aliases import AliasCommands
    from mythos.commands.security import CommandSecurity
    from mythos.db import Database
    from mythos.realtime.broadcast import Broadcaster
    from mythos.realtime.connections import ConnectionManager
    from mythos.world import World

__all__ = ["Actor", "CommandContext", "CommandResult", "GameServices", "Handler", "RefusalCounter"]


class RefusalCounter(Protocol):
    def record_refusal(self, error_type: str) -> None: ...


@dataclass
class GameServices:
    """Everything commands may touch; built once by the app."""

    world: World
    db: Database
    connections: ConnectionManager
    broadcaster: Broadcaster
    security: CommandSecurity
    # None when the app runs without players' aliases (tests of the game alone).
    aliases: AliasCommands | None = None
    # Counts refused commands by error type for GET /metrics; None in tests of the game alone.
    refusals: RefusalCounter | None = None


@dataclass(frozen=True)
class CommandContext:
    actor: Actor
    services: GameServices
    source: str = "ws"
    ip_address: str | None = None


@dataclass
class CommandResult:
    """A command's answer. `refused` marks a security refusal (sent as an error frame)."""

    text: str
    ok: bool = True
    error_type: str | None = None
    retry_after: float | None = None
    refused: bool = False
    quit: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fail(cls, text: str, error_type: str = "invalid_arguments") -> CommandResult:
        return cls(text, ok=False, error_type=error_type)

    def envelope_data(self, command: str) -> dict[str, Any]:
        """The `data` of a command_result event."""
        out: dict[str, Any] = {"command": command, "text": self.text, "ok": self.ok, **self.data}
        if self.error_type:
            out["error_type"] = self.error_type
        if self.quit:
            out["quit"] = True
        return out


Handler = Callable[[CommandContext, ParsedCommand], Awaitable[CommandResult]]
"""A command: what it sees, the parsed line, and its answer."""
