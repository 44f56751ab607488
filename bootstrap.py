"""The one place where the service's pieces are wired together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any

import databases
import faust
import mode
from faust.types import TopicT

from messaging.kafka import KafkaPublisher
from messaging.quiet_logs import quiet_kafka_client_logs
from outbox.fast_path import FastPath
from outbox.health import PublishHealth
from outbox.relay import OutboxRelay
from storage.database import make_database
from storage.log_redaction import redact_query_logs
from storage.migrations import migrate
from storage.outbox_store import DatabaseOutboxStore
from storage.unit_of_work import DatabaseUnitOfWork, DatabaseUsers
from storage.verifications import DatabaseVerificationStore
from streamapp.settings import Settings
from users.passwords import BcryptHasher
from users.service import UsersService
from users.verification import Verifier

log = logging.getLogger("users")


class DatabaseService(mode.Service):
    """Connects and migrates before the web server opens; disconnects last."""

    def __init__(self, database: databases.Database, **kwargs: Any) -> None:
        self.database = database
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        await self.database.connect()
        await migrate(self.database)

    async def on_stop(self) -> None:
        await self.database.disconnect()


class TopicsService(mode.Service):
    """Creates the service's topics (partitions, replication) once the producer is up.

    Faust declares only its internal topics; source topics are expected to exist.
    """

    def __init__(self, topics: list[TopicT], **kwargs: Any) -> None:
        self.topics = topics
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        for topic in self.topics:
            await topic.maybe_declare()


class RelayService(mode.Service):
    """Runs the outbox relay once the producer has started (i.e. Kafka answered)."""

    def __init__(self, relay: OutboxRelay, health: PublishHealth, **kwargs: Any) -> None:
        self.relay = relay
        self.health = health
        self._stopped_event = asyncio.Event()
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.health.producer_started = True
        self._stopped_event.clear()
        self.add_future(self.relay.run(self._stopped_event))

    async def on_stop(self) -> None:
        self.health.producer_started = False
        self._stopped_event.set()
        try:
            await self.relay.release()
        except Exception:
            log.warning("could not release the relay lease; it lapses by itself")


@dataclass
class Container:
    """Everything the views and agents use, built once per app."""

    settings: Settings
    database: databases.Database
    users: UsersService
    health: PublishHealth
    outbox_store: DatabaseOutboxStore
    fast_path: FastPath
    relay: OutboxRelay
    verifier: Verifier
    verifications: DatabaseVerificationStore
    database_service: DatabaseService
    topics_service: TopicsService
    relay_service: RelayService
    accepting_requests: bool = True


def worker_identity() -> str:
    """Unique per process, readable in the outbox's `claimed_by` and the relay lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_container(app: faust.App, settings: Settings) -> Container:
    """Wire the service for `app`; nothing connects until the app starts."""
    quiet_kafka_client_logs()
    redact_query_logs()
    database = make_database(settings.database_url)
    health = PublishHealth()
    store = DatabaseOutboxStore(database)
    publisher = KafkaPublisher(app)
    holder = worker_identity()
    relay = OutboxRelay(
        store,
        publisher,
        health,
        holder=holder,
        batch_size=settings.outbox_batch_size,
        lease_ttl=settings.outbox_lease_ttl,
        poll_interval=settings.outbox_poll_interval,
        retention=settings.outbox_retention,
    )
    fast_path = FastPath(store, publisher, health, owner=holder, on_failure=relay.wake)
    # A fast-path claim must outlive a send that waits the whole request timeout.
    claim_ttl = settings.kafka_request_timeout * 3
    users = UsersService(
        uow=partial(DatabaseUnitOfWork, database, claim_ttl=claim_ttl),
        queries=DatabaseUsers(database),
        passwords=BcryptHasher(settings.bcrypt_rounds),
        events=fast_path,
        user_created_topic=settings.user_created_topic,
        user_create_rejected_topic=settings.user_create_rejected_topic,
        idempotency_ttl=settings.idempotency_ttl,
    )
    verifications = DatabaseVerificationStore(database)
    container = Container(
        settings=settings,
        database=database,
        users=users,
        health=health,
        outbox_store=store,
        fast_path=fast_path,
        relay=relay,
        verifier=Verifier(verifications),
        verifications=verifications,
        database_service=DatabaseService(database, loop=app.loop, beacon=app.beacon),
        topics_service=TopicsService(
            [
                app.topic(
                    name,
                    partitions=settings.kafka_partitions,
                    replicas=settings.kafka_replication_factor,
                )
                for name in (
                    settings.user_created_topic,
                    settings.user_create_topic,
                    settings.user_create_rejected_topic,
                    settings.user_create_dlq_topic,
                )
            ],
            loop=app.loop,
            beacon=app.beacon,
        ),
        relay_service=RelayService(relay, health, loop=app.loop, beacon=app.beacon),
    )
    app.on_before_shutdown.connect(_flush_on_shutdown(container))
    return container


def _flush_on_shutdown(container: Container) -> Any:
    async def flush(app: faust.App, **kwargs: Any) -> None:
        # Runs while the producer is still up: refuse new requests, then publish what
        # waits, for a bounded time; what is left is delivered after the next start.
        container.accepting_requests = False
        timeout = container.settings.shutdown_flush_timeout
        await container.fast_path.wait_idle(timeout)
        if container.health.producer_started:
            published = await container.relay.drain(timeout)
            log.info("shutdown: published %d pending event(s) from the outbox", published)

    return flush
