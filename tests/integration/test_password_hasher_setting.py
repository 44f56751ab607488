"""PASSWORD_HASHER picks the bcrypt the worker hashes with (for benchmarks before and after
the hasher, and for a system whose libxcrypt an operator distrusts)."""

from __future__ import annotations

import pytest

from streamapp.app import app
from streamapp.settings import SettingsError, load_settings
from tests.support.web import start_app, stop_app


@pytest.mark.parametrize(
    ("choice", "implementation"), [("pyca", "pyca-bcrypt"), ("auto", "libxcrypt")]
)
async def test_password_hasher_chooses_the_implementation(
    postgres_url: str, choice: str, implementation: str
) -> None:
    wiring = await start_app(app, postgres_url, auth={"password_hasher": choice})
    try:
        assert wiring.metrics.hasher.implementation == implementation
    finally:
        await stop_app(wiring)


def test_an_unknown_password_hasher_is_a_clear_settings_error() -> None:
    with pytest.raises(SettingsError, match="PASSWORD_HASHER='bogus'"):
        load_settings({"PASSWORD_HASHER": "bogus"}, dotenv=None)
