"""Admin commands and their permission check."""

from __future__ import annotations

import pytest

from mythos.services import AppServices
from tests.unit.commands.conftest import seat


@pytest.mark.parametrize(
    "command", ["teleport Bob", "goto Bob", "grant admin Bob", "revoke admin Bob", "mute Bob", "unmute Bob"]
)
async def test_non_admins_are_refused(game: AppServices, command: str) -> None:
    a = await seat(game, "Alice")
    await seat(game, "Bob")
    result = await a.run(command)
    assert (result.ok, result.error_type) == (False, "forbidden")


async def test_admin_help_lists_admin_commands(game: AppServices) -> None:
    root = await seat(game, "Root", admin=True)
    assert "teleport" in (await root.run("help")).text


async def test_teleport_brings_player_here_or_to_a_room(game: AppServices) -> None:
    root = await seat(game, "Root", admin=True, room_id="witch_attic")
    bob = await seat(game, "Bob")
    result = await root.run("teleport Bob")
    assert result.ok
    stored = await game.db.get_player(bob.player_id)
    assert stored is not None and stored.room_id == "witch_attic"
    events = bob.drain()
    assert any(e.event_type == "room_state" and e.data["room"]["id"] == "witch_attic" for e in events)
    assert any(e.event_type == "system" for e in events)
    assert (await root.run("teleport Bob hangman_hill")).ok
    stored = await game.db.get_player(bob.player_id)
    assert stored is not None and stored.room_id == "hangman_hill"
    assert (await root.run("teleport Bob nowhere")).error_type == "unknown_room"
    assert (await root.run("teleport Nobody")).error_type == "unknown_player"
    assert (await root.run("teleport")).error_type == "invalid_arguments"


async def test_goto_moves_the_admin(game: AppServices) -> None:
    root = await seat(game, "Root", admin=True)
    await seat(game, "Bob", room_id="restricted_stacks")
    assert (await root.run("goto bob")).ok
    stored = await game.db.get_player(root.player_id)
    assert stored is not None and stored.room_id == "restricted_stacks"


async def test_grant_revoke_mute_unmute(game: AppServices) -> None:
    root = await seat(game, "Root", admin=True)
    bob = await seat(game, "Bob")

    async def flags() -> tuple[bool, bool]:
        p = await game.db.get_player(bob.player_id)
        assert p is not None
        return p.is_admin, p.is_muted

    assert (await root.run("grant admin Bob")).ok and await flags() == (True, False)
    assert (await bob.run("help")).text.count("teleport") == 1
    assert (await root.run("revoke Bob")).ok and await flags() == (False, False)
    assert (await root.run("mute Bob")).ok and await flags() == (False, True)
    assert (await root.run("unmute Bob")).ok and await flags() == (False, False)
    notices = [e.data["message"] for e in bob.drain() if e.event_type == "system"]
    assert notices == [
        "You have been granted admin rights.",
        "Your admin rights were revoked.",
        "You have been muted.",
        "You can speak again.",
    ]
    assert (await root.run("revoke admin root")).error_type == "invalid_target"
