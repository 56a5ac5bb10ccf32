"""Builtin commands against real services."""

from __future__ import annotations

import pytest

from mythos.commands.builtin import CHAT_UNAVAILABLE, MAX_CHAT_LENGTH
from mythos.services import AppServices
from tests.unit.commands.conftest import seat


async def test_look_describes_room_and_sends_room_state(game: AppServices) -> None:
    a = await seat(game, "Alice")
    await seat(game, "Bob")
    result = await a.run("look")
    assert result.ok
    assert "Independence Square" in result.text
    assert "Also here: Bob." in result.text
    assert "Alice" not in result.text.split("Also here:")[1]
    state = [e for e in a.drain() if e.event_type == "room_state"][-1]
    assert state.data["room"]["id"] == "arkham_square"
    assert state.data["occupants"] == ["Alice", "Bob"]


async def test_look_lists_npcs(game: AppServices) -> None:
    a = await seat(game, "Alice", room_id="orne_library")
    result = await a.run("l")
    assert "Librarian Armitage" in result.text


async def test_movement_persists_and_announces(game: AppServices) -> None:
    a = await seat(game, "Alice")
    b = await seat(game, "Bob")
    c = await seat(game, "Carol", room_id="miskatonic_gate")
    result = await a.run("n")
    assert result.ok and result.data["room_id"] == "miskatonic_gate"
    stored = await game.db.get_player(a.player_id)
    assert stored is not None and stored.room_id == "miskatonic_gate"
    left = [e for e in b.drain() if e.event_type == "player_left"]
    assert left and left[0].data["player_name"] == "Alice" and "leaves north" in left[0].data["message"]
    entered = [e for e in c.drain() if e.event_type == "player_entered"]
    assert entered and "arrives from the south" in entered[0].data["message"]
    assert not [e for e in a.drain() if e.event_type in ("player_left", "player_entered")]


@pytest.mark.parametrize(
    ("command", "error_type"),
    [("go", "invalid_arguments"), ("go sideways", "invalid_arguments"), ("up", "no_exit")],
)
async def test_bad_movement_is_explained(game: AppServices, command: str, error_type: str) -> None:
    a = await seat(game, "Alice")
    result = await a.run(command)
    assert not result.ok and result.error_type == error_type
    stored = await game.db.get_player(a.player_id)
    assert stored is not None and stored.room_id == "arkham_square"


async def test_chat_is_refused_clearly_without_nats(game: AppServices) -> None:
    a = await seat(game, "Alice")
    await seat(game, "Bob")
    for command in ("say hello", "emote waves", "whisper Bob psst"):
        result = await a.run(command)
        assert not result.ok
        assert result.error_type == "chat_unavailable"
        assert result.text == CHAT_UNAVAILABLE
    # Everything else still works.
    assert (await a.run("look")).ok


async def test_say_and_emote_arrive_from_nats(nats_game: AppServices) -> None:
    a = await seat(nats_game, "Alice")
    b = await seat(nats_game, "Bob")
    far = await seat(nats_game, "Far", room_id="witch_attic")
    result = await a.run("say Ia! Ia!")
    assert result.ok and result.text == ""
    chat = await b.next_event("chat")
    assert chat.data["content"] == "Ia! Ia!" and chat.data["channel"] == "say"
    assert chat.data["message_id"] == result.data["message_id"]
    assert (await a.next_event("chat")).data["content"] == "Ia! Ia!"
    await a.run(":shudders")
    emote = await b.next_event("chat")
    assert (emote.data["channel"], emote.data["content"]) == ("emote", "shudders")
    assert not [e for e in far.drain() if e.event_type == "chat"]


async def test_whisper_reaches_only_the_target(nats_game: AppServices) -> None:
    a = await seat(nats_game, "Alice")
    b = await seat(nats_game, "Bob", room_id="witch_attic")
    c = await seat(nats_game, "Carol")
    result = await a.run("whisper bob the stars are right")
    assert result.ok and result.text == 'You whisper to Bob: "the stars are right"'
    got = await b.next_event("chat")
    assert got.data["channel"] == "whisper" and got.data["content"] == "the stars are right"
    assert got.data["sender_name"] == "Alice"
    assert not [e for e in c.drain() if e.event_type == "chat"]


@pytest.mark.parametrize(
    ("command", "error_type"),
    [
        ("whisper", "invalid_arguments"),
        ("whisper Bob", "invalid_arguments"),
        ("whisper Nobody hi", "unknown_player"),
        ("whisper alice hi", "invalid_target"),
        ("say", "invalid_arguments"),
        ("say " + "x" * (MAX_CHAT_LENGTH + 1), "invalid_arguments"),
    ],
)
async def test_chat_argument_errors(nats_game: AppServices, command: str, error_type: str) -> None:
    a = await seat(nats_game, "Alice")
    await seat(nats_game, "Bob")
    result = await a.run(command)
    assert (result.ok, result.error_type) == (False, error_type)


async def test_muted_player_cannot_chat(nats_game: AppServices) -> None:
    a = await seat(nats_game, "Alice")
    await nats_game.db.update_player(a.player_id, is_muted=True)
    for command in ("say hi", "emote hi", "whisper admin hi"):
        assert (await a.run(command)).error_type == "muted"


async def test_who_help_and_quit(game: AppServices) -> None:
    a = await seat(game, "Alice")
    await seat(game, "Bob", room_id="witch_house")
    who = await a.run("who")
    assert who.data["players"] == ["Alice", "Bob"]
    assert "Bob - The Witch House" in who.text
    help_text = (await a.run("help")).text
    assert "whisper <player> <text>" in help_text and "teleport" not in help_text
    quit_result = await a.run("quit")
    assert quit_result.quit and quit_result.envelope_data("quit")["quit"] is True
