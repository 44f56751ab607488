"""The files people deploy with keep the least-exposure defaults: docker-compose publishes
on loopback only and refuses plaintext command passwords; the image binds 0.0.0.0 only
because a container must; the stop grace covers the worker's own."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from users_service_events import __version__

from streamapp.settings import load_settings, variable_names

ROOT = Path(__file__).resolve().parents[2]


def service() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    users: dict[str, Any] = compose["services"]["users-service"]
    return users


def test_compose_publishes_the_port_on_loopback_only() -> None:
    ports = service()["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports)


def test_compose_refuses_plaintext_command_passwords_and_needs_a_real_secret() -> None:
    env = service()["environment"]
    assert env["COMMANDS_ACCEPT_PLAINTEXT_PASSWORD"] == "false"
    assert env["AUTH_JWT_SECRET"].startswith("${AUTH_JWT_SECRET:?")  # no default secret


def test_compose_gives_the_worker_more_than_its_shutdown_grace() -> None:
    users = service()
    grace = float(users["environment"]["SHUTDOWN_GRACE"])
    stop = float(re.fullmatch(r"(\d+)s", users["stop_grace_period"]).group(1))  # type: ignore[union-attr]
    assert stop > grace


def test_the_image_binds_all_interfaces_and_make_run_loopback() -> None:
    assert "ENV WEB_BIND=0.0.0.0" in (ROOT / "Dockerfile").read_text()
    assert load_settings({}, dotenv=ROOT / ".env").http.bind == "127.0.0.1"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_runs_kafka_postgres_and_the_service() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "postgres", "users-service"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["users-service"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_health_is_the_readiness_probe() -> None:
    check = service()["healthcheck"]["test"]
    assert "/readyz" in " ".join(check)
    image = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in image and "/readyz" in image


def test_every_port_compose_publishes_is_bound_to_loopback() -> None:
    for name, spec in compose()["services"].items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_every_variable_compose_sets_is_one_the_service_reads() -> None:
    known = variable_names()
    env = service()["environment"]
    unknown = sorted(set(env) - known)
    assert not unknown, f"compose sets variables the service does not read: {unknown}"
    # And each value compose gives is valid (the secret comes from the host's environment).
    given = {k: str(v) for k, v in env.items() if not str(v).startswith("${")}
    load_settings({**given, "AUTH_JWT_SECRET": "x" * 32}, dotenv=None)


def test_the_env_file_names_only_variables_the_service_reads() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert names <= variable_names(), sorted(names - variable_names())


def test_the_image_logs_json_and_make_run_text() -> None:
    assert "ENV LOG_FORMAT=json" in (ROOT / "Dockerfile").read_text()
    assert service()["environment"]["LOG_FORMAT"] == "json"
    assert load_settings({}, dotenv=ROOT / ".env").operations.log_format == "text"


def test_the_service_installs_this_trees_events_package_wherever_it_is_installed() -> None:
    # The pin is met by ./events in the same pip run (the package is on no index): in
    # make install, and in the image.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"users-service-events[faust]=={__version__}" in project["dependencies"]
    makefile = (ROOT / "Makefile").read_text()
    assert "$(BIN)/pip install -q -e './events[faust]' -e '.[dev]'" in makefile
    assert "$(STAMP): pyproject.toml events/pyproject.toml" in makefile
    assert "pip install --no-cache-dir ./events . " in (ROOT / "Dockerfile").read_text()
