"""Admin-only commands: teleport, goto, grant/revoke admin, mute/unmute."""

from __future__ import annotations

from mythos.commands.context import CommandContext, CommandResult, Handler
from mythos.commands.help_text import ADMIN_HELP_LINES
from mythos.commands.parser import ParsedCommand
from mythos.db import Player
from mythos.realtime.events import EventType
from mythos.world.movement import relocate

__all__ = ["ADMIN_COMMANDS", "ADMIN_HELP_LINES"]


async def _target(ctx: CommandContext, cmd: ParsedCommand, usage: str) -> Player | CommandResult:
    args = list(cmd.args)
    if cmd.verb in ("grant", "revoke"):
        args = [a for a in args if a.lower() != "admin"]
    if not args:
        return CommandResult.fail(f"Usage: {usage}")
    player = await ctx.services.db.get_player_by_name(args[0])
    if player is None:
        return CommandResult.fail(f"There is nobody called {args[0]}.", "unknown_player")
    return player


def _notify(ctx: CommandContext, player_id: int, message: str) -> None:
    ctx.services.connections.send_to_player(player_id, EventType.SYSTEM, {"message": message})


async def teleport(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    """teleport <player> [room_id]: bring a player here, or send them to a room."""
    target = await _target(ctx, cmd, "teleport <player> [room_id]")
    if isinstance(target, CommandResult):
        return target
    world = ctx.services.world
    room_id = cmd.args[1] if len(cmd.args) > 1 else ctx.actor.room_id
    room = world.get(room_id)
    if room is None:
        return CommandResult.fail(f"There is no room {room_id!r}.", "unknown_room")
    await relocate(ctx.services, target.id, target.username, target.room_id, room)
    _notify(ctx, target.id, f"{ctx.actor.name} pulls you through the fabric of space.")
    return CommandResult(f"{target.username} is now in {room.name}.", data={"room_id": room.id})


async def goto(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    target = await _target(ctx, cmd, "goto <player>")
    if isinstance(target, CommandResult):
        return target
    room = ctx.services.world.room_or_start(target.room_id)
    await relocate(ctx.services, ctx.actor.id, ctx.actor.name, ctx.actor.room_id, room)
    return CommandResult(f"You step through the angles to {room.name}.", data={"room_id": room.id})


_FLAG_MESSAGES: dict[tuple[str, bool], tuple[str, str]] = {
    ("is_admin", True): ("granted admin rights to", "You have been granted admin rights."),
    ("is_admin", False): ("revoked admin rights from", "Your admin rights were revoked."),
    ("is_muted", True): ("muted", "You have been muted."),
    ("is_muted", False): ("unmuted", "You can speak again."),
}


async def _set_flag(ctx: CommandContext, cmd: ParsedCommand, field: str, value: bool, usage: str) -> CommandResult:
    target = await _target(ctx, cmd, usage)
    if isinstance(target, CommandResult):
        return target
    if field == "is_admin" and not value and target.id == ctx.actor.id:
        return CommandResult.fail("You cannot revoke your own admin rights.", "invalid_target")
    await ctx.services.db.update_player(target.id, **{field: value})
    verb, notice = _FLAG_MESSAGES[(field, value)]
    _notify(ctx, target.id, notice)
    return CommandResult(f"You {verb} {target.username}.")


async def grant(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    return await _set_flag(ctx, cmd, "is_admin", True, "grant admin <player>")


async def revoke(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    return await _set_flag(ctx, cmd, "is_admin", False, "revoke admin <player>")


async def mute(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    return await _set_flag(ctx, cmd, "is_muted", True, "mute <player>")


async def unmute(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    return await _set_flag(ctx, cmd, "is_muted", False, "unmute <player>")


ADMIN_COMMANDS: dict[str, Handler] = {
    "teleport": teleport,
    "goto": goto,
    "grant": grant,
    "revoke": revoke,
    "mute": mute,
    "unmute": unmute,
}
