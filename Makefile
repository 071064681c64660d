# Two entry points (README): `make run` (dashboard on the shipped data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8501

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU environment: the pin lives here, not in pyproject, so a GPU user's torch is kept.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,scale]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/roofline dashboard --port $(PORT)

test: setup
	TRITON_INTERPRET=1 $(BIN)/python -m pytest -q -n 2 tests

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/sweep_bench.py
	$(BIN)/python benchmarks/simulate_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
