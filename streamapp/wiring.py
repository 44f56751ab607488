"""The one place where the service's pieces are wired together.

`wire()` builds every collaborator of the views and agents, and the lifecycle services the
boot order runs; it connects nothing and changes no global state, so a test can call it
with its own settings and hand the result to the app (`UsersApp.provide`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import databases
import faust

from models.events import USER_CREATED_SHAPE, RecordEncoder
from models.user_deleted import DeletionRecordEncoder
from streamapp.health import Readiness
from streamapp.metrics import ServiceMetrics
from streamapp.services import (
    DatabaseService,
    KafkaGate,
    RelayService,
    ShutdownDrain,
    ShutdownWatchdog,
    TopicsService,
)
from streamapp.settings import Settings, kafka_credentials_of
from users_service.adapters.jwt_tokens import JwtVerifier
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.adapters.kafka.probe import broker_answers
from users_service.adapters.kafka.publisher import KafkaPublisher
from users_service.adapters.kafka.security import client_options
from users_service.adapters.passwords import BcryptHasher
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.erasure import DatabaseErasure
from users_service.adapters.storage.idempotency_keys import DatabaseIdempotencyKeys
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.adapters.storage.relay_members import DatabaseRelayMembers
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.users import DatabaseUsers
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.sharding import Shard
from users_service.service_layer.erasure import ErasureService
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Purge, Relay
from users_service.service_layer.outbox.relay import OutboxRelay
from users_service.service_layer.outbox.shards import ShardedRelay
from users_service.service_layer.status import ServiceStatus
from users_service.service_layer.users import UsersService
from users_service.service_layer.verifier import Verifier


@dataclass(frozen=True)
class Wiring:
    """What the views and agents use, and the services the worker's boot order runs."""

    settings: Settings
    database: databases.Database
    users: UsersService
    verifier: Verifier
    status: ServiceStatus
    lifecycle: Lifecycle
    dead_letters: DeadLetters
    tokens: JwtVerifier
    metrics: ServiceMetrics
    readiness: Readiness
    database_service: DatabaseService
    kafka_gate: KafkaGate
    topics_service: TopicsService
    relay_service: RelayService
    shutdown: ShutdownDrain
    erasure: ErasureService


def worker_identity() -> str:
    """Unique per process, readable in the outbox's `claimed_by` and the relay lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def assigned_partitions(app: faust.App) -> Callable[[], int]:
    """How many partitions this worker's consumer holds: 0 until it has joined its group."""

    def count() -> int:
        try:
            return len(app.consumer.assignment())
        except Exception:  # the consumer has not started (Kafka not reached yet)
            return 0

    return count


async def kafka_answers(brokers: Sequence[str], options: Mapping[str, Any]) -> bool:
    """Whether Kafka answers a metadata request now, within a second (never raises)."""
    try:
        return await broker_answers(list(brokers), 1.0, options)
    except Exception:
        return False


def wire(app: faust.App, settings: Settings) -> Wiring:
    """Build the service for `app` from `settings`; nothing connects until the app starts."""
    # Three pools, so that no flood of one kind of work starves another: requests and
    # commands; the relay (its lease renewal above all); the verifier.
    # Each pool's size is a setting; their sum is the worker's connection budget.
    pool = partial(make_database, settings.database_url, pooler=settings.database_pooler)
    database = pool(max_size=settings.database_pool_size)
    relay_pool = pool(max_size=settings.relay_pool_size)
    verifier_pool = pool(max_size=settings.database_verifier_pool_size)
    health = PublishHealth()
    store = DatabaseOutboxStore(relay_pool)
    publisher = KafkaPublisher(app, settings.cloud_events)
    holder = worker_identity()
    purges: dict[str, Purge] = {
        "published outbox rows": partial(store.purge_published, settings.outbox_retention),
        "expired idempotency keys": DatabaseIdempotencyKeys(relay_pool).purge_expired,
    }

    def lane(shard: Shard) -> OutboxRelay:
        return OutboxRelay(
            store.for_shard(shard),
            publisher,
            health,
            holder=holder,
            batch_size=settings.outbox_batch_size,
            lease_ttl=settings.outbox_lease_ttl,
            poll_interval=settings.outbox_poll_interval,
            max_attempts=settings.outbox_max_attempts,
            # Retention is the whole outbox's: the relay of shard 0 keeps it.
            purges=purges if shard.index == 0 else {},
        )

    relay: Relay
    if settings.outbox_shards == 1:
        relay = lane(Shard(0, 1))
    else:
        relay = ShardedRelay(
            lane,
            DatabaseRelayMembers(relay_pool),
            holder=holder,
            shards=settings.outbox_shards,
            lease_ttl=settings.outbox_lease_ttl,
        )
    # A fast-path claim must outlive a send that waits the whole request timeout.
    claim_ttl = settings.kafka_request_timeout * 3
    fast_path = FastPath(
        store,
        publisher,
        health,
        owner=holder,
        max_attempts=settings.outbox_max_attempts,
        claim_ttl=claim_ttl,
        on_failure=relay.wake,
    )

    def unit_of_work() -> DatabaseUnitOfWork:
        return DatabaseUnitOfWork(
            database,
            fast_path,
            claim_ttl=claim_ttl,
            acquire_timeout=settings.database_pool_timeout,
        )

    kafka_options = client_options(kafka_credentials_of(settings))
    hasher = BcryptHasher(
        settings.bcrypt_rounds, workers=settings.hash_workers or None, queue=settings.hash_queue
    )
    verifications = DatabaseVerificationStore(verifier_pool)
    verifier = Verifier(
        verifications, USER_CREATED_SHAPE, erased=DatabaseErasure(verifier_pool).erased_among
    )
    erasure = ErasureService(
        DatabaseErasure(database, timeout=settings.database_pool_timeout),
        DeletionRecordEncoder(),
        user_deleted_topic=settings.user_deleted_topic,
    )
    lifecycle = Lifecycle()
    services: dict[str, Any] = {"loop": app.loop, "beacon": app.beacon}
    users = UsersService(
        uow=unit_of_work,
        queries=DatabaseUsers(database, timeout=settings.database_pool_timeout),
        passwords=hasher,
        encoder=RecordEncoder(),
        user_created_topic=settings.user_created_topic,
        user_create_rejected_topic=settings.user_create_rejected_topic,
        idempotency_ttl=settings.idempotency_ttl,
        accept_plaintext_commands=settings.commands_accept_plaintext_password,
        min_hash_rounds=settings.bcrypt_rounds,
    )
    status = ServiceStatus(
        verifications=verifications,
        outbox=store,
        verifier=verifier,
        health=health,
        relay=relay,
        partitions_assigned=assigned_partitions(app),
        kafka_answers=partial(kafka_answers, settings.kafka_brokers, kafka_options),
    )
    # A parked record is bounded by the producer's own limit, key and headers included.
    dead_letters = DeadLetters(
        app,
        settings.user_create_dlq_topic,
        max_request_bytes=app.conf.producer_max_request_size,
    )
    metrics = ServiceMetrics(
        counts=users.counts,
        health=health,
        verifier=verifier,
        hasher=hasher,
        dead_letters=dead_letters,
        status=status,
    )
    hasher.observe = metrics.bcrypt_seconds.observe
    return Wiring(
        settings=settings,
        database=database,
        users=users,
        verifier=verifier,
        status=status,
        lifecycle=lifecycle,
        dead_letters=dead_letters,
        metrics=metrics,
        readiness=Readiness(app, lifecycle, partial(database.fetch_val, "SELECT 1")),
        tokens=JwtVerifier(
            secret=settings.auth_jwt_secret,
            jwks_url=settings.auth_jwks_url,
            audience=settings.auth_jwt_audience,
            issuer=settings.auth_jwt_issuer,
            leeway=settings.auth_leeway,
            refresh_cooldown=settings.auth_jwks_refresh_cooldown,
        ),
        database_service=DatabaseService(
            [database, relay_pool, verifier_pool],
            settings.database_url,
            migration_url=settings.migration_url,
            pooler=settings.database_pooler,
            migrate_on_start=settings.migrate_on_start,
            **services,
        ),
        kafka_gate=KafkaGate(
            settings.kafka_brokers,
            options=kafka_options,
            **services,
        ),
        topics_service=TopicsService(
            [
                app.topic(
                    name,
                    partitions=settings.kafka_partitions,
                    replicas=settings.kafka_replication_factor,
                    config=topic_config(settings, name),
                )
                for name in (
                    settings.user_created_topic,
                    settings.user_create_topic,
                    settings.user_create_rejected_topic,
                    settings.user_create_dlq_topic,
                    settings.user_deleted_topic,
                    settings.user_erase_topic,
                )
            ],
            brokers=settings.kafka_brokers,
            client_options=kafka_options,
            **services,
        ),
        relay_service=RelayService(relay, health, **services),
        shutdown=ShutdownDrain(
            lifecycle,
            fast_path,
            relay,
            health,
            settings.shutdown_flush_timeout,
            ShutdownWatchdog(settings.shutdown_grace),
        ),
        erasure=erasure,
    )


def topic_config(settings: Settings, name: str) -> dict[str, Any] | None:
    """Topic settings given at creation: user.created keeps its events (names, emails)
    for KAFKA_USER_CREATED_RETENTION only (docs/erasure.md)."""
    if name == settings.user_created_topic:
        return {"retention.ms": str(int(settings.user_created_retention * 1000))}
    return None
