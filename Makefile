# The two commands of the README: `make demo` and `make test`. Both create .venv on first use
# and reinstall only when pyproject.toml or constraints.txt changed (a stamp file tracks it).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gefu-installed
PIP := $(BIN)/python -m pip
# Ignore machine-local wheel folders (see constraints.txt) so every machine resolves alike.
PIP_ENV := PIP_FIND_LINKS= PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: demo test lint format install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_ENV) $(PIP) install -q --upgrade "pip>=24" "setuptools>=64,<70" wheel
	$(PIP_ENV) $(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gefu run

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/harness_overhead.py

clean:
	rm -rf $(VENV) results/demo
