# The README's two commands. Both run setup first; setup is idempotent.
#   make test    the default test command (CI): lint + fast suites, well under 30 minutes
#   make verify  the main job: every suite at full strength, the KPI report and the release gate
.PHONY: setup test verify lint core client load abuse e2e chaos bench selftest report gate clean

SUITE := scripts/run_suite.sh
HARNESS := .venv/bin/harness
# make test's suites, in order. It stops at the first one that fails.
TEST_SUITES := lint core client load abuse e2e chaos

setup:
	@bash scripts/setup.sh

# One run: `harness run begin` names the suites, each suite's exit code is recorded, so
# `make report` afterwards shows this run (and which suites did not run after a failure).
test: setup
	@rm -rf reports/kpi && mkdir -p reports/kpi; \
	run_id=$$($(HARNESS) run begin --suites $$(echo $(TEST_SUITES) | tr ' ' ',')) || exit 1; \
	HARNESS_RUN_ID=$$(printf '%s\n' "$$run_id" | tail -n 1); export HARNESS_RUN_ID; \
	for suite in $(TEST_SUITES); do \
	  rc=0; bash $(SUITE) $$suite || rc=$$?; \
	  $(HARNESS) run record $$suite --exit-code $$rc || exit 1; \
	  if [ $$rc -ne 0 ]; then echo "make test: suite $$suite failed (exit $$rc); the suites after it did not run" >&2; exit $$rc; fi; \
	done

# verify.sh runs setup itself, so make_verify_minutes covers setup too.
verify:
	@bash scripts/verify.sh

lint core client load abuse e2e chaos bench selftest: setup
	@bash $(SUITE) $@

report:
	@$(HARNESS) report

gate:
	@$(HARNESS) gate

clean:
	rm -rf reports .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
