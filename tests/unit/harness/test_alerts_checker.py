"""The ``alerts`` checker and the two alert KPIs on synthetic histories: each verdict can go both ways."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from harness.alerts import alert_kpis, alert_spans
from harness.checker import run_checks
from harness.report_alerts import alert_plot
from harness.results import ScenarioResult
from tests.unit.harness.builders import HistoryBuilder

SERVERS = {"mythos-0": "127.0.0.1:1", "mythos-1": "127.0.0.1:2"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _watch(b: HistoryBuilder, changes: list[tuple[float, list[tuple[str, str]], list[tuple[str, str]]]],
           end: float = 40.0, scrapes: dict[str, int] | None = None) -> HistoryBuilder:
    """A Prometheus watch: start, each change of (firing, pending) as (alert, server) pairs, end."""
    b.op(0.5, "ok", "prometheus", "alerts", {"phase": "start", "targets": SERVERS, "for_s": 2, "range_s": 10})
    for t, firing, pending in changes:
        b.op(t, "ok", "prometheus", "alerts", {
            "phase": "run", "firing": [{"alert": a, "server": s} for a, s in firing],
            "pending": [{"alert": a, "server": s} for a, s in pending]})
    scraped = scrapes if scrapes is not None else dict.fromkeys(SERVERS, 30)
    return b.op(end, "ok", "prometheus", "alerts", {"phase": "end", "errors": 0, "scrapes": scraped})


def _alerts(b: HistoryBuilder) -> dict[str, Any]:
    return dict(run_checks({"name": "t"}, b.ops, (), names=["alerts"])["alerts"])


def _partition(b: HistoryBuilder) -> HistoryBuilder:
    return b.fault(5.0, 15.0, "partition", params={"link": "nats-1"})


LINK, DLQ = ("MythosNatsLinkDown", "mythos-1"), ("MythosDlqGrowing", "mythos-1")


def test_a_partition_that_fires_link_and_dlq_alerts_and_resolves_them_is_as_expected() -> None:
    b = _watch(_partition(HistoryBuilder()), [(0.6, [], []), (8.0, [], [LINK, DLQ]), (10.0, [LINK, DLQ], []),
                                              (17.0, [DLQ], []), (26.0, [], [])])
    check = _alerts(b)
    assert check["valid"] is True, check
    assert check["expected"] == [{"alert": "MythosDlqGrowing", "server": "mythos-1", "window": "w1"},
                                 {"alert": "MythosNatsLinkDown", "server": "mythos-1", "window": "w1"}]
    assert check["resolved_after_last_heal_s"] == {"MythosNatsLinkDown@mythos-1": 2.0,
                                                   "MythosDlqGrowing@mythos-1": 11.0}


def test_a_partition_that_fires_no_link_alert_is_not() -> None:
    check = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [DLQ], []), (26.0, [], [])]))
    assert check["valid"] is False
    assert check["missing"] == [{"alert": "MythosNatsLinkDown", "server": "mythos-1", "window": "w1"}]


def test_the_link_alert_on_the_server_the_partition_did_not_touch_is_a_false_alert() -> None:
    other = ("MythosNatsLinkDown", "mythos-0")
    check = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ, other], []), (26.0, [], [])]))
    assert check["valid"] is False
    assert check["unexpected"] == [{"alert": "MythosNatsLinkDown", "server": "mythos-0"}]


def test_an_alert_still_firing_at_the_end_fails_the_check() -> None:
    check = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ], []), (17.0, [DLQ], [])]))
    assert check["valid"] is False
    assert [(u["alert"], u["server"]) for u in check["unresolved"]] == [DLQ]


def test_a_baseline_run_that_fires_anything_counts_each_alert_as_false() -> None:
    quiet = _alerts(_watch(HistoryBuilder(), [(0.6, [], [])]))
    assert quiet["valid"] is True and quiet["baseline"] is True and quiet["false_alerts"] == 0
    noisy = _alerts(_watch(HistoryBuilder(), [(3.0, [("MythosHealthDegraded", "mythos-0")], []), (6.0, [], [])]))
    assert noisy["valid"] is False and noisy["false_alerts"] == 1


def test_a_pending_alert_is_not_a_fired_one() -> None:
    check = _alerts(_watch(HistoryBuilder(), [(3.0, [], [("MythosHealthDegraded", "mythos-0")]), (4.0, [], [])]))
    assert check["valid"] is True and check["fired"] == []
    assert [s["state"] for s in check["spans"]] == ["pending"]


def test_no_watch_or_no_scrape_is_not_judged() -> None:
    assert _alerts(_partition(HistoryBuilder()))["valid"] == "unknown"
    unscraped = _alerts(_watch(HistoryBuilder(), [], scrapes={"mythos-0": 12, "mythos-1": 0}))
    assert unscraped["valid"] == "unknown" and "mythos-1" in unscraped["error"]


def test_spans_run_from_the_first_poll_that_saw_an_alert_to_the_first_that_did_not() -> None:
    b = _watch(HistoryBuilder(), [(3.0, [LINK], []), (4.0, [LINK, DLQ], []), (9.0, [], [])])
    spans = [(s.alert, s.start, s.end) for s in alert_spans(b.ops)]
    assert spans == [("MythosNatsLinkDown", 3.0, 9.0), ("MythosDlqGrowing", 4.0, 9.0)]


def _result(scenario: str, check: dict[str, Any]) -> ScenarioResult:
    return ScenarioResult(scenario=scenario, run_id=f"run-{scenario}", evidence="e", started=T0, finished=T0,
                          history="h", checks={"valid": check["valid"], "alerts": check})


def test_the_kpis_count_scenarios_as_expected_and_baseline_alerts() -> None:
    good = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ], []), (26.0, [], [])]))
    bad = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [DLQ], []), (26.0, [], [])]))
    noisy = _alerts(_watch(HistoryBuilder(), [(3.0, [("MythosHealthDegraded", "mythos-0")], []), (6.0, [], [])]))
    kpis = {k.id: k for k in alert_kpis([_result("a", good), _result("b", bad), _result("noop", noisy)])}
    assert kpis["alerts_fired_as_expected"].value == 0.5
    assert "b (missing ['MythosNatsLinkDown@mythos-1']" in kpis["alerts_fired_as_expected"].evidence
    assert kpis["false_alerts_in_baseline"].value == 1.0
    quiet = _alerts(_watch(HistoryBuilder(), []))
    kpis = {k.id: k for k in alert_kpis([_result("a", good), _result("noop", quiet)])}
    assert (kpis["alerts_fired_as_expected"].value, kpis["false_alerts_in_baseline"].value) == (1.0, 0.0)


def test_the_kpis_are_not_measured_without_a_verdict_or_a_baseline() -> None:
    good = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ], []), (26.0, [], [])]))
    kpis = {k.id: k for k in alert_kpis([_result("a", good)])}
    assert kpis["false_alerts_in_baseline"].value is None
    unjudged = _alerts(_partition(HistoryBuilder()))
    kpis = {k.id: k for k in alert_kpis([_result("a", good), _result("b", unjudged)])}
    assert kpis["alerts_fired_as_expected"].value is None and "b" in kpis["alerts_fired_as_expected"].evidence


def test_the_report_draws_the_alert_timeline_or_nothing_without_a_watch() -> None:
    check = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ], []), (26.0, [], [])]))
    png = alert_plot(_result("p", check))
    assert png and len(png) > 1000
    assert alert_plot(_result("q", _alerts(_partition(HistoryBuilder())))) is None


def test_the_chaos_suite_file_carries_the_alert_kpis_and_the_cluster_file_does_not() -> None:
    from harness.results import chaos_kpis

    good = _alerts(_watch(_partition(HistoryBuilder()), [(10.0, [LINK, DLQ], []), (26.0, [], [])]))
    runs = [_result("a", good), _result("noop", _alerts(_watch(HistoryBuilder(), [])))]
    chaos = {k.id: k.value for k in chaos_kpis(runs)}
    assert (chaos["alerts_fired_as_expected"], chaos["false_alerts_in_baseline"]) == (1.0, 0.0)
    assert not {"alerts_fired_as_expected", "false_alerts_in_baseline"} & {k.id for k in chaos_kpis(runs, "cluster")}
