# Serving Layer — every task a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRACKCODES ?= 200000
SEED ?= 7
PORT ?= 3000

.PHONY: help venv local test check fmt lint types samples bench clean

help: ## List the targets with what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[local,dev]'
	@touch $@

venv: $(STAMP) ## Create the virtualenv with the pinned dependencies

samples/lake/catalog.db: | $(STAMP)
	$(BIN)/serving-layer samples --trackcodes $(TRACKCODES) --seed $(SEED)

samples: $(STAMP) ## Generate the sample Iceberg lake (TRACKCODES=200000 SEED=7)
	$(BIN)/serving-layer samples --trackcodes $(TRACKCODES) --seed $(SEED)

# The sample lake is built only when missing; the sample clients get fresh keys on every run
# (printed once, with `export KEY=…` lines and curl calls to paste), then the gateway emulator
# serves template.yaml's routes until Ctrl-C.
local: $(STAMP) samples/lake/catalog.db ## Serve the API on 127.0.0.1:PORT (3000) with sample data and keys
	$(BIN)/python -m local --seed-samples --port $(PORT)

test: $(STAMP) ## Run the test suite
	$(BIN)/pytest

fmt: $(STAMP) ## Format the code
	$(BIN)/ruff format src tests local bench
	$(BIN)/ruff check --fix src tests local bench

lint: $(STAMP) ## Check formatting and lint
	$(BIN)/ruff format --check src tests local bench
	$(BIN)/ruff check src tests local bench

types: $(STAMP) ## Check types
	$(BIN)/mypy

check: lint types test ## Format, lint, types and tests: everything CI checks

bench: $(STAMP) ## Measure the engine and the API on a 1,000,000-trackcode lake
	$(BIN)/python -m bench

clean: ## Remove the virtualenv, caches and generated data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis samples/lake .local
