"""The service's topics, declared (partitions, replication) once the producer is up."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import mode
from faust.types import TopicT

from users_service.adapters.kafka.durability import durability_warnings, read_durability
from users_service.service_layer.retry import Backoff

log = logging.getLogger("users")

TOPICS_BACKOFF = Backoff(first=0.5, most=5.0)


class TopicsService(mode.Service):
    """Creates the service's topics (partitions, replication) once the producer is up.

    Faust declares only its internal topics; source topics are expected to exist. A
    broker can refuse for a while even after it answered ("All brokers are currently
    fenced" right after a restart, a controller moving): each topic is retried with
    backoff for up to `give_up_after` seconds, instead of the worker exiting at once.
    """

    def __init__(
        self,
        topics: list[TopicT],
        *,
        backoff: Backoff = TOPICS_BACKOFF,
        give_up_after: float = 120.0,
        brokers: Sequence[str] = (),
        client_options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.topics = topics
        self.backoff = backoff
        self.give_up_after = give_up_after
        self.brokers = list(brokers)
        self.client_options = dict(client_options or {})
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        for topic in self.topics:
            await self._declare(topic)
        if self.brokers:
            await self._warn_if_not_durable()

    async def _warn_if_not_durable(self) -> None:
        names = [topic.get_topic_name() for topic in self.topics]
        try:
            brokers, durability = await read_durability(
                self.brokers, names, self.client_options, timeout=5.0
            )
        except Exception as exc:  # a check, not a condition of starting
            log.info("could not read the topics' durability (%s)", type(exc).__name__)
            return
        for warning in durability_warnings(brokers, durability):
            log.warning("%s", warning)

    async def _declare(self, topic: TopicT) -> None:
        deadline = time.monotonic() + self.give_up_after
        for delay in self.backoff.delays():
            try:
                await topic.maybe_declare()
                return
            except Exception as exc:
                if self.should_stop or time.monotonic() + delay > deadline:
                    raise
                self.log.warning(
                    "could not declare topic %s yet (%s: %s); retrying in %.1fs",
                    topic.get_topic_name(),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await self.sleep(delay)
