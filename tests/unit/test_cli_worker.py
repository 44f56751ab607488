"""`users-service worker` runs Faust's worker with uvloop and the configured logging."""

from __future__ import annotations

from streamapp.cli import worker_arguments
from streamapp.settings import Settings


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
