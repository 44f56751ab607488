# One entry point for people and CI. Every target is idempotent.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run worker migrate test test-slow test-tools test-unit fuzz soak lint kafka-up kafka-down kafka-cluster-up kafka-cluster-down db-up db-down pgbouncer-up pgbouncer-down db-replica-up db-promote db-replica-down zipkin-up zipkin-down services-up services-down services-report bench clean

$(STAMP): pyproject.toml events/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The events distribution from ./events in the same resolution, so that the service's
	# pin on it is met by this tree's copy (it is not on any index).
	$(BIN)/pip install -q -e './events[faust]' -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

kafka-up:
	ops/kafka/kafka.sh up

kafka-down:
	ops/kafka/kafka.sh down

# Three KRaft brokers on 127.0.0.1:19092-19094 (RF 3, min.insync.replicas 2), beside the
# single broker; for the scale-out tests (make test-slow) and local trials.
kafka-cluster-up:
	ops/kafka/cluster.sh up

kafka-cluster-down:
	ops/kafka/cluster.sh down

db-up:
	ops/postgres/postgres.sh up

db-down:
	ops/postgres/postgres.sh down

# PgBouncer (Debian's) in transaction mode on 127.0.0.1:6432, to the PostgreSQL of db-up:
# DATABASE_URL=postgresql://users:users@127.0.0.1:6432/users DATABASE_POOLER=transaction
pgbouncer-up: db-up
	ops/postgres/pgbouncer.sh up

pgbouncer-down:
	ops/postgres/pgbouncer.sh down

# A streaming standby of db-up's PostgreSQL on 127.0.0.1:5433; db-promote makes it the
# primary; db-replica-down removes it (promoted or not) and leaves db-up's as it was.
db-replica-up: db-up
	ops/postgres/replica.sh up

db-promote:
	ops/postgres/replica.sh promote

db-replica-down:
	ops/postgres/replica.sh down

# Zipkin's server (in-memory) on 127.0.0.1:9411 (ZIPKIN_PORT), a local trace backend:
# OTEL_TRACES_EXPORTER=zipkin OTEL_EXPORTER_ZIPKIN_ENDPOINT=http://127.0.0.1:9411/api/v2/spans
# and the UI at http://127.0.0.1:9411/zipkin/.
zipkin-up:
	ops/zipkin/zipkin.sh up

zipkin-down:
	ops/zipkin/zipkin.sh down

services-up: kafka-up db-up

# Everything the targets above start (make test leaves it running for the next run):
# PgBouncer, the Kafka broker (the usual and the tests' own), the cluster, PostgreSQL.
services-down:
	ops/services.sh down

services-report:
	@ops/services.sh report

# Kafka: the one that answers at KAFKA_BROKER (.env: 127.0.0.1:9092) if it can create
# topics, else our own; SQLite unless DATABASE_URL says otherwise; then the worker in the
# foreground (Ctrl-C stops it; a broker we started keeps running: make kafka-down).
run: install
	@if $(BIN)/users-service kafka-check 2>/dev/null; then \
	  echo "Using the Kafka that already answers (ops/kafka/kafka.sh did not start one)"; \
	else ops/kafka/kafka.sh up; fi
	@echo "Starting the worker on :$${WEB_PORT:-6066}. From another terminal:"
	@echo "  curl -i -X POST localhost:$${WEB_PORT:-6066}/users/v1/users -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"nombre\": \"Ana\", \"email\": \"ana@example.com\", \"password\": \"correct-horse\"}'"
	@echo "  TOKEN=\$$($(BIN)/users-service token --scope users:read --scope ops:read)"
	@echo "  curl -s localhost:$${WEB_PORT:-6066}/users/v1/users -H \"Authorization: Bearer \$$TOKEN\""
	$(BIN)/users-service worker --loglevel=info

# The schema to head (workers also migrate at start), for DATABASE_URL or .env's.
migrate: install
	$(BIN)/users-service migrate

# A broker the tests control (they stop and start it): ours on the usual ports, or on free
# ports when something else already holds 127.0.0.1:9092 (kafka.sh test-env).
# And the three-broker cluster for the failure tests on it (tests/e2e/test_cluster.py).
# They stay up for the next run, which then starts in seconds; the last lines say what
# runs (make services-down stops it all).
test: install db-up pgbouncer-up zipkin-up test-tools
	ops/kafka/cluster.sh up
	eval "$$(ops/kafka/kafka.sh test-env)" && $(BIN)/pytest -q; status=$$?; \
	  ops/services.sh report; exit $$status

test-tools:
	ops/test-tools.sh

# The long failure runs on the three-broker cluster: two brokers down, a rolling restart.
test-slow: install db-up pgbouncer-up test-tools
	ops/kafka/cluster.sh up
	eval "$$(ops/kafka/kafka.sh test-env)" && $(BIN)/pytest -q -s -m slow; status=$$?; \
	  ops/services.sh report; exit $$status

# The properties (pytest -m property) with many more generated examples than `make test`.
fuzz: install db-up test-tools
	eval "$$(ops/kafka/kafka.sh test-env)" && HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -m property; \
	  status=$$?; ops/services.sh report; exit $$status

# No service needed: Kafka and PostgreSQL may be stopped.
test-unit: install
	$(BIN)/pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	# Every `re` pattern literal linear (the service's own patterns are RE2's).
	$(BIN)/python ops/redos_check.py .

# Node.js and npm (test-tools) build the NestJS peer of bench/peers/nest-users.
bench: install services-up pgbouncer-up test-tools
	$(BIN)/python -m bench

# About five minutes of load while Kafka, PostgreSQL and workers fail (not part of test).
soak: install services-up
	$(BIN)/python -m bench.soak

clean:
	ops/kafka/kafka.sh reset || true
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
