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
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-15s\033[0m %s\n", $$1, $$2}' \
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

test: $(STAMP) template-check ## Check the cloud template, then run the test suite
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
	rm -rf $(VENV) .venv-tools .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		samples/lake .local bench/results

# ---- Cloud: the SAM tools, template checks, build, deploy, seed and destroy ----------------
# SAM CLI + cfn-lint and checkov live in two environments under .venv-tools/ (their boto3 pins
# contradict each other and the project's), each pinned by tools/<name>/requirements.lock.
TOOLS := .venv-tools
SAM := $(TOOLS)/sam/bin/sam
CFN_LINT := $(TOOLS)/sam/bin/cfn-lint
CHECKOV := $(TOOLS)/checkov/bin/checkov
STACK ?= serving-layer-dev
STAGE ?= dev
PARAMS ?=
# The checks run offline: no SAM CLI telemetry, no checkov downloads.
export SAM_CLI_TELEMETRY := 0

.PHONY: tools template-check build deploy seed-cloud destroy

$(TOOLS)/%/.installed: tools/%/requirements.txt tools/%/requirements.lock
	rm -rf $(TOOLS)/$*
	$(PYTHON) -m venv $(TOOLS)/$*
	$(TOOLS)/$*/bin/pip install --quiet --disable-pip-version-check \
		-c tools/$*/requirements.lock -r tools/$*/requirements.txt
	@touch $@

tools: $(TOOLS)/sam/.installed $(TOOLS)/checkov/.installed ## Install SAM CLI, cfn-lint, checkov

template-check: tools ## Validate, lint and scan template.yaml (sam, cfn-lint, checkov)
	$(SAM) validate --lint --template template.yaml
	$(CFN_LINT) template.yaml
	$(CHECKOV) --file template.yaml --framework cloudformation --skip-download --quiet --compact

build: tools ## Build the three Lambda packages (.aws-sam/build)
	$(SAM) build --template template.yaml

deploy: build $(STAMP) ## Deploy STACK (STAGE=dev, PARAMS="VpcMode=true …"), then create its tables
	$(SAM) deploy --stack-name $(STACK) --s3-prefix $(STACK) \
		--parameter-overrides Stage=$(STAGE) $(PARAMS)
	$(BIN)/python -m serving_layer.cloud.tables --stack $(STACK)

seed-cloud: $(STAMP) samples/lake/catalog.db ## Load the sample lake into STACK's tables via Athena
	$(BIN)/python -m serving_layer.cloud.seed --stack $(STACK)

destroy: tools $(STAMP) ## Empty STACK's lake and results buckets, then delete it (asks first)
	$(BIN)/python -m serving_layer.cloud.buckets --stack $(STACK) $(if $(YES),--yes)
	$(SAM) delete --stack-name $(STACK) --no-prompts
