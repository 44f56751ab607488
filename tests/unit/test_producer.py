"""Every producer of the app is idempotent, with acks=all."""

from __future__ import annotations

from streamapp.app import UsersApp, app
from streamapp.settings import load_settings
from streamapp.workarounds.faust_producer import IdempotentProducer


def test_the_app_s_producer_is_idempotent_with_acks_all() -> None:
    producer = app._new_producer()
    assert isinstance(producer, IdempotentProducer)
    settings = {**producer._settings_default(), **producer._settings_extra()}
    assert settings["enable_idempotence"] is True
    assert settings["acks"] in ("all", -1)


def test_the_producer_batches_as_configured() -> None:
    defaults = app._new_producer()
    assert (defaults.max_batch_size, defaults.linger_ms, defaults.compression_type) == (
        256 * 1024,
        0,
        None,
    )
    settings = load_settings(
        {"KAFKA_MAX_BATCH_BYTES": "65536", "KAFKA_LINGER_MS": "5", "KAFKA_COMPRESSION": "ZSTD"},
        dotenv=None,
    )
    producer = UsersApp(settings)._new_producer()
    assert (producer.max_batch_size, producer.linger_ms, producer.compression_type) == (
        65536,
        5,
        "zstd",
    )
