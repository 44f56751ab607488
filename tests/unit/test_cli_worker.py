"""`users-service worker` runs Faust's worker with uvloop and the configured logging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamapp.cli import worker_arguments
from streamapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_asyncio_s_loop_and_the_log_level_of_the_settings() -> None:
    args = worker_arguments([], Settings())
    assert args == ["-A", "streamapp.app", "--loop", "aio", "worker", "--loglevel", "info"]


def test_json_logs_drop_the_banner_and_options_given_win() -> None:
    settings = Settings().replaced(operations={"log_format": "json", "log_level": "WARNING"})
    args = worker_arguments(["-L", "uvloop", "--loglevel=debug", "--web-port", "7000"], settings)
    assert args == [
        "-A", "streamapp.app", "--loop", "uvloop", "--quiet", "worker",
        "--loglevel=debug", "--web-port", "7000",
    ]  # fmt: skip


def test_log_levels_are_given_in_faust_s_names() -> None:
    for level, name in (("WARNING", "warn"), ("ERROR", "error"), ("DEBUG", "debug")):
        args = worker_arguments([], Settings().replaced(operations={"log_level": level}))
        assert args[-2:] == ["--loglevel", name]


def users_service(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "streamapp.cli", *args],
        cwd=ROOT,
        # No setting of the service's; the import path kept (a checkout beside the venv's).
        env={"PATH": "/usr/bin:/bin", **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_worker_help_names_the_command_once_and_the_service_s_defaults() -> None:
    shown = " ".join(users_service("worker", "--help").split())  # Click wraps its lines
    assert shown.startswith("Usage: users-service worker [OPTIONS]")
    assert "Logging level to use (default: LOG_LEVEL, INFO unless set)" in shown
    assert "(default: WEB_BIND, 127.0.0.1 unless set)" in shown
    assert "[default: WARN]" not in shown and "0.0.0.0" not in shown


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["migrate"], "Migrate the database to the head revision"),
        (["kafka-check"], "Exit 0 when Kafka at KAFKA_BROKER answers"),
        (["revision"], "write a new revision file"),
        (["outbox", "status"], "Backlog, oldest pending age"),
    ],
)
def test_each_command_s_help_says_what_it_does(command: list[str], says: str) -> None:
    assert says in " ".join(users_service(*command, "--help").split())
