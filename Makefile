# Journeyline — the targets a newcomer needs.
#   make run    install into .venv and run the whole embedded stack (broker + SQLite + three services)
#   make test   install into .venv, lint, type-check and run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install lint typecheck unit integration bench demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/journeyline dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q -ra

unit: install
	$(BIN)/pytest -q tests -m "not integration"

integration: install
	$(BIN)/pytest -q tests -m integration

bench: install
	$(BIN)/journeyline bench

demo: install
	$(BIN)/journeyline demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
