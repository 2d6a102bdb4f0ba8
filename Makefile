# The two commands a newcomer needs: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
STAGE ?= dev

.PHONY: run test test-fast lint check-infra bench deploy clean

$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local: apt install openjdk-17-jre-headless"; exit 1; }
	@command -v npm >/dev/null || { echo "npm is required to fetch DynamoDB Local: apt install nodejs npm"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/autofunnel dev

# The whole suite, one worker per core (each with its own DynamoDB Local and Chromium).
test: $(INSTALLED)
	@scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto --dist worksteal

# The edit loop: the unit tier only (no DynamoDB Local, no Chromium), in seconds.
test-fast: $(INSTALLED)
	$(BIN)/pytest -m "not integration and not browser" -q

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(INSTALLED)
	$(BIN)/python bench/run.py

deploy: $(INSTALLED)
	$(BIN)/autofunnel deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .mypy_cache
