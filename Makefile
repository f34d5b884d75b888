# hyperpod-autoheal — every target a newcomer needs. The venv is created on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test unit integration scenarios lint typecheck template-lint clean

help:
	@echo "make test       install into .venv and run lint, type checks, template checks and all tests"
	@echo "make unit       pure-core unit tests only (no network)"
	@echo "make lint       ruff + mypy + template validation"
	@echo "make demo       the scripted incident on a local HyperPod control plane (ARGS=\"--json\" ...)"

$(STAMP): requirements-dev.txt layers/autoheal/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .  # the `autoheal` operator CLI
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

template-lint: $(STAMP)
	$(BIN)/python -m tests.tools.lint_template template.yaml

test: lint template-lint
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

scenarios: $(STAMP)
	$(BIN)/python -m pytest -q tests/scenarios

# The service's main job on a local HyperPod control plane (no AWS account): make demo ARGS="--json"
# (flags: --json, --scenario FILE, --nodes N, --seed N, --quiet, --logs FILE; see README "First run").
# The venv comes from the $(STAMP) rule, its output sent to stderr so that `--json` stdout stays pure.
.PHONY: demo
demo:
	@$(MAKE) --no-print-directory --question $(STAMP) || $(MAKE) --no-print-directory $(STAMP) >&2
	@PYTHONPATH=layers/autoheal $(BIN)/python -m hyperpod_local.demo $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
