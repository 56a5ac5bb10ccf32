"""Commands: one pipeline (`process_command_unified`) for every path, parser, builtin and admin
commands, and the security seam the command-security package plugs into."""

from mythos.commands.context import Actor, CommandContext, CommandResult, GameServices
from mythos.commands.pipeline import process_command_unified
from mythos.commands.security import CommandSecurity, SecurityVerdict

__all__ = [
    "Actor",
    "CommandContext",
    "CommandResult",
    "CommandSecurity",
    "GameServices",
    "SecurityVerdict",
    "process_command_unified",
]
