"""The numbers once fixed in code are settings, with those numbers as defaults, and each
reaches what it tunes."""

from __future__ import annotations

import pytest

from streamapp.app import UsersApp, app
from streamapp.settings import SettingsError, load_settings
from streamapp.wiring import wire
from users_service.service_layer.retry import Backoff


def test_the_defaults_are_the_numbers_the_code_had() -> None:
    s = load_settings({}, dotenv=None)
    assert (s.kafka.command_batch_window, s.kafka.verifier_batch_size) == (0.05, 200)
    assert (s.kafka.verifier_batch_window, s.kafka.stream_buffer) == (0.2, 256)
    assert s.database.operator_pool_size == 2
    assert s.kafka.startup_backoff == Backoff(first=0.25, most=2.0)
    assert s.kafka.topics_backoff == Backoff(first=0.5, most=5.0)
    assert s.kafka.dlq_backoff == Backoff(first=0.5, most=10.0)
    assert s.database.startup_backoff == Backoff(first=0.5, most=5.0)
    assert s.database.retry_backoff == Backoff(first=0.5, most=10.0)


def test_each_one_reaches_what_it_tunes() -> None:
    s = load_settings(
        {
            "KAFKA_STREAM_BUFFER": "64",
            "KAFKA_STARTUP_BACKOFF": "1,4",
            "KAFKA_TOPICS_BACKOFF": "2, 8",
            "KAFKA_DLQ_BACKOFF": "0.1,0.4",
            "DATABASE_STARTUP_BACKOFF": "3,9",
        },
        dotenv=None,
    )
    assert UsersApp(s).conf.stream_buffer_maxsize == 64
    wiring = wire(app, s)
    assert wiring.kafka_gate.backoff == Backoff(1, 4)
    assert wiring.topics_service.backoff == Backoff(2, 8)
    assert wiring.dead_letters._backoff == Backoff(0.1, 0.4)
    assert wiring.database_service.backoff == Backoff(3, 9)


@pytest.mark.parametrize("value", ["fast", "1", "2,1", "0,1", "1,2,3"])
def test_a_bad_backoff_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_RETRY_BACKOFF"):
        load_settings({"DATABASE_RETRY_BACKOFF": value}, dotenv=None)
