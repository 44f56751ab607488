"""PASSWORD_HASHER picks the bcrypt the worker hashes with (for benchmarks before and after
the hasher, and for a system whose libxcrypt an operator distrusts)."""

from __future__ import annotations

import pytest

from streamapp.app import app
from tests.support.web import start_app, stop_app


@pytest.mark.parametrize(("choice", "implementation"), [("pyca", "pyca-bcrypt"), ("", "libxcrypt")])
async def test_password_hasher_chooses_the_implementation(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, choice: str, implementation: str
) -> None:
    monkeypatch.setenv("PASSWORD_HASHER", choice)
    wiring = await start_app(app, postgres_url)
    try:
        assert wiring.metrics.hasher.implementation == implementation
    finally:
        await stop_app(wiring)
