# One named command per task. Every target creates the virtual environment it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	cd examples/chat && ../../$(BIN)/wsgate serve --config wsgate.yaml

test: $(STAMP) lint types
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

check: lint types

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (BENCHMARKS.md): need gcc and taskset; bench-full and bench-compare also need
# Node and npm for the serverless-offline comparison, installed into benchmarks/.work/.
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: bench bench-full bench-compare

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile quick

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile full --compare

bench-compare: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile quick --compare-only
