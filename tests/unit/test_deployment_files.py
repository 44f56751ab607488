"""The files people deploy with keep the least-exposure defaults: docker-compose publishes
on loopback only and refuses plaintext command passwords; the image binds 0.0.0.0 only
because a container must; the stop grace covers the worker's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from streamapp.settings import load_settings

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
    assert load_settings({}, dotenv=ROOT / ".env").web_bind == "127.0.0.1"
