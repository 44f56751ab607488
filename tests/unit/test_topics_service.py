"""Declaring the service's topics when the broker refuses for a while (fenced after a
restart): retried with backoff, not the worker's exit; given up after a ceiling."""

from __future__ import annotations

import pytest
from aiokafka.errors import InvalidReplicationFactorError

from streamapp.lifecycle.topics import TopicsService
from users_service.service_layer.retry import Backoff

FAST = Backoff(first=0.001, most=0.001)


class FlakyTopic:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.declared = False

    async def maybe_declare(self) -> None:
        if self.failures:
            self.failures -= 1
            raise InvalidReplicationFactorError("All brokers are currently fenced.")
        self.declared = True

    def get_topic_name(self) -> str:
        return "user.created"


async def test_a_fenced_broker_delays_the_topics_instead_of_failing_the_start() -> None:
    topics = [FlakyTopic(failures=3), FlakyTopic(failures=0)]
    service = TopicsService(topics, backoff=FAST)  # type: ignore[arg-type]
    await service.start()
    try:
        assert all(t.declared for t in topics)
    finally:
        await service.stop()


async def test_a_broker_that_never_serves_fails_the_start_after_the_ceiling() -> None:
    service = TopicsService([FlakyTopic(failures=10**6)], backoff=FAST, give_up_after=0.05)  # type: ignore[list-item]
    with pytest.raises(InvalidReplicationFactorError):
        await service.start()
