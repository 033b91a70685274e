# Journeyline — the targets a newcomer needs.
#   make run    install into .venv and run the whole embedded stack (broker + SQLite + three services)
#   make test   install into .venv, lint, type-check and run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install system-deps lint typecheck unit integration bench demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# With CI=true the tests also get the optional [semantic] extra, so the embedding and fine-tuning tests run instead
# of being skipped. The CPU build of torch goes first: an unpinned torch pulls a CUDA build of several GB.
$(BIN)/.semantic: $(BIN)/.installed
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,semantic]'
	touch $@

SEMANTIC_FOR_CI := $(if $(filter true,$(CI)),$(BIN)/.semantic)

# Tests also use the real Prometheus (promtool) and docker-compose (to validate the compose file) from Debian.
system-deps:
	@command -v promtool >/dev/null && command -v docker-compose >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus docker-compose >/dev/null; }

run: install
	$(BIN)/journeyline dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: system-deps lint typecheck $(SEMANTIC_FOR_CI)
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
