# The two commands of the README: `make demo` and `make test`. Both create .venv on first use
# and reinstall only what changed (stamp files track it). `make demo` needs only the base
# install; `make test` also builds the OpenMMLab stack (mmcv from source: ~10 min the first
# time on 2 cores; pip's wheel cache makes later installs fast).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.gefu-base
OPENMMLAB := $(VENV)/.gefu-openmmlab
# Ignore machine-local wheel folders (see constraints.txt) so every machine resolves alike.
PIP := PIP_FIND_LINKS= PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/python -m pip
# mmcv 2.1.0's setup.py imports pkg_resources, gone from setuptools >= 70, while torch 2.13
# requires setuptools >= 77: the old one is installed just for the mmcv build, then restored.
EXTRAS := dev,diffusion

.PHONY: demo test lint format install install-openmmlab bench clean docs-figures

install: $(BASE)

$(BASE): pyproject.toml constraints.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" wheel
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	touch $@

install-openmmlab: $(OPENMMLAB)

$(OPENMMLAB): $(BASE)
	$(BIN)/python -c "import mmcv.ops" 2>/dev/null || { \
	  $(PIP) install -q "setuptools>=64,<70" 2>/dev/null; \
	  MMCV_WITH_OPS=1 $(PIP) install -q --no-build-isolation -c constraints.txt mmcv; }
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS),openmmlab,ray]" "setuptools>=77"
	touch $@

demo: $(BASE)
	$(BIN)/gefu run

# README's marked demo blocks, rewritten from the store `make demo` wrote (scripts/docs_figures.py;
# RESULTS=<folder> to use another run, CHECK=1 to only say whether they still match).
RESULTS ?= results/demo
docs-figures: $(BASE)
	$(BIN)/python scripts/docs_figures.py $(RESULTS) $(if $(CHECK),--check)

test: $(OPENMMLAB) lint
	$(BIN)/python -m pytest

lint: $(BASE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BASE)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(OPENMMLAB)
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/harness_overhead.py --detection
	$(BIN)/python benchmarks/detection_streaming.py
	$(BIN)/python benchmarks/cached_rerun.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/store_write_rate.py
	$(BIN)/python benchmarks/per_image_costs.py
	$(BIN)/python benchmarks/dataset_metadata.py
	$(BIN)/python benchmarks/selective_scan.py
	$(BIN)/python benchmarks/report_statistics.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/darkface_official.py

clean:
	rm -rf $(VENV) results/demo
