#!/usr/bin/env bash
# One definition of each test suite, shared by `make test`, `make verify` and tox.
# Usage: scripts/run_suite.sh SUITE [--full]
#   --full: the long profile (>= 5,000 / 20,000 hypothesis examples, every scenario).
# Fails closed: a pytest run that collects nothing fails, and every pytest run loads the
# strict-skips plugin (active under CI=true or MYTHOS_STRICT_SKIPS=1: a skip outside
# tests/skip_allowlist.toml fails the suite). Each suite first removes its own KPI files, so
# what it leaves in reports/kpi/ is from this run only.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:?suite name}
full=${2:-}
PY=${PYTHON_BIN:-.venv/bin/python}
mkdir -p reports/kpi reports/junit
# When this suite started, for the KPI files whose figures are read after the run (coverage, bandit).
export MYTHOS_SUITE_STARTED=${MYTHOS_SUITE_STARTED:-$(date -u +%Y-%m-%dT%H:%M:%S+00:00)}
if [ "$full" = "--full" ]; then
  export HYPOTHESIS_PROFILE=full MYTHOS_FULL_RUN=1
else
  export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-default}
fi

# pytest exits 5 when it collects nothing: a suite that ran no test measured nothing, so it fails.
pytest_suite() {
  local name=$1; shift
  set +e
  "$PY" -m pytest -p harness.pytest_strict_skips --junitxml="reports/junit/$name.xml" "$@"
  local rc=$?
  set -e
  if [ $rc -eq 5 ]; then echo "[$name] no tests collected: a suite that runs nothing fails" >&2; fi
  return $rc
}

# The KPI files each suite writes; removed before it runs.
case "$suite" in
  lint) own=(lint) ;;
  core) own=(unit property) ;;
  property) own=(property) ;;
  *) own=("$suite") ;;
esac
for file in "${own[@]}"; do rm -f "reports/kpi/$file.json"; done

case "$suite" in
  lint)
    "$PY" -m ruff check .
    "$PY" -m mypy
    "$PY" -m harness.quality bandit --out reports/kpi/lint.json
    ;;
  unit|property|integration)
    rm -f .coverage.*
    pytest_suite "$suite" "tests/$suite" -p no:cacheprovider --cov --cov-report= -q
    "$PY" -m coverage combine --append -q 2>/dev/null || true
    ;;
  core)
    # unit + property + integration as pytest processes side by side ("lanes"): much of core
    # waits on real servers (lane a of a fresh make verify ran at about 20 % of one core), so
    # lanes use both cores. Default (make test): unit | property + integration. --full (make
    # verify): unit | property | integration, three lanes, since the 5,000-example property
    # profile is CPU-bound and unit + integration in one lane was the long pole (396 s beside a
    # 160 s property lane, 2026-12-01). Each lane has its own coverage data file, junit file
    # (reports/junit/core-<lane>.xml) and log; coverage is combined afterwards into the coverage
    # KPIs. The default run leaves out tests marked slow (subprocess pytest runs of the
    # harness's own plumbing); --full runs every one. The suite fails when any lane failed.
    rm -f .coverage .coverage.*
    mkdir -p reports/logs
    core_marker="not slow"
    lanes=("tests/unit" "tests/property tests/integration")
    if [ "$full" = "--full" ]; then
      core_marker=""
      lanes=("tests/unit" "tests/property" "tests/integration")
    fi
    names=(a b c d)
    pids=()
    for ((i = 1; i < ${#lanes[@]}; i++)); do
      lane=${names[$i]}
      # shellcheck disable=SC2086  # a lane is a list of test directories
      (
        export COVERAGE_FILE=.coverage.lane-$lane
        pytest_suite "core-$lane" ${lanes[$i]} -m "$core_marker" --cov --cov-report= -q -p no:cacheprovider
      ) >"reports/logs/core-$lane.log" 2>&1 &
      pids+=($!)
      echo "[core] lane $lane (${lanes[$i]}) runs beside this one; its output follows this lane's"
    done
    rcs=(0)
    # shellcheck disable=SC2086
    COVERAGE_FILE=.coverage.lane-a pytest_suite core-a ${lanes[0]} -m "$core_marker" --cov --cov-report= -q \
      -p no:cacheprovider || rcs[0]=$?
    for ((i = 1; i < ${#lanes[@]}; i++)); do
      rc=0; wait "${pids[$((i - 1))]}" || rc=$?
      rcs+=("$rc")
      echo "=== [core] lane ${names[$i]} (${lanes[$i]}), exit $rc"
      cat "reports/logs/core-${names[$i]}.log"
    done
    "$PY" -m coverage combine -q 2>/dev/null || true
    "$PY" -m harness.quality coverage --out reports/kpi/unit.json
    summary=()
    failed=0
    for ((i = 0; i < ${#lanes[@]}; i++)); do
      summary+=("lane ${names[$i]} (${lanes[$i]}) exit ${rcs[$i]}")
      if [ "${rcs[$i]}" -ne 0 ]; then failed=1; fi
    done
    if [ $failed -ne 0 ]; then
      joined=$(printf '%s, ' "${summary[@]}")
      echo "[core] failed: ${joined%, }" >&2
      exit 1
    fi
    ;;
  client)
    (cd client && npm test --silent)
    ;;
  chaos)
    # Default: the fast subset (partition, blackhole, nats-server kill, the weak-config check);
    # --full: every scenario. Writes reports/kpi/chaos.json from this run's scenarios.
    # Scenario runs go side by side (tests/chaos/pool.py): two by default, three in --full,
    # where 16 runs of 20-60 s each mostly wait on their fault schedules.
    marker=chaos_fast
    if [ "$full" = "--full" ]; then marker=chaos; export CHAOS_PARALLEL=${CHAOS_PARALLEL:-3}; fi
    pytest_suite chaos tests/chaos -m "$marker" -p no:cacheprovider -q
    ;;
  bench)
    "$PY" -m bench.security
    "$PY" -m bench.nats_handler
    "$PY" -m bench.server_cost  # a real server and an echo on loopback, ~4 min
    ;;
  load)
    # Default: the short flood with its assertions (~30 s). --full: every load scenario at default
    # size through the harness, the negative control among them (limit raised: its
    # dos_blocked_ratio must fail, or every load KPI is vetoed).
    if [ "$full" = "--full" ]; then
      "$PY" -m harness.cli load
    else
      export MYTHOS_LOAD_REPORTS=reports
      pytest_suite load tests/load -m "not slow" -p no:cacheprovider -q
    fi
    ;;
  e2e)
    # Playwright in Debian's Chromium, in its own pytest process (sync Playwright breaks
    # pytest-asyncio tests that share a process with it). Default: login, server restart and
    # long outage (~30 s); --full: every scenario, restart and link cut three times each (~2 min).
    # Builds client/dist when missing; writes reports/kpi/e2e.json and reports/e2e/*.png.
    marker="not slow"
    if [ "$full" = "--full" ]; then marker=""; fi
    pytest_suite e2e e2e -m "$marker" -p no:cacheprovider -q \
      --screenshot=only-on-failure --output=reports/e2e/failures
    ;;
  abuse)
    # Hostile players against a real server on loopback; compliant players play throughout.
    # Default: the short subset; --full: every attack. Writes reports/kpi/abuse.json.
    marker="abuse and not slow"
    if [ "$full" = "--full" ]; then marker=abuse; fi
    pytest_suite abuse tests/abuse -m "$marker" -p no:cacheprovider -q
    ;;
  cluster)
    # One world on three game servers, a 3-node NATS JetStream cluster and one PostgreSQL.
    # Default (make test): the stream leader's SIGKILL (nats_node_kill) and the catalogue checks;
    # --full (make verify, make verify-cluster): all six scenarios, two at a time (~2.5 min).
    # Writes reports/kpi/cluster.json.
    marker="chaos_cluster and (cluster_fast or not cluster_scenario)"
    if [ "$full" = "--full" ]; then marker=chaos_cluster; fi
    pytest_suite cluster tests/chaos/cluster -m "$marker" -p no:cacheprovider -q
    ;;
  selftest)
    # Seeded faults, each in a scratch copy of the tree: every one must turn its suite red.
    "$PY" -m harness.cli selftest
    ;;
  *)
    echo "unknown suite: $suite" >&2; exit 2 ;;
esac
