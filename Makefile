# One entry point for people and CI. Every target is idempotent.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run worker migrate test test-tools test-unit soak lint kafka-up kafka-down db-up db-down services-up bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

kafka-up:
	ops/kafka/kafka.sh up

kafka-down:
	ops/kafka/kafka.sh down

db-up:
	ops/postgres/postgres.sh up

db-down:
	ops/postgres/postgres.sh down

services-up: kafka-up db-up

# Kafka locally, SQLite unless DATABASE_URL says otherwise, then the worker in the foreground.
run: install kafka-up
	@echo "Starting the worker on :$${WEB_PORT:-6066}. From another terminal:"
	@echo "  curl -i -X POST localhost:$${WEB_PORT:-6066}/users/v1/users -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"nombre\": \"Ana\", \"email\": \"ana@example.com\", \"password\": \"correct-horse\"}'"
	@echo "  TOKEN=\$$($(BIN)/users-service token --scope users:read --scope ops:read)"
	@echo "  curl -s localhost:$${WEB_PORT:-6066}/users/v1/users -H \"Authorization: Bearer \$$TOKEN\""
	$(BIN)/users-service worker --loglevel=info

# The schema to head (workers also migrate at start), for DATABASE_URL or .env's.
migrate: install
	$(BIN)/users-service migrate

test: install services-up test-tools
	$(BIN)/pytest -q

test-tools:
	ops/test-tools.sh

# No service needed: Kafka and PostgreSQL may be stopped.
test-unit: install
	$(BIN)/pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: install services-up
	$(BIN)/python -m bench

# About five minutes of load while Kafka, PostgreSQL and workers fail (not part of test).
soak: install services-up
	$(BIN)/python -m bench.soak

clean:
	ops/kafka/kafka.sh reset || true
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
