"""Every producer of the app is idempotent, with acks=all."""

from __future__ import annotations

from streamapp.app import app
from streamapp.producer import IdempotentProducer


def test_the_app_s_producer_is_idempotent_with_acks_all() -> None:
    producer = app._new_producer()
    assert isinstance(producer, IdempotentProducer)
    settings = {**producer._settings_default(), **producer._settings_extra()}
    assert settings["enable_idempotence"] is True
    assert settings["acks"] in ("all", -1)
