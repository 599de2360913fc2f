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

# The HTTP node (`aonode serve`) is not built yet; until it is, say so plainly.
run: $(STAMP)
	@if $(BIN)/aonode --help | grep -q serve; then $(BIN)/aonode serve; else \
	  echo "aonode: the HTTP node is not built yet; installed: $$($(BIN)/aonode --version)"; \
	  echo "try: $(BIN)/aonode wallet new wallet.json"; exit 1; fi

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check aonode tests bench
	$(BIN)/mypy

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .hypothesis
