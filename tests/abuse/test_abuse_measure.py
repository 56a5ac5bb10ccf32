"""The abuse suite's measurements against crafted inputs: each can say "bad" as well as "good".

No server here: real files for the audit meter, this process's own /proc entry for VmRSS,
hand-made records for the compliant players' log and the KPIs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.abuse.compliant_log import CompliantLog, CompliantWindow, Spoofing, spoofing
from harness.abuse.kpis import ABUSE_KPIS, Totals, abuse_kpis
from harness.abuse.measure import (
    AuditMeter,
    Guess,
    guesses_per_hour,
    hidden_characters,
    pace_s,
    percentile,
    vm_rss_kib,
)
from harness.abuse.unicode_chat import FALSE_POSITIVES, FAMILIES, HIDDEN_NAMES, MIXED_SCRIPT_VERB
from harness.kpi import CATALOGUE

pytestmark = [pytest.mark.abuse]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_line_carries_a_hidden_character(family: str) -> None:
    for line in FAMILIES[family]:
        assert hidden_characters(line), (family, line.encode("unicode_escape"))


def test_hidden_characters_are_named_and_harmless_text_has_none() -> None:
    assert hidden_characters("hello \u202eevil") == ["U+202E"]
    assert hidden_characters("<scr\u034fipt>") == ["U+034F"]
    assert hidden_characters("a\ud800b") == ["U+D800"]
    assert hidden_characters("line\u2028break") == ["U+2028"]
    for text in (*FALSE_POSITIVES, "caf\u00e9 na\u00efve \u00fcber", "\u0442\u0435\u0441\u0442", MIXED_SCRIPT_VERB):
        assert hidden_characters(text) == [], text
    assert all(hidden_characters(name) for name in HIDDEN_NAMES)


def test_spoofing_counts_what_reached_a_screen_in_chat_and_in_names() -> None:
    records: list[dict[str, Any]] = [
        {"k": "ev", "e": "chat", "d": {"sender_name": "eve", "content": "hi \u202eolleh"}},
        {"k": "ev", "e": "player_entered", "d": {"player_name": "ev\u200bil"}},
        {"k": "ev", "e": "room_state", "d": {"occupants": ["ann", "bo\u2066b\u2069"]}},
        {"k": "ev", "e": "chat", "d": {"sender_name": "ann", "content": "look |shiny"}},
        {"k": "cmd", "t": 1.0, "v": "say", "ms": 3.0, "o": "ok"},
    ]
    found = spoofing(records)
    assert found.characters == 4 and found.events == 4
    assert "U+202E in chat" in found.samples
    assert spoofing(records[3:]).characters == 0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 99) is None
    assert percentile([5.0], 99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile([1.0] * 98 + [900.0, 1000.0], 99) == 900.0


def _stream(*answers: tuple[float, int, float | None]) -> list[Guess]:
    return [Guess(at, status, retry) for at, status, retry in answers]


def test_an_address_nothing_slows_down_keeps_its_rate_for_the_hour() -> None:
    free = _stream((0.5, 401, None), (1.0, 401, None), (1.5, 401, None))
    assert pace_s(free) is None
    assert guesses_per_hour({"a": free}, 3.0) == 3600
    shed = _stream((0.5, 401, None), (1.0, 503, 1.0), (1.5, 401, None))  # load shedding sets no pace
    assert pace_s(shed) is None


def test_a_lock_sets_the_pace_from_the_last_evaluated_guess() -> None:
    # Five free guesses, then locked: every refusal announces the same end of lock, 30 s after the fifth.
    locked = _stream(*[(0.2 * i, 401, None) for i in range(1, 6)],
                     (1.1, 429, 30.0), (1.2, 429, 29.9), (3.9, 429, 27.2))
    assert pace_s(locked) == pytest.approx(30.1)
    assert guesses_per_hour({"a": locked}, 4.0) == pytest.approx(5 + 3596 / 30.1)
    # Unlocked again at the end of the window: the interval the last lock imposed.
    unlocked = _stream((0.2, 401, None), (0.4, 429, 2.0), (1.0, 429, 1.4), (2.5, 401, None))
    assert pace_s(unlocked) == pytest.approx(2.3)


def test_guesses_per_hour_sums_the_addresses() -> None:
    slow = _stream((0.5, 401, None), (0.6, 429, 900.0))
    fast = _stream((0.5, 401, None), (1.0, 401, None))
    assert guesses_per_hour({"a": slow, "b": slow}, 4.0) == pytest.approx(2 * (1 + 3596 / 900.1))
    assert guesses_per_hour({"a": slow, "b": fast}, 4.0) > 1000, "one unthrottled address is enough"
    assert guesses_per_hour({"a": slow}, 4.0) < 10, "a 15-minute lock is within the spec"
    with pytest.raises(ValueError):
        guesses_per_hour({"a": fast}, 0.0)


def test_vm_rss_follows_this_process_memory() -> None:
    before = vm_rss_kib(os.getpid())
    block = bytearray(64 * 2**20)  # zero-filled: every page is touched
    after = vm_rss_kib(os.getpid())
    assert before > 1000 and after - before > 48 * 1024, (before, after)
    del block


def test_the_audit_meter_counts_across_rotation_deletion_and_truncation(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "old.jsonl").write_bytes(b"x" * 1000)  # before the baseline: not growth
    meter = AuditMeter(audit)
    meter.baseline()
    with (audit / "audit.jsonl").open("ab") as handle:
        handle.write(b"a" * 300)
    assert meter.poll() == 300
    (audit / "audit.jsonl").rename(audit / "audit.jsonl.1")  # rotation: same inode, nothing new
    (audit / "audit.jsonl").write_bytes(b"b" * 200)
    assert meter.poll() == 500
    (audit / "audit.jsonl.1").unlink()  # a deleted backup keeps what was counted
    (audit / "old.jsonl").write_bytes(b"y" * 50)  # truncated in place and rewritten
    assert meter.poll() == 550
    with (audit / "old.jsonl").open("ab") as handle:
        handle.write(b"z" * 25)
    assert meter.poll() == 575


def test_the_audit_meter_thread_stops_with_a_last_look(tmp_path: Path) -> None:
    meter = AuditMeter(tmp_path / "not-yet", interval_s=0.01).start()
    (tmp_path / "not-yet").mkdir()
    (tmp_path / "not-yet" / "a").write_bytes(b"q" * 77)
    assert meter.stop() == 77


def test_the_compliant_log_reads_lines_as_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "compliant.jsonl"
    log = CompliantLog(path, timeout_s=5.0)
    assert log.refresh() == []
    rows = [
        {"k": "cmd", "t": 10.0, "p": "a", "v": "look", "ms": 20.0, "o": "ok"},
        {"k": "cmd", "t": 11.0, "p": "a", "v": "go", "ms": 30.0, "o": "fail:no_exit"},
        {"k": "cmd", "t": 12.0, "p": "b", "v": "say", "ms": 4.0, "o": "refused:rate_limited"},
        {"k": "cmd", "t": 13.0, "p": "b", "v": "look", "ms": 5000.0, "o": "timeout"},
        {"k": "ev", "t": 13.5, "p": "b", "e": "chat", "d": {"content": "marker42 hello"}},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text[:-20], encoding="utf-8")  # the last line is still being written
    assert len(log.refresh()) == 4
    path.write_text(text, encoding="utf-8")
    assert len(log.refresh()) == 5
    window = log.window(10.5, 13.0)
    assert window.commands == 3 and window.accepted_ms == (30.0,)
    assert window.refused == Counter({"rate_limited": 1}) and window.timeouts == 1
    assert window.samples == [30.0, 5000.0], "a timeout counts at the full patience"
    assert log.heard("marker42") and not log.heard("marker43")


def _window(samples: list[float], refused: int = 0, timeouts: int = 0) -> CompliantWindow:
    return CompliantWindow(len(samples) + refused + timeouts, tuple(samples), Counter({"rate_limited": refused}),
                           timeouts, 5000.0)


def _totals(**overrides: object) -> Totals:
    good: dict[str, object] = {
        "completed": ["login_brute_force_admin", "login_brute_force_player", "login_flood", "unicode_chat"],
        "audit_bytes": 40_000, "refusals": 400, "abuse_s": 30.0,
        "guesses_per_hour": {"login_brute_force_admin": 12.0, "login_brute_force_player": 30.0},
        "legit_login_ms": [300.0] * 10, "compliant": _window([40.0] * 200),
        "rss_before_kib": 100_000, "rss_after_kib": 110_000,
        "spoofing": Spoofing(0, 500, ()),
        "per_attack": {"login_brute_force_admin": {"evaluated": 5, "audit_bytes": 100, "refusals": 40},
                       "login_brute_force_player": {"evaluated": 9, "audit_bytes": 100, "refusals": 40},
                       "login_flood": {"legit_gave_up": 0}},
    }
    good.update(overrides)
    return Totals(**good)  # type: ignore[arg-type]


def test_kpis_of_a_defended_server_pass() -> None:
    kpis = abuse_kpis(_totals())
    assert [k.id for k in kpis] == list(ABUSE_KPIS)
    assert all(k.id in CATALOGUE for k in kpis)
    failed = {k.id: (k.value, k.evidence) for k in kpis if not k.passed}
    assert not failed, failed


@pytest.mark.parametrize(("kpi_id", "overrides"), [
    ("audit_bytes_per_refusal", {"audit_bytes": 2_000_000}),
    ("audit_growth_mb_per_min_under_abuse", {"audit_bytes": 200 * 2**20}),
    ("login_guesses_per_account_per_hour", {"guesses_per_hour": {"login_brute_force_admin": 3600.0,
                                                                 "login_brute_force_player": 5.0}}),
    ("legit_login_p99_under_login_flood_ms", {"legit_login_ms": [300.0] * 9 + [5000.0]}),
    ("compliant_p99_under_abuse_ms", {"compliant": _window([40.0] * 190, timeouts=10)}),
    ("server_rss_growth_under_abuse_mb", {"rss_after_kib": 100_000 + 80 * 1024}),
    ("spoofing_chars_delivered", {"spoofing": Spoofing(1, 500, ("U+202E in chat",))}),
])
def test_kpis_of_an_undefended_server_fail(kpi_id: str, overrides: dict[str, object]) -> None:
    kpis = {k.id: k for k in abuse_kpis(_totals(**overrides))}
    assert kpis[kpi_id].measured and not kpis[kpi_id].passed, kpis[kpi_id]


@pytest.mark.parametrize(("kpi_id", "overrides"), [
    ("audit_bytes_per_refusal", {"refusals": 0}),
    ("audit_bytes_per_refusal", {"audit_bytes": None}),
    ("login_guesses_per_account_per_hour", {"guesses_per_hour": {"login_brute_force_admin": 1.0}}),
    ("legit_login_p99_under_login_flood_ms", {"legit_login_ms": None}),
    ("compliant_p99_under_abuse_ms", {"compliant": _window([40.0] * 5)}),
    ("server_rss_growth_under_abuse_mb", {"rss_after_kib": None}),
    ("spoofing_chars_delivered", {"completed": ["login_flood"]}),
    ("spoofing_chars_delivered", {"spoofing": Spoofing(0, 0, ())}),
])
def test_what_was_not_measured_is_not_a_pass(kpi_id: str, overrides: dict[str, object]) -> None:
    kpi = {k.id: k for k in abuse_kpis(_totals(**overrides))}[kpi_id]
    assert not kpi.measured and not kpi.passed and kpi.evidence.startswith("not measured"), kpi
