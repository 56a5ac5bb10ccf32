"""Player commands: look, movement, chat, who, help, quit."""

from __future__ import annotations

from mythos.commands.context import CommandContext, CommandResult, Handler
from mythos.commands.help_text import ADMIN_HELP_LINES, ALIAS_HELP_LINES, HELP_LINES
from mythos.commands.parser import ParsedCommand, normalize_direction
from mythos.realtime.chat import ChatMessage
from mythos.world.movement import relocate

__all__ = [
    "BUILTIN_COMMANDS",
    "CHAT_QUEUED",
    "CHAT_UNAVAILABLE",
    "MAX_CHAT_LENGTH",
    "SESSION_ELSEWHERE",
    "Handler",
]

MAX_CHAT_LENGTH = 500
CHAT_UNAVAILABLE = (
    "Chat is unavailable right now and your message was not kept: please send it again later. "
    "Movement, look and other commands still work."
)
SESSION_ELSEWHERE = "Your session is open on another server of this world: move from there (reconnect to play here)."
CHAT_QUEUED = (
    "Your message could not be delivered: the message service is unavailable. "
    "It is queued and will be resent when the service recovers. "
    "Movement, look and other commands still work."
)


async def look(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    services = ctx.services
    state = services.broadcaster.room_state_data(ctx.actor.room_id)
    room = state["room"]
    others = [name for name in state["occupants"] if name != ctx.actor.name]
    lines = [room["name"], room["description"]]
    exits = ", ".join(room["exits"]) or "none"
    lines.append(f"Exits: {exits}.")
    if state["npcs"]:
        lines.append("You notice " + ", ".join(state["npcs"]) + ".")
    if others:
        lines.append("Also here: " + ", ".join(others) + ".")
    services.broadcaster.send_room_state(ctx.actor.id, room["id"], state)  # built once per look
    return CommandResult("\n".join(lines), data={"room_id": room["id"]})


async def go(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    if not cmd.args:
        return CommandResult.fail("Go where? Try: go north (or n, s, e, w, u, d).")
    direction = normalize_direction(cmd.args[0])
    if direction is None:
        return CommandResult.fail(f"'{cmd.args[0]}' is not a direction. Use north, south, east, west, up or down.")
    world = ctx.services.world
    here = world.room_or_start(ctx.actor.room_id)
    target = world.exit_from(here.id, direction)
    if target is None:
        return CommandResult.fail(f"You cannot go {direction} from here.", "no_exit")
    if not ctx.services.connections.holds_session(ctx.actor.id):
        # Several servers: only the one holding the player's session writes their room.
        return CommandResult.fail(SESSION_ELSEWHERE, "session_elsewhere")
    await relocate(ctx.services, ctx.actor.id, ctx.actor.name, here.id, target, direction=direction)
    return CommandResult(f"You go {direction} to {target.name}.", data={"room_id": target.id})


def _muted(ctx: CommandContext) -> CommandResult | None:
    if ctx.actor.is_muted:
        return CommandResult.fail("You have been muted; nobody hears you.", "muted")
    return None


def _chat_text(text: str, verb: str) -> CommandResult | None:
    if not text:
        return CommandResult.fail(f"{verb.capitalize()} what?")
    if len(text) > MAX_CHAT_LENGTH:
        return CommandResult.fail(f"That is too long to {verb} (at most {MAX_CHAT_LENGTH} characters).")
    return None


async def _publish(ctx: CommandContext, message: ChatMessage, echo: str) -> CommandResult:
    outcome = await ctx.services.broadcaster.publish_chat(message)
    if not outcome.delivered:
        return CommandResult(
            CHAT_QUEUED if outcome.queued_id else CHAT_UNAVAILABLE,
            ok=False,
            error_type="chat_unavailable",
            data={"reason": outcome.reason, "queued": outcome.queued_id is not None, "dlq_id": outcome.queued_id},
        )
    return CommandResult(echo, data={"message_id": message.message_id, "channel": message.channel})


async def say(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    refusal = _muted(ctx) or _chat_text(cmd.rest, "say")
    if refusal:
        return refusal
    message = ChatMessage(ctx.actor.id, ctx.actor.name, "say", cmd.rest, room_id=ctx.actor.room_id)
    # The chat event reaches the speaker too (from NATS); the result carries no echo text.
    return await _publish(ctx, message, "")


async def emote(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    refusal = _muted(ctx) or _chat_text(cmd.rest, "emote")
    if refusal:
        return refusal
    message = ChatMessage(ctx.actor.id, ctx.actor.name, "emote", cmd.rest, room_id=ctx.actor.room_id)
    return await _publish(ctx, message, "")


async def whisper(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    refusal = _muted(ctx)
    if refusal:
        return refusal
    if len(cmd.args) < 2:
        return CommandResult.fail("Usage: whisper <player> <message>")
    target_name = cmd.args[0]
    text = cmd.rest[len(target_name) :].strip()
    refusal = _chat_text(text, "whisper")
    if refusal:
        return refusal
    target = await ctx.services.db.get_player_by_name(target_name)
    if target is None:
        return CommandResult.fail(f"There is nobody called {target_name}.", "unknown_player")
    if target.id == ctx.actor.id:
        return CommandResult.fail("You mutter to yourself. Nobody else hears.", "invalid_target")
    message = ChatMessage(
        ctx.actor.id,
        ctx.actor.name,
        "whisper",
        text,
        room_id=ctx.actor.room_id,
        target_id=target.id,
        target_name=target.username,
    )
    return await _publish(ctx, message, f'You whisper to {target.username}: "{text}"')


async def who(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    """Everyone online in the world: this server's players and, with several servers, the
    players every other live server reports."""
    world = ctx.services.world
    online = ctx.services.connections.roster()
    lines = [f"{len(online)} investigator(s) online:"]
    lines += [f"  {c.name} - {world.room_or_start(c.room_id).name}" for c in online]
    return CommandResult("\n".join(lines), data={"players": [c.name for c in online]})


async def help_(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    lines = ["Commands:"] + [f"  {usage}" for usage in (*HELP_LINES, *ALIAS_HELP_LINES)]
    if ctx.actor.is_admin:
        lines += ["Admin commands:"] + [f"  {usage}" for usage in ADMIN_HELP_LINES]
    return CommandResult("\n".join(lines))


async def quit_(ctx: CommandContext, cmd: ParsedCommand) -> CommandResult:
    return CommandResult("The fog closes behind you. Goodbye.", quit=True)


BUILTIN_COMMANDS: dict[str, Handler] = {
    "look": look,
    "l": look,
    "go": go,
    "move": go,
    "say": say,
    "emote": emote,
    "me": emote,
    "whisper": whisper,
    "tell": whisper,
    "who": who,
    "help": help_,
    "?": help_,
    "quit": quit_,
}
