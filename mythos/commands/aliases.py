"""Players' aliases: storage (in memory, written through), definition rules, expansion, commands.

The ``alias``/``aliases``/``unalias`` commands live here as plain async functions returning the
reply text, so the command table only has to route the verb. Expansion follows the syntax in
``alias_graph`` and is called only after ``AliasBoundsCache`` has accepted the alias, so it can
never run away; it still carries its own guards against a storage changed behind its back.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import networkx as nx

from mythos.commands.alias_graph import PLACEHOLDER, AliasGraph, AliasLimits, Problem, Segment, parse_body
from mythos.commands.validator import CommandValidator
from mythos.observability.logging import get_logger

__all__ = [
    "ALIAS_VERBS",
    "MAX_ALIASES",
    "MAX_BODY_LENGTH",
    "RESERVED_NAMES",
    "AliasChanged",
    "AliasCommands",
    "AliasError",
    "AliasPersistence",
    "AliasReply",
    "AliasStorage",
    "ExpansionLimitError",
    "InMemoryAliasPersistence",
    "PlayerAlias",
    "expand_alias",
    "split_head",
    "substitute",
    "validate_definition",
]

log = get_logger(__name__)

MAX_ALIASES = 50
LOAD_ATTEMPTS = 3
MAX_BODY_LENGTH = 500
RESERVED_NAMES = frozenset({"alias", "aliases", "unalias", "help"})
ALIAS_VERBS = frozenset({"alias", "aliases", "unalias"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")


@dataclass(frozen=True, slots=True)
class PlayerAlias:
    name: str
    command: str


class AliasError(ValueError):
    """A definition was refused; the message is the reply for the player.

    ``error_type`` is ``alias_cycle`` or ``alias_too_large`` when the definition would create a
    loop or a bomb (a security refusal, audited), None for a plain usage mistake.
    """

    def __init__(self, message: str, error_type: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.details: dict[str, Any] = details or {}


@dataclass(frozen=True, slots=True)
class AliasReply:
    """What ``alias`` answers: the text, and the refusal when there was one."""

    text: str
    refusal: AliasError | None = None
    details: dict[str, Any] = field(default_factory=dict)


AliasChanged = Callable[[int, str], Awaitable[None]]
"""Told (player_id, player_name) after a definition or removal was committed to persistence."""


class ExpansionLimitError(RuntimeError):
    """Expansion outgrew its bounds: only possible if storage changed after the bounds check."""


class AliasPersistence(Protocol):
    """Where aliases are kept for good (the database); every method may raise to refuse a write."""

    async def load_aliases(self, player_name: str) -> Sequence[tuple[str, str]]: ...
    async def save_alias(self, player_name: str, name: str, command: str) -> None: ...
    async def delete_alias(self, player_name: str, name: str) -> None: ...


class InMemoryAliasPersistence:
    """Persistence for tests and for running without a database."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, str]] = {}

    async def load_aliases(self, player_name: str) -> Sequence[tuple[str, str]]:
        return list(self.rows.get(player_name, {}).items())

    async def save_alias(self, player_name: str, name: str, command: str) -> None:
        self.rows.setdefault(player_name, {})[name] = command

    async def delete_alias(self, player_name: str, name: str) -> None:
        self.rows.get(player_name, {}).pop(name, None)


class AliasStorage:
    """A player's aliases in memory, written through to persistence before memory changes.

    ``get_all_aliases`` is synchronous (the graph is built from it on the command path);
    ``version`` changes on every change so caches know when to rebuild.
    """

    def __init__(self, persistence: AliasPersistence | None = None) -> None:
        self.persistence: AliasPersistence = persistence or InMemoryAliasPersistence()
        self._aliases: dict[str, dict[str, PlayerAlias]] = {}
        self._versions: dict[str, int] = {}
        self._counter = itertools.count(1)
        self._write_lock = asyncio.Lock()

    async def load(self, player_name: str) -> None:
        """Read a player's aliases from persistence (on login).

        A read that another server's change invalidated while it was in flight (`unload` moved
        the version on) may predate that change, so it is read again rather than kept; after
        LOAD_ATTEMPTS such reads the player stays unloaded and the next command tries again.
        """
        for _ in range(LOAD_ATTEMPTS):
            before = self._versions.get(player_name, 0)
            rows = await self.persistence.load_aliases(player_name)
            if self._versions.get(player_name, 0) == before:
                self._aliases[player_name] = {n.lower(): PlayerAlias(n.lower(), c) for n, c in rows}
                self._bump(player_name)
                return
        log.warning("alias_load_invalidated_repeatedly", player=player_name, attempts=LOAD_ATTEMPTS)

    async def ensure_loaded(self, player_name: str) -> None:
        """Load a player's aliases unless they are in memory already (first command after login)."""
        if player_name in self._aliases:
            return
        # Under the write lock: a load that finished after a definition would hide that definition.
        async with self._write_lock:
            if player_name not in self._aliases:
                await self.load(player_name)

    def is_loaded(self, player_name: str) -> bool:
        return player_name in self._aliases

    def unload(self, player_name: str) -> None:
        """Forget a player's aliases in memory (on logout, or when another server changed them);
        persistence keeps them and the next command reads them again."""
        self._aliases.pop(player_name, None)
        self._bump(player_name)

    def unload_all(self) -> None:
        """Forget every player's aliases (after changes from other servers may have been missed)."""
        for player_name in list(self._aliases):
            self.unload(player_name)

    def get_all_aliases(self, player_name: str) -> list[PlayerAlias]:
        return list(self._aliases.get(player_name, {}).values())

    def get_alias(self, player_name: str, name: str) -> PlayerAlias | None:
        return self._aliases.get(player_name, {}).get(name.lower())

    def version(self, player_name: str) -> int:
        return self._versions.get(player_name, 0)

    async def set_alias(self, player_name: str, name: str, command: str) -> None:
        key = name.lower()
        await self.persistence.save_alias(player_name, key, command)
        self._aliases.setdefault(player_name, {})[key] = PlayerAlias(key, command)
        self._bump(player_name)

    async def remove_alias(self, player_name: str, name: str) -> bool:
        key = name.lower()
        if key not in self._aliases.get(player_name, {}):
            return False
        await self.persistence.delete_alias(player_name, key)
        self._aliases[player_name].pop(key, None)
        self._bump(player_name)
        return True

    @property
    def write_lock(self) -> asyncio.Lock:
        """Held across check-then-write, so two definitions cannot race into a cycle."""
        return self._write_lock

    def _bump(self, player_name: str) -> None:
        self._versions[player_name] = next(self._counter)


# -- definition rules ------------------------------------------------------------------------------


class _Candidate:
    """The player's aliases as they would be after a definition (an AliasSource for AliasGraph)."""

    def __init__(self, aliases: list[PlayerAlias]) -> None:
        self.aliases = aliases

    def get_all_aliases(self, player_name: str) -> list[PlayerAlias]:
        return self.aliases


def validate_definition(current: Sequence[PlayerAlias], name: str, body: str, limits: AliasLimits) -> PlayerAlias:
    """The alias to store, or AliasError saying why it is refused (syntax, limits, loop, bomb)."""
    if not _NAME.fullmatch(name):
        raise AliasError("Alias names are 1-20 characters: a letter, then letters, digits or underscores.")
    key = name.lower()
    if key in RESERVED_NAMES:
        raise AliasError(f"'{key}' is reserved and cannot be an alias.")
    body = body.strip()
    if not body:
        raise AliasError("An alias needs a body: alias <name> <command>[; <command>...]")
    if len(body) > MAX_BODY_LENGTH:
        raise AliasError(f"An alias body is at most {MAX_BODY_LENGTH} characters.")
    ok, reason = CommandValidator.validate_command_content(body, max_length=MAX_BODY_LENGTH)
    if not ok:
        raise AliasError(f"Alias refused: {reason}.")
    others = [a for a in current if a.name != key]
    if len(others) >= MAX_ALIASES:
        raise AliasError(f"You already have {MAX_ALIASES} aliases; remove one with 'unalias <name>'.")
    segments = parse_body(body, {a.name for a in others} | {key})
    if not segments:
        raise AliasError("An alias needs at least one command.")
    for seg in segments:
        if CommandValidator.command_verb(seg.text) in ALIAS_VERBS:
            raise AliasError("An alias cannot define or remove aliases.")
    alias = PlayerAlias(key, "; ".join(seg.text for seg in segments))
    graph = AliasGraph(_Candidate([*others, alias]), limits)
    graph.build_graph("")
    for victim in [key, *sorted(nx.ancestors(graph.graph, key))]:
        verdict = graph.verdict(victim, 0)
        if not verdict.ok:
            prefix = "" if victim == key else f"It would break alias '{victim}': "
            cyclic = verdict.problem is Problem.CYCLE
            details: dict[str, Any] = {"alias": victim, "problem": str(verdict.problem)}
            if verdict.path:
                details["path"] = list(verdict.path)
            raise AliasError(prefix + verdict.message(limits), "alias_cycle" if cyclic else "alias_too_large", details)
    return alias


# -- expansion -------------------------------------------------------------------------------------


def split_head(line: str) -> tuple[str, str]:
    """``(first word, rest)`` of a stripped line; the rest keeps the player's spacing."""
    words = line.strip().split(maxsplit=1)
    if not words:
        return "", ""
    return words[0], words[1] if len(words) > 1 else ""


def substitute(template: str, args: str) -> str:
    """Replace ``$1``..``$9`` with the arguments' words and ``$*`` with all of them, in one pass."""
    words = args.split()

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "*":
            return args
        index = int(key) - 1
        return words[index] if index < len(words) else ""

    return PLACEHOLDER.sub(value, template)


def expand_alias(storage: AliasStorage, player_name: str, alias_name: str, args: str, limits: AliasLimits) -> list[str]:
    """The commands an alias call runs, in order. Call only after the bounds check accepted it."""
    aliases = {a.name: a for a in storage.get_all_aliases(player_name)}
    out: list[str] = []
    budget = [limits.max_length]

    def walk(name: str, call_args: str, depth: int) -> None:
        if depth > limits.max_depth:
            raise ExpansionLimitError("alias nesting changed during expansion")
        alias = aliases[name]
        for seg in _segments(alias, aliases):
            if seg.call is not None:
                passed = substitute(seg.args, call_args)
                budget[0] -= len(passed)
                if budget[0] < 0:
                    raise ExpansionLimitError("alias expansion changed during expansion")
                walk(seg.call, passed, depth + 1)
                continue
            command = substitute(seg.text, call_args)
            budget[0] -= len(command)
            if len(out) >= limits.max_commands or budget[0] < 0:
                raise ExpansionLimitError("alias expansion changed during expansion")
            out.append(command)

    walk(alias_name.lower(), args, 1)
    return out


def _segments(alias: PlayerAlias, aliases: dict[str, PlayerAlias]) -> list[Segment]:
    return parse_body(alias.command, aliases)


# -- the commands ----------------------------------------------------------------------------------


class AliasCommands:
    """``alias``, ``aliases`` and ``unalias``: each returns the text to show the player."""

    def __init__(self, storage: AliasStorage, limits: AliasLimits | None = None) -> None:
        self.storage = storage
        self.limits = limits or AliasLimits()
        # Several servers as one world: tells the others to drop their copy (alias_invalidation).
        self.on_change: AliasChanged | None = None

    async def alias(self, player_name: str, args: str) -> str:
        """``alias <name> <body>`` defines or replaces; ``alias <name>`` shows one."""
        return (await self.define(player_name, args)).text

    async def _changed(self, player_id: int | None, player_name: str) -> None:
        """After the commit: a failure to tell the other servers must not undo the change."""
        if self.on_change is None or player_id is None:
            return
        try:
            await self.on_change(player_id, player_name)
        except Exception as exc:
            log.warning("alias_change_not_announced", player=player_name, error=repr(exc))

    async def define(self, player_name: str, args: str, *, player_id: int | None = None) -> AliasReply:
        """``alias`` with the refusal kept, so the command can answer it as a security refusal."""
        name, body = split_head(args)
        if not name:
            return AliasReply("Usage: alias <name> <command>[; <command>...]   (see 'aliases')")
        if not body:
            found = self.storage.get_alias(player_name, name)
            text = f"{found.name} = {found.command}" if found else f"You have no alias '{name.lower()}'."
            return AliasReply(text)
        async with self.storage.write_lock:
            try:
                current = self.storage.get_all_aliases(player_name)
                alias = validate_definition(current, name, body, self.limits)
            except AliasError as refused:
                return AliasReply(str(refused), refused, refused.details)
            replaced = self.storage.get_alias(player_name, alias.name) is not None
            await self.storage.set_alias(player_name, alias.name, alias.command)
        await self._changed(player_id, player_name)
        return AliasReply(f"Alias '{alias.name}' {'replaced' if replaced else 'defined'}: {alias.command}")

    async def aliases(self, player_name: str, args: str = "") -> str:
        """List the player's aliases."""
        found = sorted(self.storage.get_all_aliases(player_name), key=lambda a: a.name)
        if not found:
            return "You have no aliases. Define one with: alias <name> <command>"
        lines = [f"Your aliases ({len(found)}/{MAX_ALIASES}):"]
        lines.extend(f"  {a.name} = {a.command}" for a in found)
        return "\n".join(lines)

    async def unalias(self, player_name: str, args: str, *, player_id: int | None = None) -> str:
        name, _ = split_head(args)
        if not name:
            return "Usage: unalias <name>"
        async with self.storage.write_lock:
            removed = await self.storage.remove_alias(player_name, name)
        if removed:
            await self._changed(player_id, player_name)
        return f"Alias '{name.lower()}' removed." if removed else f"You have no alias '{name.lower()}'."
