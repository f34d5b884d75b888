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

$(STAMP): requirements-dev.txt layers/autoheal/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
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

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
