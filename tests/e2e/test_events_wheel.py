"""The events package as a release ships it: two wheels built from the tree, and the
consumer's virtualenv (tests/support/consumer_venv.py) holding the events one only."""

from __future__ import annotations

import json
import subprocess
import tomllib
import zipfile
from email.parser import Parser

from users_service_events import __version__

from tests.support.consumer_venv import consumer_env, consumer_python, wheels
from tests.support.services import ROOT

# What a consumer of one JSON message must not be made to install.
SERVICE_ONLY = {
    "users-service",
    "bcrypt",
    "asyncpg",
    "aiosqlite",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "pyjwt",
    "databases",
    "cryptography",
    "prometheus-client",
    "orjson",
    "uvloop",
}


def metadata(wheel_name: str) -> list[str]:
    wheel = wheels()[wheel_name]
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode()).get_all("Requires-Dist") or []


def test_the_events_wheel_needs_nothing_but_faust_for_its_records() -> None:
    requirements = metadata("users-service-events")
    assert all('extra == "faust"' in r for r in requirements), requirements
    assert any(r.startswith("faust-streaming") for r in requirements)


def test_the_service_wheel_pins_this_trees_events_package() -> None:
    assert f"users-service-events[faust]=={__version__}" in metadata("users-service")
    project = tomllib.loads((ROOT / "events" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "users-service-events" and "version" in project["dynamic"]


def test_the_consumers_virtualenv_holds_the_contract_and_nothing_of_the_service() -> None:
    python = str(consumer_python())
    env = consumer_env({"PATH": "/usr/bin:/bin"})
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "users-service-events" in installed and "faust-streaming" in installed
    assert installed & SERVICE_ONLY == set()
    for module in ("models", "users_service", "streamapp"):
        found = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, env=env, cwd="/"
        )
        assert found.returncode != 0, module
    subprocess.run(
        [python, "-c", "import users_service_events.records, users_service_events.dedup"],
        check=True,
        env=env,
        cwd="/",
    )
