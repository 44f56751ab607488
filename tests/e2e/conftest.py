"""Fixtures of the end-to-end tests that trace (`pytest.mark.usefixtures` names them)."""

from __future__ import annotations

import os

import pytest

from tests.support.zipkin import require_zipkin


@pytest.fixture
def zipkin() -> None:
    """A real Zipkin to read traces back from: fails, never skips, when it is not up."""
    require_zipkin()


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers inherit the test's environment: none of the runner's OTEL_* reaches them."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
