"""Start the consumer only once every topic it reads exists.

A Kafka consumer that subscribes to a topic its broker does not list yet is assigned none
of it, and looks again only at its next metadata refresh (`metadata.max.age.ms`, five
minutes): started before the users service had created `user.created`, the example
counted nothing for five minutes. So, before Faust's consumer starts, `TopicsReady`

* waits until the topics this app reads (owned by their producer: it does not create
  them, and so never picks their partition count) are listed, and
* creates the topics this app owns (its repartition topic, its tables' changelogs),
  retrying while the broker refuses (a freshly started broker its controller still
  fences), and waits until they are listed too.

With `consumer_auto_offset_reset="earliest"`, what was published before the consumer
joined is then read from the topic's start, not skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import cast

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.app.base import BootStrategy
from faust.types import TopicT
from mode import Service, ServiceT

log = logging.getLogger(__name__)

# How long the broker may refuse to create this app's own topics before the worker gives
# up (and exits, visibly) rather than consume without them.
CREATE_GIVE_UP_AFTER = 120.0
# How often a missing topic is logged while the app waits for its producer to create it.
WAITING_LOG_EVERY = 30.0


def topic_names(topics: Iterable[TopicT]) -> list[str]:
    return [name for topic in topics for name in topic.topics]


def bootstrap_servers(app: faust.App) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


class TopicsReady(Service):
    """Holds the app's start until `reads` exist and `creates` are created (see module)."""

    def __init__(
        self,
        app: faust.App,
        reads: Sequence[TopicT],
        creates: Sequence[TopicT],
        **kwargs: object,
    ) -> None:
        self.app = app
        self.reads = list(reads)
        self.creates = list(creates)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        for topic in self.creates:
            await self._create(topic)
        await self._until_listed(topic_names([*self.reads, *self.creates]))

    async def _create(self, topic: TopicT) -> None:
        deadline = time.monotonic() + CREATE_GIVE_UP_AFTER
        delay = 0.5
        while True:
            try:
                await topic.maybe_declare()
                return
            except Exception as exc:
                if self.should_stop or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "could not create topic %s yet (%s: %s); retrying in %.1fs",
                    ",".join(topic.topics),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await self.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _until_listed(self, names: list[str]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(self.app))
        await admin.start()
        try:
            logged_at = 0.0
            while not self.should_stop:
                missing = await self._missing(admin, names)
                if not missing:
                    return
                if time.monotonic() - logged_at >= WAITING_LOG_EVERY:
                    log.info("waiting for topics %s to exist before consuming", missing)
                    logged_at = time.monotonic()
                await self.sleep(0.5)
        finally:
            await admin.close()

    @staticmethod
    async def _missing(admin: AIOKafkaAdminClient, names: list[str]) -> list[str]:
        described = await admin.describe_topics(names)
        listed = {t["topic"] for t in described if t["error_code"] == 0 and t["partitions"]}
        return [name for name in names if name not in listed]


class TopicsFirst(BootStrategy):
    """Faust's boot order with `TopicsReady` just before the consumer: the producer (which
    creates topics) is up, the consumer has not subscribed yet."""

    def __init__(
        self, app: faust.App, *, reads: Sequence[TopicT], creates: Sequence[TopicT]
    ) -> None:
        super().__init__(app)
        self.reads = list(reads)
        self.creates = list(creates)

    def kafka_consumer(self) -> Iterable[ServiceT]:
        consumer = list(super().kafka_consumer())
        if not consumer:
            return consumer
        app = cast(faust.App, self.app)
        ready = TopicsReady(app, self.reads, self.creates, loop=app.loop, beacon=app.beacon)
        return [ready, *consumer]
