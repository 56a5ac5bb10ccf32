"""Alias storage (write-through), definition rules, expansion and the alias commands."""

from __future__ import annotations

import asyncio

import pytest

from mythos.commands.alias_graph import AliasLimits
from mythos.commands.aliases import (
    MAX_ALIASES,
    MAX_BODY_LENGTH,
    AliasCommands,
    AliasError,
    AliasStorage,
    ExpansionLimitError,
    InMemoryAliasPersistence,
    PlayerAlias,
    expand_alias,
    split_head,
    substitute,
    validate_definition,
)

LIMITS = AliasLimits()


class FailingPersistence(InMemoryAliasPersistence):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def save_alias(self, player_name: str, name: str, command: str) -> None:
        if self.fail:
            raise OSError("database down")
        await super().save_alias(player_name, name, command)

    async def delete_alias(self, player_name: str, name: str) -> None:
        if self.fail:
            raise OSError("database down")
        await super().delete_alias(player_name, name)


class SlowPersistence(InMemoryAliasPersistence):
    async def save_alias(self, player_name: str, name: str, command: str) -> None:
        await asyncio.sleep(0)  # lets a second definition interleave if nothing serialises them
        await super().save_alias(player_name, name, command)


def defs(**bodies: str) -> list[PlayerAlias]:
    return [PlayerAlias(n, b) for n, b in bodies.items()]


# -- storage -----------------------------------------------------------------------------------


async def test_storage_writes_through_and_reloads() -> None:
    persistence = InMemoryAliasPersistence()
    storage = AliasStorage(persistence)
    await storage.set_alias("ann", "Hi", "say hello")
    assert persistence.rows == {"ann": {"hi": "say hello"}}
    assert storage.get_alias("ann", "HI") == PlayerAlias("hi", "say hello")
    storage.unload("ann")
    assert storage.get_all_aliases("ann") == []
    await storage.load("ann")
    assert storage.get_all_aliases("ann") == [PlayerAlias("hi", "say hello")]
    assert await storage.remove_alias("ann", "hi")
    assert persistence.rows == {"ann": {}}
    assert not await storage.remove_alias("ann", "hi")


async def test_versions_change_on_every_change_and_never_repeat() -> None:
    storage = AliasStorage()
    seen = {storage.version("ann")}
    await storage.set_alias("ann", "a", "look")
    seen.add(storage.version("ann"))
    storage.unload("ann")
    seen.add(storage.version("ann"))
    await storage.load("ann")
    seen.add(storage.version("ann"))
    assert len(seen) == 4
    assert storage.version("bob") == 0


async def test_failed_write_leaves_memory_unchanged() -> None:
    persistence = FailingPersistence()
    storage = AliasStorage(persistence)
    await storage.set_alias("ann", "a", "look")
    version = storage.version("ann")
    persistence.fail = True
    with pytest.raises(OSError):
        await storage.set_alias("ann", "a", "say changed")
    with pytest.raises(OSError):
        await storage.remove_alias("ann", "a")
    assert storage.get_alias("ann", "a") == PlayerAlias("a", "look")
    assert storage.version("ann") == version


# -- definition rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1abc", "_a", "a-b", "a" * 21, "héllo", "a b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(AliasError, match="1-20 characters"):
        validate_definition([], name, "look", LIMITS)


@pytest.mark.parametrize("name", ["alias", "ALIASES", "unalias", "help"])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(AliasError, match="reserved"):
        validate_definition([], name, "look", LIMITS)


def test_good_definition_is_normalised() -> None:
    alias = validate_definition([], "Hi_2", "  say hello $1 ;; wave  ", LIMITS)
    assert alias == PlayerAlias("hi_2", "say hello $1; wave")
    assert validate_definition([], "a" * 20, "look", LIMITS).name == "a" * 20


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "needs a body"),
        (" ; ; ", "at least one command"),
        ("x" * (MAX_BODY_LENGTH + 1), "at most"),
        ("say <script>", "HTML script"),
        ("say a\nb", "control character"),
        ("alias b look", "cannot define"),
        ("look; unalias a", "cannot define"),
    ],
)
def test_bad_bodies_are_refused(body: str, message: str) -> None:
    with pytest.raises(AliasError, match=message):
        validate_definition([], "a", body, LIMITS)


def test_at_most_fifty_aliases_but_replacing_is_fine() -> None:
    current = [PlayerAlias(f"a{i}", "look") for i in range(MAX_ALIASES)]
    with pytest.raises(AliasError, match=str(MAX_ALIASES)):
        validate_definition(current, "extra", "look", LIMITS)
    assert validate_definition(current, "a0", "say replaced", LIMITS).command == "say replaced"


def test_definition_that_closes_a_cycle_is_refused_with_the_path() -> None:
    with pytest.raises(AliasError, match="a -> b -> c -> a"):
        validate_definition(defs(b="c", c="a"), "a", "b", LIMITS)
    with pytest.raises(AliasError, match="a -> a"):
        validate_definition([], "a", "look; a", LIMITS)


def test_definition_that_makes_a_bomb_is_refused() -> None:
    current = defs(b="c; c; c; c", c="say x; say y")
    with pytest.raises(AliasError, match="more than 10 commands"):
        validate_definition(current, "a", "b; b", LIMITS)
    with pytest.raises(AliasError, match="characters"):
        validate_definition([], "a", "say " + "x" * 490, AliasLimits(max_length=100))


def test_redefinition_that_breaks_a_caller_names_it() -> None:
    current = defs(top="mid; mid; mid", mid="say x")
    with pytest.raises(AliasError, match="break alias 'top'"):
        validate_definition(current, "mid", "say 1; say 2; say 3; say 4", LIMITS)


# -- expansion -----------------------------------------------------------------------------------


def test_split_head() -> None:
    assert split_head("  go   north  ") == ("go", "north")
    assert split_head("look") == ("look", "")
    assert split_head("   ") == ("", "")


def test_substitute_positional_and_all() -> None:
    assert substitute("say $1-$2-$9 [$*]", "  a b  c ") == "say a-b- [  a b  c ]"
    assert substitute("say $1", "") == "say "
    assert substitute("cost $5", "1 2 3 4 $1") == "cost $1", "values are not substituted again"


async def make_storage(**bodies: str) -> AliasStorage:
    storage = AliasStorage()
    for name, body in bodies.items():
        await storage.set_alias("ann", name, body)
    return storage


async def test_expand_nested_with_arguments() -> None:
    storage = await make_storage(greet="say hi $1; wave $1", both="greet $2; greet $1")
    assert expand_alias(storage, "ann", "BOTH", "bob cy", LIMITS) == [
        "say hi cy",
        "wave cy",
        "say hi bob",
        "wave bob",
    ]


async def test_arguments_cannot_inject_commands_or_calls() -> None:
    storage = await make_storage(s="say $*", t="$1 x")
    assert expand_alias(storage, "ann", "s", "a; teleport bob", LIMITS) == ["say a; teleport bob"]
    assert expand_alias(storage, "ann", "t", "s", LIMITS) == ["s x"], "a dynamic head is never a call"


async def test_expansion_guards_when_storage_changed_behind_the_check() -> None:
    storage = await make_storage(a="b", b="a")
    with pytest.raises(ExpansionLimitError):
        expand_alias(storage, "ann", "a", "", LIMITS)
    storage = await make_storage(a="say 1; say 2; say 3")
    with pytest.raises(ExpansionLimitError):
        expand_alias(storage, "ann", "a", "", AliasLimits(max_commands=2))
    with pytest.raises(ExpansionLimitError):
        expand_alias(storage, "ann", "a", "", AliasLimits(max_length=10))
    storage = await make_storage(a="b $* $*", b="look")
    with pytest.raises(ExpansionLimitError):
        expand_alias(storage, "ann", "a", "x" * 20, AliasLimits(max_length=30))


# -- commands ------------------------------------------------------------------------------------


async def test_alias_commands_replies() -> None:
    commands = AliasCommands(AliasStorage())
    assert "no aliases" in await commands.aliases("ann")
    assert await commands.alias("ann", "hi say hello $1") == "Alias 'hi' defined: say hello $1"
    assert await commands.alias("ann", "hi say hey") == "Alias 'hi' replaced: say hey"
    assert await commands.alias("ann", "HI") == "hi = say hey"
    assert await commands.alias("ann", "nope") == "You have no alias 'nope'."
    assert (await commands.alias("ann", "")).startswith("Usage")
    assert "1/50" in await commands.aliases("ann")
    assert "loop" in await commands.alias("ann", "hi hi")
    assert await commands.unalias("ann", "hi") == "Alias 'hi' removed."
    assert await commands.unalias("ann", "hi") == "You have no alias 'hi'."
    assert (await commands.unalias("ann", "")).startswith("Usage")


async def test_concurrent_definitions_cannot_race_into_a_cycle() -> None:
    storage = AliasStorage(SlowPersistence())
    commands = AliasCommands(storage)
    replies = await asyncio.gather(commands.alias("ann", "a b"), commands.alias("ann", "b a"))
    assert sum("loop" in r for r in replies) == 1
    assert len(storage.get_all_aliases("ann")) == 1
