"""The gate's probe against the real broker: it answers, and lists itself as serving."""

from __future__ import annotations

from tests.support.services import KAFKA, free_port
from users_service.adapters.kafka.probe import broker_answers


async def test_the_running_broker_is_ready(kafka: None) -> None:
    assert await broker_answers([KAFKA], timeout=5)


async def test_nothing_listening_is_not_ready() -> None:
    assert not await broker_answers([f"127.0.0.1:{free_port()}"], timeout=1)
