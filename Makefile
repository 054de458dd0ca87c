# opsconsole — every target sets up what it needs (virtualenv, packages) by itself.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export TEXTUAL_ANIMATIONS := none

.PHONY: venv system-deps bench-deps lint test test-fast soak bench bench-quick demo demo-stop screenshots snapshots-update clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "opsconsole needs Python 3.11+"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@# Bytecode as an install would have it (PYTHONDONTWRITEBYTECODE would otherwise recompile every start).
	$(BIN)/python -m compileall -q console widgets
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages (prometheus) when missing; needs root or passwordless sudo, else warns.
system-deps:
	@bash .ci/system-deps

lint: venv
	$(BIN)/ruff check console widgets tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite: lint, layer contracts, unit, integration and snapshot tests.
test: lint system-deps
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: venv
	$(BIN)/pytest -q -x -p no:cacheprovider

# Long fault-injection runs: 50 kill -9 / restart cycles per backend (the `soak` marker, excluded from `make test`).
soak: venv system-deps
	$(BIN)/pytest -q -rP -p no:cacheprovider -m soak tests/test_faults.py

# Benchmarks against peers measured in the same run (not tests: they never fail); results in
# tests/bench/results/latest.{md,json}. NAME=startup,steady,... runs only those (see --list).
bench-deps:
	@bash .ci/bench-deps

bench: venv system-deps bench-deps
	$(BIN)/python -m tests.bench $(if $(NAME),--only $(NAME))

bench-quick: venv system-deps bench-deps
	$(BIN)/python -m tests.bench --quick $(if $(NAME),--only $(NAME))

# Open the console on the local demo stack (started in the background when not already running).
demo: venv system-deps
	@$(BIN)/python -m compileall -q console widgets
	$(BIN)/opsconsole demo up
	$(BIN)/opsconsole --config examples/demo.toml

demo-stop: venv
	$(BIN)/opsconsole demo down

# Regenerate screenshots/*.svg from the snapshot fixtures.
screenshots: venv
	$(BIN)/python -m tests.fixtures.screenshots screenshots

snapshots-update: venv
	$(BIN)/pytest -q tests/test_snapshots.py --snapshot-update
	OPSCONSOLE_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/test_timeline.py -k golden

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
