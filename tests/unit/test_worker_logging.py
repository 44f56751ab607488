"""The worker's logging: at WARN, Faust's terminal spinner would set the root logger to
DEBUG (to spin on every record), so every DEBUG record of every library was created,
formatted and redacted, then dropped: a quarter of the drain's CPU in its profile."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamapp.app import app
from streamapp.logging_setup import logging_config
from streamapp.workarounds.faust_worker import UsersWorker


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_worker_at_warn_keeps_the_root_logger_at_warn(restored_logging: None) -> None:
    worker = UsersWorker(app, loglevel="warn", quiet=True, redirect_stdouts=False)
    worker.logging_config = logging_config("text", "WARNING", "test:1")
    worker._setup_logging()
    assert logging.getLogger().level == logging.WARNING
    assert worker.spinner is None
    assert not logging.getLogger("aiokafka.producer").isEnabledFor(logging.DEBUG)
