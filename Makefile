# The README's two commands. Both run setup first; setup is idempotent.
#   make test    the default test command (CI): lint + fast suites, well under 30 minutes
#   make verify  the main job: every suite at full strength, the KPI report and the release gate
.PHONY: setup test verify lint core client load e2e chaos bench report gate clean

SUITE := scripts/run_suite.sh

setup:
	@bash scripts/setup.sh

test: setup
	@bash $(SUITE) lint
	@bash $(SUITE) core
	@bash $(SUITE) client
	@bash $(SUITE) load
	@bash $(SUITE) e2e
	@bash $(SUITE) chaos

verify: setup
	@bash scripts/verify.sh

lint core client load e2e chaos bench: setup
	@bash $(SUITE) $@

report:
	@.venv/bin/harness report

gate:
	@.venv/bin/harness gate

clean:
	rm -rf reports .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache .hypothesis
