"""`make test` says what it leaves running (ops/services.sh report), on the real services."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.services import KAFKA, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


def test_the_report_names_the_tests_broker_and_postgresql(kafka: None) -> None:
    # The suite's broker is one of ops/kafka/kafka.sh's (the tests stop and start it), so
    # the report finds it by its pid file; PostgreSQL by its port.
    broker_port = KAFKA.rsplit(":", 1)[1]
    postgres = urlsplit(POSTGRES_URL)
    answer = subprocess.run(
        [ROOT / "ops" / "services.sh", "report"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PG_PORT": str(postgres.port or 5432)},
    )
    assert answer.returncode == 0, answer.stderr
    head, *services = answer.stdout.splitlines()
    assert head.startswith("Left running for the next run (Kafka's JVMs hold "), head
    assert head.endswith(" MiB; `make services-down` stops all of it):"), head
    assert any(s.startswith(f"  Kafka broker on 127.0.0.1:{broker_port} (pid ") for s in services)
    if postgres.hostname in ("127.0.0.1", "localhost"):
        assert f"  PostgreSQL on 127.0.0.1:{postgres.port or 5432}" in services, services
