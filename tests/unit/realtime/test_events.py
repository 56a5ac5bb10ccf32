from __future__ import annotations

import json

import pytest

from mythos.realtime.chat import ChatMessage, subject_for
from mythos.realtime.events import EventEnvelope, error_message


def test_envelope_dict_and_sse_frame() -> None:
    event = EventEnvelope("chat", {"content": "hi"}, sequence_number=7, room_id="hall", player_id=3)
    body = event.to_dict()
    assert body["event_type"] == "chat" and body["sequence_number"] == 7
    assert body["room_id"] == "hall" and body["player_id"] == 3 and body["timestamp"]
    frame = event.to_sse()
    assert frame.startswith("id: 7\nevent: chat\ndata: ") and frame.endswith("\n\n")
    assert json.loads(frame.split("data: ", 1)[1]) == body


def test_unsequenced_event_has_no_id_line() -> None:
    frame = EventEnvelope("heartbeat", {}).to_sse()
    assert not frame.startswith("id:")
    assert "room_id" not in EventEnvelope("heartbeat", {}).to_dict()


def test_error_message() -> None:
    assert error_message("rate_limited", "slow down", 0.12345) == {
        "type": "error",
        "error_type": "rate_limited",
        "message": "slow down",
        "retry_after": 0.123,
    }
    assert "retry_after" not in error_message("invalid_command", "no")


def test_chat_message_round_trip() -> None:
    msg = ChatMessage(1, "A", "whisper", "psst", room_id="hall", target_id=2, target_name="B")
    back = ChatMessage.from_bytes(msg.to_bytes())
    assert back == msg
    body = json.loads(msg.to_bytes())
    assert set(body) >= {
        "message_id",
        "sender_id",
        "sender_name",
        "channel",
        "content",
        "timestamp",
        "room_id",
    }


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b'{"sender_id": 1}', b'{"sender_id": "x", "sender_name": "a"}']
)
def test_malformed_chat_is_rejected(payload: bytes) -> None:
    with pytest.raises(ValueError):
        ChatMessage.from_bytes(payload)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("say", "chat.say.hall"),
        ("emote", "chat.emote.hall"),
        ("whisper", "chat.whisper.player.2"),
        ("global", "chat.global"),
        ("system", "chat.system"),
        ("player_entered", "events.player_entered.hall"),
        ("player_left", "events.player_left.hall"),
    ],
)
def test_subjects(channel: str, expected: str) -> None:
    assert subject_for(ChatMessage(1, "A", channel, "x", room_id="hall", target_id=2)) == expected


def test_unknown_channel_has_no_subject() -> None:
    with pytest.raises(ValueError):
        subject_for(ChatMessage(1, "A", "shout", "x"))
