"""The herd: 200 real client machines (in Node, not a browser each) through a server restart.

200 players register on a real mythos; ``client/scripts/herd.mjs`` runs the page's own
connection machine for each of them, with its real backoff and real SSE and WebSocket links.
When all 200 are fully connected the server is stopped by its PID and started again on the
same port; the herd's log and the server's log then give each client's recovery, the busiest
second of connection attempts, the clients that did not come back and whether the server
lived. The figures are herd_recovery_s and herd_failed_clients.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from e2e.steps import TopologyFactory, restart_timed, wait_connections
from harness.e2e import E2EFigures
from harness.herd import HerdProcess, HerdRun, analyse, herd_kpis, peak_per_second, register_players, server_opens

CLIENTS = 200
DOWN_FOR_S = 2.0
"""From the stop to the start of the new process; the server's own start-up comes on top."""
BACK_WITHIN_S = 30.0
"""Every client must be back within this long of the server answering again."""
CONNECT_TIMEOUT_S = 60.0
SPEC_RECOVERY_S = 5.0
HERD_BOUND_S = 150
"""The herd process stops by itself after this long, whatever happens to the test."""


@pytest.mark.slow
def test_herd_of_200_clients_survives_a_server_restart(make_topology: TopologyFactory,
                                                       figures: E2EFigures) -> None:
    topology = make_topology()
    server = topology.mythos[0]
    started = time.monotonic()
    tokens = register_players(server.base_url, [server.take_invite() for _ in range(CLIENTS)], prefix="herd")
    registered_s = time.monotonic() - started
    out = topology.paths.log_dir / "herd.jsonl"
    with HerdProcess(server.base_url, tokens, out, max_seconds=HERD_BOUND_S) as herd:
        herd.wait_states("fully_connected", CLIENTS, timeout=CONNECT_TIMEOUT_S)
        wait_connections(server, 2 * CLIENTS, timeout=CONNECT_TIMEOUT_S)

        stopped = time.time() * 1000
        server.stop()  # SIGTERM by PID: the server drains and closes every link
        # The fault's length, not a measurement: the new process starts DOWN_FOR_S after the stop began.
        time.sleep(max(0.0, stopped / 1000 + DOWN_FOR_S - time.time()))
        back = restart_timed(server)
        try:
            herd.wait_states("fully_connected", CLIENTS, timeout=BACK_WITHIN_S, since_ms=stopped)
        except TimeoutError as exc:
            print(f"not every client came back: {exc}")
        server_alive = server.process.running and server.health()["http_status"] == 200
        connections = int(server.health()["connections"]) if server_alive else 0
    run = analyse(herd.lines(), clients=CLIENTS, stopped_ms=stopped, back_ms=back,
                  server_open_times=server_opens(server.process.log_path, back), server_alive=server_alive)
    figures.herd(run)

    print(f"registered {CLIENTS} players in {registered_s:.1f} s; {run.describe()}; "
          f"server counts {connections} connections after the herd came back")
    assert run.server_alive
    assert run.failed == [], f"clients not back within {BACK_WITHIN_S} s: {run.failed[:20]}"
    assert run.recovery_p95_s <= SPEC_RECOVERY_S
    assert run.attempts_max < 128, "a client came close to its attempt budget in a short outage"


# -- the arithmetic behind the figures ---------------------------------------------------------

def _transition(client: int, t: float, state: str, attempts: int = 0) -> dict[str, object]:
    return {"kind": "transition", "client": client, "t": t, "state": state, "attempts": attempts}


def test_peak_per_second_is_the_busiest_sliding_second() -> None:
    assert peak_per_second([]) == 0
    assert peak_per_second([0, 999, 1000, 1998]) == 3  # 999, 1000 and 1998 lie within one second
    assert peak_per_second([0, 1000, 2000]) == 1


def test_analyse_measures_from_the_server_answering_and_counts_who_is_not_back() -> None:
    lines = [
        _transition(0, 50, "fully_connected"),  # before the stop: not a recovery
        _transition(0, 1_100, "reconnecting", 1), _transition(1, 1_100, "reconnecting", 1),
        _transition(2, 1_100, "reconnecting", 1),
        _transition(0, 4_000, "connecting_sse", 3), _transition(1, 4_200, "connecting_sse", 3),
        _transition(2, 4_300, "connecting_sse", 9),
        _transition(0, 4_100, "fully_connected", 3), _transition(1, 6_000, "fully_connected", 3),
        _transition(2, 4_400, "failed", 9),
        {"kind": "final", "client": 0, "state": "fully_connected"},
        {"kind": "final", "client": 1, "state": "fully_connected"},
        {"kind": "final", "client": 2, "state": "failed"},
    ]
    run = analyse(lines, clients=3, stopped_ms=1_000, back_ms=3_900, server_open_times=[3_950, 4_150, 5_990],
                  server_alive=True)
    assert run.recoveries_s == pytest.approx({0: 0.2, 1: 2.1})
    assert run.failed == [2]
    assert run.peak_attempts_per_s == 3
    assert run.peak_server_opens_per_s == 2
    assert run.attempts_max == 9
    assert run.down_s == pytest.approx(2.9)


def test_herd_kpis_refuse_a_p95_that_leaves_out_clients_who_never_came_back() -> None:
    def run(recoveries: dict[int, float], *, alive: bool = True) -> HerdRun:
        return HerdRun(clients=3, down_s=3.0, recoveries_s=recoveries,
                       final_states=dict.fromkeys(range(3), "fully_connected"), peak_attempts_per_s=3,
                       peak_server_opens_per_s=3, attempts_max=4, server_alive=alive)

    whole = {k.id: k for k in herd_kpis([run({0: 0.5, 1: 1.0, 2: 1.5})])}
    assert whole["herd_recovery_s"].value == 1.5 and whole["herd_recovery_s"].passed
    assert whole["herd_failed_clients"].value == 0 and whole["herd_failed_clients"].passed
    partial = {k.id: k for k in herd_kpis([run({0: 0.5, 1: 1.0})])}
    assert partial["herd_recovery_s"].value is None and not partial["herd_recovery_s"].passed
    assert partial["herd_failed_clients"].value == 1 and not partial["herd_failed_clients"].passed
    dead = {k.id: k for k in herd_kpis([run({0: 0.5, 1: 1.0, 2: 1.5}, alive=False)])}
    assert not dead["herd_failed_clients"].passed
    missing = {k.id: k for k in herd_kpis([])}
    assert missing["herd_recovery_s"].value is None and missing["herd_failed_clients"].value is None


def test_the_herd_log_is_read_on_from_the_last_whole_line(tmp_path: Path) -> None:
    out = tmp_path / "herd.jsonl"
    herd = HerdProcess("http://127.0.0.1:1", ["token"], out)
    assert herd.lines() == []
    out.write_text('{"kind": "herd", "t": 1}\n{"kind": "transition", "cl', encoding="utf-8")
    assert herd.lines() == [{"kind": "herd", "t": 1}]  # the half-written line waits
    with out.open("a", encoding="utf-8") as handle:
        handle.write('ient": 0, "t": 2}\n')
    assert herd.lines() == [{"kind": "herd", "t": 1}, {"kind": "transition", "client": 0, "t": 2}]
