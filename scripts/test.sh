#!/usr/bin/env bash
# `make test`: the default test command (CI). One run: `harness run begin` names the suites and
# each suite's exit code is recorded, so `make report` afterwards shows this run.
# lint and client run beside core (three CPU-bound suites on two cores, none of them timed);
# the timed suites (load, abuse, e2e, chaos) then run one at a time on a quiet machine.
# Exits non-zero naming every failed suite; a timed suite does not start after a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
HARNESS=.venv/bin/harness
SUITES=(lint core client load abuse e2e chaos cluster)
rm -rf reports/kpi reports/logs && mkdir -p reports/kpi reports/logs
run_id=$($HARNESS run begin --suites "$(IFS=,; echo "${SUITES[*]}")") || exit 1
HARNESS_RUN_ID=$(printf '%s\n' "$run_id" | tail -n 1)
export HARNESS_RUN_ID
failed=()
record() {  # suite exit-code
  $HARNESS run record "$1" --exit-code "$2" >/dev/null || exit 1
  if [ "$2" -ne 0 ]; then failed+=("$1 (exit $2)"); fi
}
t0=$SECONDS
for suite in lint client; do
  (bash scripts/run_suite.sh "$suite" >"reports/logs/$suite.log" 2>&1; echo $? >"reports/logs/$suite.rc") &
done
echo "=== suites lint and client running beside core (logs in reports/logs/)"
rc=0; bash scripts/run_suite.sh core || rc=$?
record core $rc
wait
for suite in lint client; do
  echo "=== suite: $suite"; cat "reports/logs/$suite.log"
  record "$suite" "$(cat "reports/logs/$suite.rc" 2>/dev/null || echo 1)"
done
echo "=== lint, core and client finished in $((SECONDS - t0)) s"
for suite in load abuse e2e chaos cluster; do
  if [ ${#failed[@]} -gt 0 ]; then break; fi
  t1=$SECONDS; echo "=== suite: $suite"
  rc=0; bash scripts/run_suite.sh "$suite" || rc=$?
  record "$suite" $rc
  echo "=== suite: $suite finished in $((SECONDS - t1)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: suites that failed: ${failed[*]}; the suites after them did not run" >&2
  exit 1
fi
echo "make test: every suite passed in $((SECONDS - t0)) s"
