"""How command security is wired into the server: the default service, alias persistence in the
database, the alias commands, lazy loading, and what happens when a player goes offline."""

from __future__ import annotations

import pytest

from mythos.commands.alias_handlers import UNAVAILABLE
from mythos.commands.alias_persistence import DatabaseAliasPersistence, UnknownPlayerError
from mythos.commands.aliases import AliasStorage
from mythos.commands.context import GameServices
from mythos.commands.pipeline import process_command_unified
from mythos.commands.security_service import CommandSecurityService
from mythos.commands.security_setup import audit_dir, build_command_security
from mythos.config import AppConfig
from mythos.realtime.connections import ConnectionManager
from mythos.services import AppServices
from tests.factories import make_player
from tests.security_doubles import PermissiveSecurity
from tests.unit.commands.conftest import Seat, seat


async def test_the_real_security_is_the_default(game: AppServices, config: AppConfig) -> None:
    assert isinstance(game.security, CommandSecurityService)
    assert game.game.security is game.security and game.game.aliases is not None
    assert game.audit is not None
    assert game.security.limiter.max_commands == config.security.rate_limit_max_commands
    a = await seat(game, "Alice")
    await a.run("teleport Alice")
    [line] = (audit_dir(config.logging.log_base)).glob("audit-*.jsonl")
    assert '"error_type":"forbidden"' in line.read_text()


async def test_database_persistence_saves_replaces_loads_and_deletes(game: AppServices) -> None:
    await make_player(game.db, "Keeper")
    store = DatabaseAliasPersistence(game.db)
    await store.save_alias("keeper", "hi", "say hi")
    await store.save_alias("Keeper", "go2", "n; n")
    await store.save_alias("KEEPER", "hi", "say hello")
    assert await store.load_aliases("Keeper") == [("hi", "say hello"), ("go2", "n; n")]
    await store.delete_alias("Keeper", "hi")
    assert await store.load_aliases("Keeper") == [("go2", "n; n")]
    assert await store.load_aliases("Nobody") == []
    with pytest.raises(UnknownPlayerError):
        await store.save_alias("Nobody", "x", "look")
    with pytest.raises(UnknownPlayerError):
        await store.delete_alias("Nobody", "x")


async def test_aliases_load_lazily_on_the_first_command(game: AppServices) -> None:
    a = await seat(game, "Alice")
    await DatabaseAliasPersistence(game.db).save_alias("Alice", "peek", "look")
    security = game.security
    assert isinstance(security, CommandSecurityService)
    assert not security.aliases.is_loaded("Alice")
    result = await a.run("peek")
    assert result.ok and "Exits:" in result.text
    assert security.aliases.is_loaded("Alice")
    await security.aliases.ensure_loaded("Alice")  # already there: no reload


async def test_going_offline_drops_aliases_but_keeps_the_rate_window(game: AppServices) -> None:
    a = await seat(game, "Alice")
    security = game.security
    assert isinstance(security, CommandSecurityService)
    assert (await a.run("alias peek look")).ok
    for _ in range(security.limiter.max_commands - 1):
        assert (await a.run("look")).ok
    game.connections.disconnect(a.conn)
    assert not security.aliases.is_loaded("Alice")
    # Reconnecting does not buy a fresh budget.
    conn = game.connections.connect(a.player_id, "Alice", game.world.start_room_id, "s2-Alice", "test")
    b = Seat(game, a.player_id, "Alice", conn)
    refused = await b.run("peek")
    assert (refused.refused, refused.error_type) == (True, "rate_limited")


async def test_alias_commands_answer_when_aliases_are_not_available(game: AppServices) -> None:
    a = await seat(game, "Alice")
    g = game.game
    bare = GameServices(g.world, g.db, g.connections, g.broadcaster, PermissiveSecurity())
    for line in ("alias x look", "aliases", "unalias x"):
        result = await process_command_unified(line, await a.actor(), bare, source="test")
        assert (result.ok, result.text, result.error_type) == (False, UNAVAILABLE, "unknown_command")


async def test_alias_usage_mistakes_are_plain_failures(game: AppServices) -> None:
    a = await seat(game, "Alice")
    result = await a.run("alias 9lives look")
    assert (result.ok, result.refused, result.error_type) == (False, False, "invalid_arguments")
    assert "help" in (await a.run("help")).text and "alias <name>" in (await a.run("help")).text


async def test_a_kit_with_another_security_still_unloads_aliases(game: AppServices, config: AppConfig) -> None:
    kit = build_command_security(config.security, config.logging.log_base, game.db, PermissiveSecurity())
    assert isinstance(kit.security, PermissiveSecurity)
    await make_player(game.db, "Bob")
    await kit.aliases.ensure_loaded("Bob")
    kit.player_offline(0, "Bob")
    assert not kit.aliases.is_loaded("Bob")


def test_on_offline_fires_when_the_last_connection_closes() -> None:
    manager = ConnectionManager(buffer_size=4)
    offline: list[tuple[int, str]] = []
    manager.on_offline = lambda pid, name: offline.append((pid, name))
    one = manager.connect(7, "Ann", "hall", "s", "ws")
    two = manager.connect(7, "Ann", "hall", "s", "sse")
    manager.disconnect(one)
    assert offline == []
    manager.disconnect(two)
    assert offline == [(7, "Ann")]


def test_a_failing_offline_listener_does_not_break_disconnect() -> None:
    manager = ConnectionManager(buffer_size=4, queue_size=1)

    def broken(pid: int, name: str) -> None:
        raise RuntimeError("listener bug")

    manager.on_offline = broken
    conn = manager.connect(7, "Ann", "hall", "s", "ws")
    manager.send_to_player(7, "system", {"message": "one"})
    manager.send_to_player(7, "system", {"message": "two"})  # overflows: the connection is dropped
    assert conn.closed and not manager.is_online(7)


async def test_storage_without_persistence_is_in_memory() -> None:
    storage = AliasStorage()
    await storage.ensure_loaded("ann")
    await storage.set_alias("ann", "x", "look")
    assert [a.name for a in storage.get_all_aliases("ann")] == ["x"]
