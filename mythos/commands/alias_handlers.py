"""The ``alias``, ``aliases`` and ``unalias`` commands, routed like any other command.

Their words live in ``AliasCommands``; here they become ``CommandResult``s. A definition
refused because it would create a loop or a bomb is a security refusal (an error frame with
``alias_cycle`` / ``alias_too_large``, audited with the alias and the loop's path).
"""

from __future__ import annotations

from mythos.commands.aliases import AliasCommands
from mythos.commands.context import CommandContext, CommandResult, Handler
from mythos.commands.help_text import ALIAS_HELP_LINES
from mythos.commands.parser import ParsedCommand

__all__ = ["ALIAS_COMMANDS", "ALIAS_HELP_LINES"]

UNAVAILABLE = "Aliases are not available on this server."


def _commands(ctx: CommandContext) -> AliasCommands | None:
    return ctx.services.aliases


async def alias(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    commands = _commands(ctx)
    if commands is None:
        return CommandResult.fail(UNAVAILABLE, "unknown_command")
    reply = await commands.define(ctx.actor.name, cmd.rest, player_id=ctx.actor.id)
    refusal = reply.refusal
    if refusal is None:
        return CommandResult(reply.text)
    if refusal.error_type is None:
        return CommandResult.fail(reply.text, "invalid_arguments")
    return CommandResult(reply.text, ok=False, error_type=refusal.error_type, refused=True, data=reply.details)


async def aliases(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    commands = _commands(ctx)
    if commands is None:
        return CommandResult.fail(UNAVAILABLE, "unknown_command")
    return CommandResult(await commands.aliases(ctx.actor.name, cmd.rest))


async def unalias(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    commands = _commands(ctx)
    if commands is None:
        return CommandResult.fail(UNAVAILABLE, "unknown_command")
    return CommandResult(await commands.unalias(ctx.actor.name, cmd.rest, player_id=ctx.actor.id))


ALIAS_COMMANDS: dict[str, Handler] = {"alias": alias, "aliases": aliases, "unalias": unalias}
