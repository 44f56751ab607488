"""The one place where the service's pieces are wired together.

`wire()` builds every collaborator of the views and agents, and the lifecycle services the
boot order runs; it connects nothing and changes no global state, so a test can call it
with its own settings and hand the result to the app (`UsersApp.provide`).
`wire_operations()` builds, from the same settings, what the operators' commands use
(`users-service outbox …`, `backfill`, `verify`, `erase`, `erasures`, `kafka-check`): one
small pool and the adapters over it, and no Faust app, relay or fast path, which only a
worker runs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import databases
import faust

from models.events import USER_CREATED_SHAPE, RecordEncoder
from streamapp import topics
from streamapp.health import Readiness
from streamapp.kafka_credentials import kafka_credentials_of
from streamapp.lifecycle.gates import DatabaseService, KafkaGate
from streamapp.lifecycle.relay import RelayService
from streamapp.lifecycle.shutdown import ShutdownDrain, ShutdownWatchdog
from streamapp.lifecycle.topics import TopicsService
from streamapp.metrics import ServiceMetrics
from streamapp.settings import Settings, revealed
from users_service.adapters.bcrypt_backends import backend_named
from users_service.adapters.jwt_tokens import JwtVerifier
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.adapters.kafka.probe import broker_answers, topic_creation_refused
from users_service.adapters.kafka.publisher import KafkaPublisher
from users_service.adapters.kafka.security import client_options
from users_service.adapters.passwords import BcryptHasher
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.erasure import DatabaseErasure
from users_service.adapters.storage.idempotency_keys import DatabaseIdempotencyKeys
from users_service.adapters.storage.outbox_admin import DatabaseOutboxAdmin
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.adapters.storage.relay_members import DatabaseRelayMembers
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.users import DatabaseUsers
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.adapters.trace_context import OpenTelemetryTracing
from users_service.domain.sharding import Shard
from users_service.service_layer.command_handling import CreateUserHandler
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.erasure import UserErasure
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.new_user import NewUsers
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Purge, Relay
from users_service.service_layer.outbox.relay import OutboxRelay
from users_service.service_layer.outbox.shards import ShardedRelay
from users_service.service_layer.queries import UserDirectory
from users_service.service_layer.registration import UserRegistration
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


def kafka_client_options(settings: Settings) -> Mapping[str, Any]:
    """aiokafka's security options for the settings' credentials (none: plaintext)."""
    return client_options(kafka_credentials_of(settings.kafka))


@dataclass(frozen=True)
class OperationsWiring:
    """What the operators' commands use; `database` is not connected yet."""

    settings: Settings
    database: databases.Database
    outbox: DatabaseOutboxStore
    admin: DatabaseOutboxAdmin
    relay_members: DatabaseRelayMembers
    verifications: DatabaseVerificationStore
    unit_of_work: Callable[[], DatabaseUnitOfWork]
    encoder: RecordEncoder
    erasure: UserErasure
    kafka_answers: Callable[[float], Awaitable[bool]]
    topic_creation_refused: Callable[[float, str], Awaitable[str | None]]


def wire_operations(settings: Settings) -> OperationsWiring:
    """Build the operators' commands' collaborators from `settings`; nothing connects."""
    database = make_database(
        settings.database.url.get_secret_value(),
        max_size=settings.database.operator_pool_size,
        pooler=settings.database.pooler,
    )
    brokers, options = list(settings.kafka.brokers), kafka_client_options(settings)
    return OperationsWiring(
        settings=settings,
        database=database,
        outbox=DatabaseOutboxStore(database),
        admin=DatabaseOutboxAdmin(database),
        relay_members=DatabaseRelayMembers(database),
        verifications=DatabaseVerificationStore(database),
        # Events written here wait in the outbox: a running worker's relay publishes them.
        unit_of_work=partial(DatabaseUnitOfWork, database),
        encoder=RecordEncoder(),
        # USER_DELETED waits in the outbox likewise.
        erasure=UserErasure(
            DatabaseErasure(database), RecordEncoder(), settings.kafka.user_deleted_topic
        ),
        kafka_answers=partial(broker_answers, brokers, options=options),
        topic_creation_refused=partial(topic_creation_refused, brokers, options=options),
    )


def wire(app: faust.App, settings: Settings) -> Wiring:
    """Build the service for `app` from `settings`; nothing connects until the app starts."""
    # Three pools, so that no flood of one kind of work starves another: requests and
    # commands; the relay (its lease renewal above all); the verifier.
    # Each pool's size is a setting; their sum is the worker's connection budget.
    database_url = settings.database.url.get_secret_value()
    pool = partial(make_database, database_url, pooler=settings.database.pooler)
    database = pool(max_size=settings.database.pool_size)
    relay_pool = pool(max_size=settings.relay_pool_size)
    verifier_pool = pool(max_size=settings.database.verifier_pool_size)
    health = PublishHealth()
    store = DatabaseOutboxStore(relay_pool)
    publisher = KafkaPublisher(app, settings.kafka.cloud_events)
    holder = worker_identity()
    purges: dict[str, Purge] = {
        "published outbox rows": partial(store.purge_published, settings.outbox.retention),
        "expired idempotency keys": DatabaseIdempotencyKeys(relay_pool).purge_expired,
    }

    def lane(shard: Shard) -> OutboxRelay:
        return OutboxRelay(
            store.for_shard(shard),
            publisher,
            health,
            holder=holder,
            batch_size=settings.outbox.batch_size,
            lease_ttl=settings.outbox.lease_ttl,
            poll_interval=settings.outbox.poll_interval,
            max_attempts=settings.outbox.max_attempts,
            # Retention is the whole outbox's: the relay of shard 0 keeps it.
            purges=purges if shard.index == 0 else {},
            tracing=OpenTelemetryTracing(),
        )

    relay: Relay
    if settings.outbox.shards == 1:
        relay = lane(Shard(0, 1))
    else:
        relay = ShardedRelay(
            lane,
            DatabaseRelayMembers(relay_pool),
            holder=holder,
            shards=settings.outbox.shards,
            lease_ttl=settings.outbox.lease_ttl,
        )
    # A fast-path claim must outlive a send that waits the whole request timeout.
    claim_ttl = settings.kafka.request_timeout * 3
    fast_path = FastPath(
        store,
        publisher,
        health,
        owner=holder,
        max_attempts=settings.outbox.max_attempts,
        claim_ttl=claim_ttl,
        on_failure=relay.wake,
    )

    def unit_of_work() -> DatabaseUnitOfWork:
        return DatabaseUnitOfWork(
            database,
            fast_path.fast_path_owner,
            claim_ttl=claim_ttl,
            acquire_timeout=settings.database.pool_timeout,
        )

    kafka_options = kafka_client_options(settings)
    hasher = BcryptHasher(
        settings.auth.bcrypt_rounds,
        workers=settings.auth.hash_workers or None,
        queue=settings.auth.hash_queue,
        backend=backend_named(settings.auth.password_hasher),
    )
    verifications = DatabaseVerificationStore(verifier_pool)
    # An event of an erased user is counted as such, neither verified nor a failure.
    verifier = Verifier(
        verifications, USER_CREATED_SHAPE, erased=DatabaseErasure(verifier_pool).erased_among
    )
    lifecycle = Lifecycle()
    services: dict[str, Any] = {"loop": app.loop, "beacon": app.beacon}
    counts = OutcomeCounts()
    new_users = NewUsers(
        uow=unit_of_work,
        queries=DatabaseUsers(database, timeout=settings.database.pool_timeout),
        encoder=RecordEncoder(),
        user_created_topic=settings.kafka.user_created_topic,
        fast_path=fast_path,
    )
    erasures = DatabaseErasure(database, timeout=settings.database.pool_timeout)
    users = UsersService(
        registration=UserRegistration(
            new_users, hasher, idempotency_ttl=settings.http.idempotency_ttl, counts=counts
        ),
        commands=CreateUserHandler(
            new_users,
            hasher,
            user_create_rejected_topic=settings.kafka.user_create_rejected_topic,
            accept_plaintext=settings.auth.commands_accept_plaintext_password,
            min_hash_rounds=settings.auth.bcrypt_rounds,
            counts=counts,
            forget_rejection_unless_registered=erasures.forget_rejection_unless_registered,
        ),
        directory=UserDirectory(new_users.queries),
        erasure=UserErasure(
            erasures,
            RecordEncoder(),
            user_deleted_topic=settings.kafka.user_deleted_topic,
        ),
        counts=counts,
    )
    status = ServiceStatus(
        verifications=verifications,
        outbox=store,
        verifier=verifier,
        health=health,
        relay=relay,
        partitions_assigned=assigned_partitions(app),
        kafka_answers=partial(kafka_answers, settings.kafka.brokers, kafka_options),
    )
    # A parked record is bounded by the producer's own limit, key and headers included.
    dead_letters = DeadLetters(
        app,
        settings.kafka.user_create_dlq_topic,
        max_request_bytes=app.conf.producer_max_request_size,
        backoff=settings.kafka.dlq_backoff,
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
            secret=revealed(settings.auth.jwt_secret),
            jwks_url=settings.auth.jwks_url,
            audience=settings.auth.jwt_audience,
            issuer=settings.auth.jwt_issuer,
            leeway=settings.auth.leeway,
            refresh_cooldown=settings.auth.jwks_refresh_cooldown,
        ),
        database_service=DatabaseService(
            [database, relay_pool, verifier_pool],
            database_url,
            migration_url=settings.database.migration_target,
            pooler=settings.database.pooler,
            migrate_on_start=settings.database.migrate_on_start,
            backoff=settings.database.startup_backoff,
            **services,
        ),
        kafka_gate=KafkaGate(
            settings.kafka.brokers,
            options=kafka_options,
            backoff=settings.kafka.startup_backoff,
            **services,
        ),
        topics_service=TopicsService(
            list(topics.declare(app, settings)),
            brokers=settings.kafka.brokers,
            client_options=kafka_options,
            backoff=settings.kafka.topics_backoff,
            **services,
        ),
        relay_service=RelayService(relay, health, **services),
        shutdown=ShutdownDrain(
            lifecycle,
            fast_path,
            relay,
            health,
            settings.operations.shutdown_flush_timeout,
            ShutdownWatchdog(settings.operations.shutdown_grace),
        ),
    )
