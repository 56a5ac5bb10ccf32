#!/usr/bin/env bash
# The main job (`make verify`): setup, every suite at full strength, the KPI report, the release gate.
#
# One run: `harness run begin --full` names the suites and gives the run id (HARNESS_RUN_ID)
# that every KPI file is stamped with; each suite's exit code is recorded with `harness run
# record`. A failing suite does not stop the others, and the report is always written. The exit
# code is 0 only when every suite passed AND the gate passed; otherwise 1, after naming each
# failed suite ("suites that failed: chaos (exit 1), client (exit 1)") and the gate's verdict.
# The wall time from before setup to the report becomes the KPI make_verify_minutes
# (reports/kpi/verify.json).
#
# Developer aid, not a release check: VERIFY_SUITES="lint client" runs only those suites (in
# full) and records only them; the gate then fails naming the KPIs of the suites left out, and
# make_verify_minutes is written as not measured.
set -uo pipefail
cd "$(dirname "$0")/.."
started_epoch=$(date +%s)
ALL_SUITES="lint core client bench chaos cluster load abuse e2e selftest"
suites=${VERIFY_SUITES:-$ALL_SUITES}
PY=.venv/bin/python
HARNESS=.venv/bin/harness
export MYTHOS_STRICT_SKIPS=1

if ! bash scripts/setup.sh; then
  echo "make verify: setup failed; nothing was run" >&2
  exit 1
fi

rm -rf reports/kpi
mkdir -p reports/kpi
if ! run_id=$("$HARNESS" run begin --full --suites "$(echo $suites | tr ' ' ',')"); then
  echo "make verify: 'harness run begin' failed; nothing was run" >&2
  exit 1
fi
HARNESS_RUN_ID=$(printf '%s\n' "$run_id" | tail -n 1)
export HARNESS_RUN_ID
echo "=== run $HARNESS_RUN_ID: $suites"

failed=()
args_of() {
  case "$1" in core|chaos|cluster|load|e2e|abuse) echo --full ;; esac
}
record() {  # suite exit-code seconds
  if [ "$2" -ne 0 ]; then failed+=("$1 (exit $2)"); fi
  if ! "$HARNESS" run record "$1" --exit-code "$2"; then failed+=("$1 (outcome not recorded)"); fi
  echo "=== suite: $1 finished in $3 s, exit $2"
}
# Phases run one after another. Within a phase, lanes (split by "|") run side by side and the
# suites of one lane one after another; the first lane prints as it goes, the others log to
# reports/logs/<suite>.log, printed when the phase ends. Suites with timed figures (latency,
# recovery) share a phase only with suites that mostly wait, never with a CPU-bound one.
PHASES=(
  "core | lint client selftest"  # not timed: two CPU-bound lanes on two cores
  "bench"
  "chaos | cluster"  # recovery figures with second-scale specs; both mostly wait on fault schedules
  "load"
  "abuse"
  "e2e"
)
selected() { [[ " $suites " == *" $1 "* ]]; }
placed=" "
for phase in "${PHASES[@]}"; do placed+="${phase//|/ } "; done
for suite in $suites; do
  if [[ "$placed" != *" $suite "* ]]; then PHASES+=("$suite"); fi  # a suite of no phase runs alone, last
done
mkdir -p reports/logs
for phase in "${PHASES[@]}"; do
  IFS='|' read -ra lanes <<<"$phase"
  kept=()
  for lane in "${lanes[@]}"; do
    mine=""
    for suite in $lane; do if selected "$suite"; then mine+="$suite "; fi; done
    if [ -n "$mine" ]; then kept+=("$mine"); fi
  done
  if [ ${#kept[@]} -eq 0 ]; then continue; fi
  pids=()
  for ((i = 1; i < ${#kept[@]}; i++)); do
    # A lane that dies before writing an outcome must read as a failure, not as an old run's.
    for suite in ${kept[$i]}; do rm -f "reports/logs/$suite.rc"; done
    echo "=== suites ${kept[$i]% } running beside ${kept[0]% } (logs in reports/logs/)"
    (
      for suite in ${kept[$i]}; do
        t0=$SECONDS
        bash scripts/run_suite.sh "$suite" $(args_of "$suite") >"reports/logs/$suite.log" 2>&1
        echo "$? $((SECONDS - t0))" >"reports/logs/$suite.rc"
      done
    ) &
    pids+=($!)
  done
  for suite in ${kept[0]}; do
    t0=$SECONDS
    echo "=== suite: $suite"
    bash scripts/run_suite.sh "$suite" $(args_of "$suite")
    record "$suite" $? $((SECONDS - t0))
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for ((i = 1; i < ${#kept[@]}; i++)); do
    for suite in ${kept[$i]}; do
      echo "=== suite: $suite"; cat "reports/logs/$suite.log"
      read -r rc secs <"reports/logs/$suite.rc" 2>/dev/null || { rc=1; secs=0; }
      record "$suite" "$rc" "$secs"
    done
  done
done

partial=()
if [ "$suites" != "$ALL_SUITES" ]; then partial=(--partial "VERIFY_SUITES=$suites"); fi
if ! "$PY" -m harness.quality verify-time --started "$started_epoch" "${partial[@]}" \
    --out reports/kpi/verify.json; then
  failed+=("make_verify_minutes (not written)")
fi

report_rc=0
"$HARNESS" report || report_rc=$?
gate_rc=0
"$HARNESS" gate || gate_rc=$?

status=0
if [ ${#failed[@]} -gt 0 ]; then
  joined=$(printf '%s, ' "${failed[@]}")
  echo "suites that failed: ${joined%, }" >&2
  status=1
fi
if [ "$report_rc" -ne 0 ]; then echo "harness report failed (exit $report_rc)" >&2; status=1; fi
if [ "$gate_rc" -ne 0 ]; then echo "release gate failed (exit $gate_rc)" >&2; status=1; fi
if [ "$status" -eq 0 ]; then echo "make verify: every suite passed and the gate passed (run $HARNESS_RUN_ID)"; fi
exit "$status"
