#!/usr/bin/env bash
# `make verify-cluster`: the cluster scenarios (issue 13's one world) as a run of their own, then
# the report. A developer's loop: `make verify` runs the same suite beside chaos and gates its
# rows; this run's verdict is the suite's own exit code (its tests fail on a KPI outside its
# spec or a checker that found lost, duplicated or reordered lines), printed with the suite named.
set -uo pipefail
cd "$(dirname "$0")/.."
HARNESS=.venv/bin/harness
export MYTHOS_STRICT_SKIPS=1
bash scripts/setup.sh || { echo "make verify-cluster: setup failed; nothing was run" >&2; exit 1; }
rm -f reports/kpi/cluster.json
run_id=$("$HARNESS" run begin --full --suites cluster) || exit 1
HARNESS_RUN_ID=$(printf '%s\n' "$run_id" | tail -n 1)
export HARNESS_RUN_ID
t0=$SECONDS
rc=0; bash scripts/run_suite.sh cluster --full || rc=$?
"$HARNESS" run record cluster --exit-code "$rc" >/dev/null || rc=1
echo "=== suite: cluster finished in $((SECONDS - t0)) s, exit $rc"
"$HARNESS" report --allow-stale >/dev/null || true
if [ "$rc" -ne 0 ]; then echo "make verify-cluster: suites that failed: cluster (exit $rc)" >&2; exit 1; fi
echo "make verify-cluster: the cluster suite passed (run $HARNESS_RUN_ID)"
