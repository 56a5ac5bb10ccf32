"""The history is written before it is checked and reads back identically."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.history import History, load_history, message_token, write_history
from tests.unit.harness.builders import HistoryBuilder


def fake_clock(step: float = 0.5):
    ticks = itertools.count()
    return lambda: 100.0 + step * next(ticks)


def test_every_op_is_on_disk_before_the_recorder_returns(tmp_path: Path) -> None:
    path = tmp_path / "run" / "history.jsonl"
    history = History(path, test={"name": "noop"}, clock=fake_clock())
    invocation = history.invoke("alice", "say", {"token": "msg_alice_1"})
    history.info(invocation, "timeout")
    meta, ops = load_history(path)  # read while the recorder is still open
    assert meta.test == {"name": "noop"}
    assert [(op.type, op.process, op.f, op.error) for op in ops] == [
        ("invoke", "alice", "say", None), ("info", "alice", "say", "timeout")]
    assert ops[1].value == {"token": "msg_alice_1"}  # completion inherits the invocation's value
    assert ops[0].time == 0.5 and ops[1].time == 1.0  # monotonic, relative to the history start
    history.close()


def test_round_trip_preserves_every_field(tmp_path: Path) -> None:
    builder = HistoryBuilder().connect(0.0, "alice", "bob")
    builder.say(1.0, "alice", 1)
    builder.recv(1.2, "bob", "alice", 1).fault(2.0, 3.0).drain(9.0)
    path = write_history(tmp_path / "h.jsonl", builder.ops, test={"name": "t", "echo_to_sender": False})
    meta, ops = load_history(path)
    assert ops == builder.ops
    assert meta.test["name"] == "t"


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = write_history(tmp_path / "h.jsonl", HistoryBuilder().connect(0.0, "alice").ops)
    with path.open("a") as handle:
        handle.write('{"index": 2, "type": "ok", "pro')
    _, ops = load_history(path)
    assert len(ops) == 2


def test_corruption_in_the_middle_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write_history(tmp_path / "h.jsonl", HistoryBuilder().connect(0.0, "alice", "bob").ops)
    lines = path.read_text().splitlines()
    lines[2] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"h\.jsonl:3"):
        load_history(path)


def test_missing_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"index": 0}\n')
    with pytest.raises(ValueError, match="header"):
        load_history(path)


def test_closed_history_refuses_new_ops(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    history.close()
    with pytest.raises(RuntimeError, match="closed"):
        history.observe("bob", "recv")


def test_message_tokens_are_validator_safe() -> None:
    assert message_token("alice", 7) == "msg_alice_7"
    with pytest.raises(ValueError):
        message_token("bad name;", 1)
