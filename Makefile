# Two commands for a newcomer:  `make run` (set up + whole pipeline on data/)  and  `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
PYTHON ?= $(shell command -v python3.10 2>/dev/null || echo python3)
export TF_CPP_MIN_LOG_LEVEL ?= 1
export PYTHONWARNINGS ?= ignore::FutureWarning,ignore::DeprecationWarning

.PHONY: setup run test test-fast lint format clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else \
	  "Python 3.10 is required (the pinned TFX 1.16 wheels); found " + sys.version.split()[0] + \
	  ": install it (e.g. pyenv install 3.10) or run make PYTHON=/path/to/python3.10")'
	$(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned packages into $(VENV) (pip's output: $(INSTALL_LOG))"
	@$(BIN)/pip install --quiet --upgrade pip > $(INSTALL_LOG) 2>&1 \
	  && $(BIN)/pip install --quiet -c requirements/constraints.txt -e '.[dev,kfp]' \
	    >> $(INSTALL_LOG) 2>&1 \
	  || { tail -n 40 $(INSTALL_LOG); echo "pip failed: see $(INSTALL_LOG)"; exit 1; }
	touch $(STAMP)

# The main job: the whole spa-eng corpus in data/, 12 minutes of training (about 20 in all).
RUN_ARGS ?= --train-minutes 12

run: setup
	$(BIN)/nmt-pipeline run $(RUN_ARGS) $(ARGS)

# One pytest worker per core and one more (pytest-xdist), each taking the next test when it
# is free: the tests wait on subprocesses and single-threaded Beam steps much of the time (on
# 2 cores, 3 workers took 16 min where 2 took 23; docs/testing.md). The session's tiny
# pipeline runs are made once, by the first worker that needs them, for all
# (tests/conftest.py). PYTEST_WORKERS=0 runs the tests in this process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1); echo $$((n + 1)))

test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The unit tests only (no pipeline, Beam job, training loop or worker process).
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf outputs .pytest_cache
