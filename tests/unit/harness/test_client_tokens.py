"""The scenario player records a reception only for the exact token field, and the DLQ id of a refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.client import ScenarioPlayer
from harness.history import F, History, chat_token, dlq_entry_token
from harness.results import collect_dlq
from tests.unit.harness.builders import dlq_entry


def player(tmp_path: Path) -> tuple[ScenarioPlayer, History]:
    history = History(tmp_path / "history.jsonl")
    return ScenarioPlayer("carol", "http://127.0.0.1:1", history, invite_code="x", server="mythos-1"), history


def chat_frame(sender: str, content: str) -> str:
    return json.dumps({"event_type": "chat", "sequence_number": 7,
                       "data": {"channel": "say", "sender_name": sender, "content": content,
                                "message_id": "m1", "room_id": "arkham_001"}})


def receptions(history: History) -> list[str]:
    return [op.value["token"] for op in history.ops if op.f == F.RECV]


def test_a_chat_line_is_received_by_its_token_field(tmp_path: Path) -> None:
    carol, history = player(tmp_path)
    carol._on_frame(chat_frame("bob", "msg_bob_2"))
    assert receptions(history) == ["msg_bob_2"]
    assert next(op.value for op in history.ops if op.f == F.RECV)["seq"] == 2


@pytest.mark.parametrize("sender, content", [
    ("bob", "did alice say msg_alice_1 ?"),  # quoted inside someone's text
    ("bob", "msg_alice_1"),                  # alice's token, said by bob
    ("bob", "msg_bob_2 msg_bob_3"),          # two tokens are no single line
])
def test_a_token_inside_other_text_or_from_another_sender_is_not_a_reception(
        tmp_path: Path, sender: str, content: str) -> None:
    carol, history = player(tmp_path)
    carol._on_frame(chat_frame(sender, content))
    assert receptions(history) == []


def test_dlq_entries_are_matched_on_their_message_body_only() -> None:
    assert dlq_entry_token({"message_data": {"sender_name": "alice", "content": "msg_alice_1"}}) == "msg_alice_1"
    assert dlq_entry_token({"message": {"sender_name": "alice", "content": "msg_alice_1"}}) == "msg_alice_1"
    assert dlq_entry_token({"message_data": {"content": "x"}, "error": "msg_alice_1"}) is None
    assert dlq_entry_token({"content": "msg_alice_1"}) is None
    assert chat_token({"content": " msg_alice_1 "}) == "msg_alice_1"


async def test_a_refusal_records_the_dlq_id_the_server_gave(tmp_path: Path) -> None:
    carol, history = player(tmp_path)
    replies: list[tuple[str, dict[str, Any]]] = [
        ("fail", {"error_type": "chat_unavailable", "queued": True, "dlq_id": "abc"}),
        ("fail", {"error_type": "chat_unavailable", "queued": False, "dlq_id": None}),
    ]

    async def command(_: str) -> tuple[str, dict[str, Any]]:
        return replies.pop(0)

    carol._command = command  # type: ignore[method-assign]
    assert await carol.say() == "fail" and await carol.say() == "fail"
    fails = [op for op in history.ops if op.f == F.SAY and op.type == "fail"]
    assert [(op.value["queued"], op.value["dlq_id"], op.error) for op in fails] == [
        (True, "abc", "chat_unavailable"), (False, None, "chat_unavailable")]


def test_the_dlq_is_collected_from_entry_files_of_either_shape(tmp_path: Path) -> None:
    dlq = tmp_path / "data" / "dlq"
    dlq.mkdir(parents=True)
    for entry in (dlq_entry("alice", 1), dlq_entry("alice", 2, old_shape=True)):
        (dlq / f"{entry['id']}.json").write_text(json.dumps(entry))
    (tmp_path / "data" / "other.json").write_text(json.dumps({"message": "not a DLQ entry"}))
    (dlq / ".tmp-x.part.json").write_text("{")
    assert sorted(dlq_entry_token(e) or "" for e in collect_dlq([tmp_path / "data"])) == [
        "msg_alice_1", "msg_alice_2"]
