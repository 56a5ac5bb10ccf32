#!/usr/bin/env bash
# The main job: every suite at full strength, then the KPI report and the release gate.
# A failing suite does not stop the others (the gate names what failed); the exit code is the gate's.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -rf reports/kpi
mkdir -p reports/kpi
failed=()
run() {
  local name=$1; shift
  local t0=$SECONDS
  echo "=== suite: $name"
  if ! "$@"; then failed+=("$name"); fi
  echo "=== suite: $name finished in $((SECONDS - t0)) s"
}
run lint bash scripts/run_suite.sh lint
run core bash scripts/run_suite.sh core --full
run client bash scripts/run_suite.sh client
run bench bash scripts/run_suite.sh bench
run chaos bash scripts/run_suite.sh chaos --full
run load bash scripts/run_suite.sh load --full
run e2e bash scripts/run_suite.sh e2e --full
.venv/bin/harness report
if [ ${#failed[@]} -gt 0 ]; then echo "suites with failures: ${failed[*]}"; fi
.venv/bin/harness gate
