# The README's two commands. Both run setup first; setup is idempotent.
#   make test    the default test command (CI): lint + fast suites, well under 30 minutes
#   make verify  the main job: every suite at full strength, the KPI report and the release gate
.PHONY: setup test verify verify-cluster lint core client load abuse e2e chaos cluster bench selftest report gate clean

SUITE := scripts/run_suite.sh
HARNESS := .venv/bin/harness

setup:
	@bash scripts/setup.sh

# One run over every suite of the default command; see scripts/test.sh.
test: setup
	@bash scripts/test.sh

# verify.sh runs setup itself, so make_verify_minutes covers setup too.
verify:
	@bash scripts/verify.sh

# The cluster scenarios (three game servers, a NATS cluster, PostgreSQL); see scripts/verify_cluster.sh.
verify-cluster:
	@bash scripts/verify_cluster.sh

lint core client load abuse e2e chaos cluster bench selftest: setup
	@bash $(SUITE) $@

report:
	@$(HARNESS) report

gate:
	@$(HARNESS) gate

clean:
	rm -rf reports .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
