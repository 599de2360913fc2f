# Two commands for a fresh machine: `make run` starts a node, `make test` runs the suite.
# Each installs what it needs into .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# A node on port 8734 with its LMDB store and wallet in ./aonode-data (created on first start).
# Override with `make run PORT=9000 DATA=/var/lib/aonode`; Ctrl-C stops it cleanly.
# It installs only what a node needs to run (the package and its dependencies; the test tools are
# `make test`'s), and says what it is doing while it does.
PORT ?= 8734
DATA ?= aonode-data
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "make run: creating the virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "make run: installing aonode and the packages a node needs to run into $(VENV) (pip install -e .):"
	$(BIN)/pip install --progress-bar off --upgrade pip
	$(BIN)/pip install --progress-bar off -e .
	@touch $(RUN_STAMP)
	@echo "make run: installed; next time this step is skipped until pyproject.toml changes"
# One worker process per core, all on the one LMDB store (docs/decisions.md); `make run WORKERS=1` for one.
WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
run: $(RUN_STAMP)
	@echo "make run: starting a node on http://localhost:$(PORT)/ (web console), data in $(DATA)/; Ctrl-C stops it"
	$(BIN)/aonode serve --port $(PORT) --data-dir $(DATA) --workers $(WORKERS)

# Two workers (CI has two cores); a test file stays on one worker, so its module fixtures (a node,
# a store) are shared as when run alone.
test: $(STAMP)
	@tests/install-services
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check aonode tests bench
	$(BIN)/mypy

bench: $(STAMP)
	for b in bench/[!_]*.py; do $(BIN)/python -P $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
