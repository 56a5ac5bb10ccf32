"""The lines of ``help``, by group. Below every command module, so ``help`` can list admin and
alias commands without the command modules importing each other."""

from __future__ import annotations

__all__ = ["ADMIN_HELP_LINES", "ALIAS_HELP_LINES", "HELP_LINES"]

HELP_LINES = (
    "look - describe your surroundings",
    "go <direction> (or n, s, e, w, u, d) - move",
    "say <text> (or 'text) - speak to the room",
    "emote <action> (or :action) - act, as seen by the room",
    "whisper <player> <text> - a private message",
    "who - who is online",
    "help - this list",
    "quit - leave the game",
)

ALIAS_HELP_LINES = (
    "alias <name> <command>[; <command>...] - define a shortcut ($1..$9, $* take its words)",
    "aliases - list your aliases; unalias <name> - remove one",
)

ADMIN_HELP_LINES = (
    "teleport <player> [room_id] - bring a player here (or send them to a room)",
    "goto <player> - go to a player's room",
    "grant admin <player> / revoke admin <player>",
    "mute <player> / unmute <player>",
)
