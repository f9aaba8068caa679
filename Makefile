# dispatch1310: `make up` runs the system, `make test` runs the whole suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test lint typecheck unit browsers clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

up: $(STAMP)
	$(BIN)/dispatch1310 up

# Debian's Chromium for the browser tests, when missing (CI runs as root on Debian).
browsers:
	@if [ ! -x /usr/bin/chromium ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			$$SUDO apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null; \
		else echo "no apt-get: install chromium yourself for the browser tests"; fi; \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check events services tests
	$(BIN)/ruff format --check events services tests

typecheck: $(TEST_STAMP)
	$(BIN)/mypy events services

unit: $(TEST_STAMP)
	$(BIN)/pytest -q tests/unit

test: $(TEST_STAMP) browsers lint typecheck
	$(BIN)/pytest -q -ra

bench: $(STAMP)
	$(BIN)/dispatch1310 bench --quick

clean:
	rm -rf $(VENV) .dispatch1310 .pytest_cache .mypy_cache .ruff_cache
