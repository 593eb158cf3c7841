# One named command per task. Every target creates the virtual environment it needs, from the
# lock files in requirements/ (exact versions with hashes), never from pyproject.toml's ranges.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Node.js runtime of function workers: see the node target below.
NODE_DIR := runtimes/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
NODE_TOOLS := node npm g++ make cmake autoconf automake libtoolize

# uv resolves the lock for every supported Python and platform at once and installs in
# seconds; it is pinned, and installed from PyPI into .tools/ when absent.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
LOCK := $(UV) pip compile --universal --generate-hashes --python-version 3.11 --no-header --quiet
# Installs one lock file into .venv exactly (what is not in it is removed), then wsgate itself.
define sync_venv
	test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(1)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
endef

.PHONY: run test fuzz lint types check clean lock upgrade lock-check

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The hot path that setup.py compiles with mypyc as wsgate installs (wsgate.compiled.HOT_PATH):
# a change to one of these sources builds the extensions again, or the edit would not run.
HOT_PATH := src/wsgate/compiled.py $(shell sed -n 's|^    "\(wsgate/[a-z0-9_/]*\.py\)",$$|src/\1|p' src/wsgate/compiled.py)
# make test runs the suite on the compiled hot path, then these tests again on its sources.
PURE_TESTS := tests/core tests/server tests/integrations tests/test_compiled.py

# Every extension is built anew: one left from a module no longer compiled would still be
# imported before its source.
$(STAMP): requirements/dev.txt pyproject.toml setup.py $(HOT_PATH) | $(UV)
	find src -name '*.so' -delete
	$(call sync_venv,requirements/dev.txt)
	touch $(STAMP)

run: $(STAMP)
	cd examples/chat && ../../$(BIN)/wsgate serve --config wsgate.yaml

# The same chat with Node.js functions (examples/chat-node), on 8081/8444 beside `make run`.
.PHONY: run-node
run-node: $(STAMP) $(NODE_STAMP)
	cd examples/chat-node && ../../$(BIN)/wsgate serve --config wsgate.yaml

test: $(STAMP) $(NODE_STAMP) lint types
	$(BIN)/python -m pytest
	WSGATE_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PURE_TESTS)

# The front door's fuzz suite at scale: FUZZ_EXAMPLES per property and listener (4 runs).
FUZZ_EXAMPLES ?= 2500
fuzz: $(STAMP)
	WSGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/e2e/test_fuzz.py -q --timeout=0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

check: lint types

# The Node.js runtime of function workers (docs/workers.md): AWS's aws-lambda-ric and the AWS
# SDK client a Lambda Node runtime ships, exactly as runtimes/node/package-lock.json pins them.
# aws-lambda-ric compiles a native addon as it installs: g++, make, cmake, autoconf, automake
# and libtool (Debian packages of those names; .ci/run installs the missing ones).
# NODE_DIR, NODE_STAMP and NODE_TOOLS are set at the top (make test needs NODE_STAMP).

.PHONY: node

node: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@missing=""; for tool in $(NODE_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	test -z "$$missing" || { echo "make node: not found:$$missing (Debian: apt-get install nodejs npm g++ make cmake autoconf automake libtool)" >&2; exit 1; }
	npm ci --prefix $(NODE_DIR)
	touch $(NODE_STAMP)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache

# The lock files. `make lock` records pyproject.toml's changes and keeps every other pin;
# `make upgrade` moves every pin to the newest release the ranges allow. Either one then
# runs the suite on the new lock: commit requirements/ only when it passes.
# bench.txt holds everything; dev.txt and runtime.txt are cut from it, so a package has one
# version in all three.
define compile_locks
	$(LOCK) $(1) pyproject.toml requirements/build.in --extra dev --extra redis --extra workers --extra sigv4 --extra project --extra bench -o requirements/bench.txt
	$(LOCK) pyproject.toml requirements/build.in --extra dev --extra redis --extra workers --extra sigv4 --extra project -c requirements/bench.txt -o requirements/dev.txt
	$(LOCK) pyproject.toml requirements/build.in --extra redis --extra workers --extra sigv4 --extra project -c requirements/bench.txt -o requirements/runtime.txt
endef

lock: | $(UV)
	$(call compile_locks,)
	$(MAKE) test

upgrade: | $(UV)
	$(call compile_locks,--upgrade)
	$(MAKE) test

# Fails when pyproject.toml asks for something the committed lock files do not hold (CI runs
# it): the locks are compiled again in place, keeping their pins, and must come out unchanged.
lock-check: | $(UV)
	$(call compile_locks,)
	git diff --exit-code --stat -- requirements/ || (echo "requirements/ is out of date with pyproject.toml: run make lock" && exit 1)

# Benchmarks (BENCHMARKS.md): need gcc and taskset; bench-full and bench-compare also need
# Node and npm for the serverless-offline comparison, installed into benchmarks/.work/.
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: bench bench-full bench-compare bench-instructions

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(call sync_venv,requirements/bench.txt)
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile quick

bench-full: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile full --compare

bench-compare: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --profile quick --compare-only

# Instructions per round trip under callgrind (valgrind), beside revision REV if given.
bench-instructions: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.instructions $(if $(REV),--against $(REV))
