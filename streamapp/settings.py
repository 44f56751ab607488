"""Typed settings read from the environment and `.env`, each declared once.

Every variable is a field of one group (Kafka, database, auth, outbox, HTTP, operations),
named by its alias, with its default, its parser and its documentation
(`docs/configuration.md` is generated from them: `python -m streamapp.settings_doc`).
Every value is validated once, at start-up; a bad value stops the worker with a one-line
message that names the variable, instead of failing later at first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Self, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError
from pydantic import model_validator as rule
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from users_service_events import envelope

from streamapp.masking import masked
from users_service.domain.model import CloudEvents
from users_service.domain.patterns import LinearPattern, linear
from users_service.service_layer.retry import Backoff

_HOST_PORT = linear(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
_LIST_SEPARATOR = linear(r"[,;]")
_TOPIC = linear(r"^[A-Za-z0-9._\-]{1,249}$")
# A URI reference without spaces (CloudEvents' `source`), a reverse-DNS name (`type`).
_URI_REFERENCE = linear(r"^[^\s]{1,512}$")
_REVERSE_DNS = linear(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


# Parsers of one variable's text; a ValueError's message becomes the reason in the error.


def parse_brokers(raw: str) -> tuple[str, ...]:
    """Accept `host:port`, a comma-separated list, or `kafka://` URLs."""
    brokers: list[str] = []
    for part in _LIST_SEPARATOR.split(raw):
        item = part.strip()
        if not item:
            continue
        if "://" in item:
            scheme, _, item = item.partition("://")
            if scheme != "kafka":
                raise ValueError(f"unsupported scheme {scheme!r} (use kafka:// or host:port)")
            item = item.rstrip("/")
        if ":" not in item:
            item = f"{item}:9092"
        if not _HOST_PORT.match(item) or not 0 < int(item.rsplit(":", 1)[1]) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        brokers.append(item)
    if not brokers:
        raise ValueError("no broker given")
    return tuple(brokers)


def _topic(raw: str) -> str:
    if not _TOPIC.match(raw) or raw in {".", ".."}:
        raise ValueError(f"{raw!r} is not a valid Kafka topic name")
    return raw


def _matching(pattern: LinearPattern[str], what: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.match(raw):
            raise ValueError(f"{raw!r} is not {what}")
        return raw

    return parse


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _choice(*allowed: str) -> Callable[[str], str]:
    """One of `allowed`, whatever its case, as `allowed` spells it."""
    by_key = {value.upper(): value for value in allowed}

    def parse(raw: str) -> str:
        value = by_key.get(raw.strip().upper())
        if value is None:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError("must be true or false")
    return value in {"true", "1", "yes"}


def _readable_file(raw: str) -> str:
    if not Path(raw).is_file():
        raise ValueError("is not a readable file")
    return raw


def _jwt_secret(raw: str) -> str:
    # RFC 7518 3.2: an HS256 key must be at least as long as the hash (256 bits).
    if len(raw.encode()) < 32:
        raise ValueError("must be at least 32 bytes (256 bits) for HS256")
    return raw


def _database_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in {"postgresql", "postgres", "postgresql+asyncpg", "sqlite", "sqlite+aiosqlite"}:
        raise ValueError("must be a postgresql:// or sqlite:/// URL")
    return raw


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _backoff(raw: str) -> Backoff:
    """`FIRST,MOST`: delays that double from FIRST up to MOST seconds."""
    parts = [part.strip() for part in raw.split(",")]
    try:
        first, most = (float(part) for part in parts)
    except ValueError:
        raise ValueError("must be FIRST,MOST (seconds)") from None
    if not 0 < first <= most:
        raise ValueError("must be FIRST,MOST seconds with 0 < FIRST <= MOST")
    return Backoff(first=first, most=most)


def parsed(parse: Callable[[str], Any]) -> BeforeValidator:
    """Validate a field with `parse`, from the variable's text or from a value already typed
    (a copy made with `Settings.replaced`), so both meet the same rule."""

    def before(value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, Backoff):
            value = f"{value.first},{value.most}"
        if isinstance(value, str | int | float):
            return parse(str(value))
        return value

    return BeforeValidator(before)


def variable(name: str, default: Any, doc: str) -> Any:
    """A field read from the environment variable `name`."""
    return Field(default, alias=name, description=doc)


def revealed(secret: SecretStr | None) -> str | None:
    """The value of an optional secret, for the one place that hands it on."""
    return None if secret is None else secret.get_secret_value()


Seconds = Annotated[float, parsed(_positive_float)]
Flag = Annotated[bool, parsed(_boolean)]
Text = Annotated[str, parsed(_nonempty)]
OptionalText = Annotated[str | None, parsed(_nonempty)]
Topic = Annotated[str, parsed(_topic)]
BackoffSetting = Annotated[Backoff, parsed(_backoff)]
OptionalFile = Annotated[str | None, parsed(_readable_file)]


class Group(BaseModel):
    """One group of settings: read by variable name, copied by field name."""

    model_config = ConfigDict(frozen=True, validate_by_alias=True, validate_by_name=True)


class KafkaSettings(Group):
    """The brokers, the topics and their events, the clients' tuning and security."""

    brokers: Annotated[tuple[str, ...], parsed(parse_brokers)] = variable(
        "KAFKA_BROKER",
        ("kafka:9092",),
        "`host:port`, a comma-separated list, or `kafka://` URLs (`.env` sets `127.0.0.1:9092`)",
    )
    client_id: Text = variable("KAFKA_CLIENT_ID", "users-service", "Kafka client id")
    group_id: Text = variable(
        "KAFKA_GROUP_ID", "users-group", "the Faust app id, hence the consumer group"
    )
    group_instance_id: OptionalText = variable(
        "KAFKA_GROUP_INSTANCE_ID",
        None,
        "Kafka static membership (`group.instance.id`); unique per worker and stable across "
        "its restarts (a StatefulSet's pod name): a worker back within `KAFKA_SESSION_TIMEOUT` "
        "keeps its partitions, so a rolling restart does not rebalance the group",
    )
    user_created_topic: Topic = variable(
        "KAFKA_USER_CREATED_TOPIC", "user.created", "where `USER_CREATED` goes"
    )
    user_create_topic: Topic = variable(
        "KAFKA_USER_CREATE_TOPIC", "user.create", "CreateUser commands come in here"
    )
    user_create_rejected_topic: Topic = variable(
        "KAFKA_USER_CREATE_REJECTED_TOPIC",
        "user.create.rejected",
        "where `USER_CREATE_REJECTED` goes",
    )
    user_create_dlq_topic: Topic = variable(
        "KAFKA_USER_CREATE_DLQ_TOPIC", "user.create.dlq", "where poison commands are parked"
    )
    user_deleted_topic: Topic = variable(
        "KAFKA_USER_DELETED_TOPIC",
        "user.deleted",
        "where `USER_DELETED` goes: a user was erased (docs/erasure.md)",
    )
    user_erase_topic: Topic = variable(
        "KAFKA_USER_ERASE_TOPIC", "user.erase", "EraseUser commands come in here"
    )
    user_created_retention: Seconds = variable(
        "KAFKA_USER_CREATED_RETENTION",
        30 * 24 * 3600.0,
        "seconds Kafka keeps a `user.created` event (names and emails), set as the topic's "
        "`retention.ms` when the service creates it (30 days; an existing topic keeps its "
        "own): what bounds how long Kafka holds an erased person (docs/erasure.md)",
    )
    # Consumers route on these: set once per organisation.
    cloudevents_source: Annotated[str, parsed(_matching(_URI_REFERENCE, "a URI reference"))] = (
        variable(
            "CLOUDEVENTS_SOURCE",
            envelope.DEFAULT_SOURCE,
            "the events' `ce_source` (a URI reference)",
        )
    )
    cloudevents_type_prefix: Annotated[
        str, parsed(_matching(_REVERSE_DNS, "a reverse-DNS name"))
    ] = variable(
        "CLOUDEVENTS_TYPE_PREFIX",
        envelope.DEFAULT_TYPE_PREFIX,
        "the reverse-DNS prefix of their `ce_type` (`<prefix>.user.created.v1`); consumers "
        "route on it: set it once, before the first release",
    )
    command_max_bytes: Annotated[int, parsed(_bounded_int(1024, 1024 * 1024))] = variable(
        "COMMAND_MAX_BYTES", 64 * 1024, "a larger command is parked as `too_large`"
    )
    command_batch_size: Annotated[int, parsed(_bounded_int(1, 256))] = variable(
        "COMMAND_BATCH_SIZE", 8, "commands handled (and hashed in parallel) per batch"
    )
    command_batch_window: Seconds = variable(
        "COMMAND_BATCH_WINDOW",
        0.05,
        "seconds the commands' agent waits for a batch to fill before it handles what it has",
    )
    verifier_batch_size: Annotated[int, parsed(_bounded_int(1, 10_000))] = variable(
        "VERIFIER_BATCH_SIZE", 200, "`USER_CREATED` events the verifier checks per batch"
    )
    verifier_batch_window: Seconds = variable(
        "VERIFIER_BATCH_WINDOW",
        0.2,
        "seconds the verifier waits for a batch to fill before it checks what it has",
    )
    stream_buffer: Annotated[int, parsed(_bounded_int(1, 100_000))] = variable(
        "KAFKA_STREAM_BUFFER",
        256,
        "events a stream holds unprocessed per partition before Faust pauses fetching "
        "(Faust's default 4096 let the verifier decode a backlog in large chunks while the "
        "relay published it; see BENCHMARKS.md)",
    )
    partitions: Annotated[int, parsed(_bounded_int(1, 1000))] = variable(
        "KAFKA_PARTITIONS", 3, "partitions of the topics the service creates"
    )
    replication_factor: Annotated[int, parsed(_bounded_int(1, 10))] = variable(
        "KAFKA_REPLICATION_FACTOR", 1, "their replication factor"
    )
    request_timeout: Seconds = variable(
        "KAFKA_REQUEST_TIMEOUT",
        10.0,
        "seconds a send may wait for Kafka (Faust's default is 20 minutes)",
    )
    session_timeout: Seconds = variable(
        "KAFKA_SESSION_TIMEOUT",
        10.0,
        "consumer session timeout, seconds (Faust's default 60 s makes every rebalance after "
        "a crash wait a minute); heartbeats every fifth of it",
    )
    metadata_max_age: Seconds = variable(
        "KAFKA_METADATA_MAX_AGE",
        30.0,
        "seconds between the consumer's metadata refreshes (Kafka's default is 5 minutes): a "
        "broker just restarted may list no topics, and a group that joins then is assigned "
        "nothing until the next refresh",
    )
    # The producer's batching, chosen by measurement (BENCHMARKS.md).
    linger_ms: Annotated[int, parsed(_bounded_int(0, 1000))] = variable(
        "KAFKA_LINGER_MS",
        0,
        "how long a send may wait for others to join its batch; more only added latency here "
        "(sends already batch while a request is in flight)",
    )
    max_batch_bytes: Annotated[int, parsed(_bounded_int(1024, 1024 * 1024))] = variable(
        "KAFKA_MAX_BATCH_BYTES",
        256 * 1024,
        "the producer's largest batch per partition (aiokafka's default is 16 KiB): a backlog "
        "goes out in fewer, larger requests",
    )
    compression: Annotated[str, parsed(_choice("none", "gzip", "snappy", "lz4", "zstd"))] = (
        variable(
            "KAFKA_COMPRESSION",
            "none",
            "`lz4`, `zstd`, `snappy` or `gzip`: on loopback they cost more CPU than they "
            "saved, across a network they save bytes",
        )
    )
    security_protocol: Annotated[str, parsed(_choice(*SECURITY_PROTOCOLS))] = variable(
        "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`"
    )
    sasl_mechanism: Annotated[str, parsed(_choice(*SASL_MECHANISMS))] = variable(
        "KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "`SCRAM-SHA-256`, `SCRAM-SHA-512` or `PLAIN`"
    )
    sasl_username: OptionalText = variable("KAFKA_SASL_USERNAME", None, "the SASL user")
    sasl_password: Annotated[SecretStr | None, parsed(_nonempty)] = variable(
        "KAFKA_SASL_PASSWORD", None, "the SASL password"
    )
    ssl_cafile: OptionalFile = variable(
        "KAFKA_SSL_CAFILE", None, "the CA to trust (else the system's)"
    )
    ssl_certfile: OptionalFile = variable(
        "KAFKA_SSL_CERTFILE", None, "a client certificate, for mutual TLS"
    )
    ssl_keyfile: OptionalFile = variable("KAFKA_SSL_KEYFILE", None, "its key")
    startup_backoff: BackoffSetting = variable(
        "KAFKA_STARTUP_BACKOFF",
        Backoff(first=0.25, most=2.0),
        "`FIRST,MOST` seconds between the start-up gate's attempts to reach Kafka, doubling",
    )
    topics_backoff: BackoffSetting = variable(
        "KAFKA_TOPICS_BACKOFF",
        Backoff(first=0.5, most=5.0),
        "`FIRST,MOST` seconds between attempts to declare the topics at start, doubling",
    )
    dlq_backoff: BackoffSetting = variable(
        "KAFKA_DLQ_BACKOFF",
        Backoff(first=0.5, most=10.0),
        "`FIRST,MOST` seconds between attempts to park a poison command, doubling",
    )

    @rule(mode="after")
    def _sasl_has_credentials(self) -> Self:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def cloud_events(self) -> CloudEvents:
        """The CloudEvents attributes these settings give the service's events."""
        return CloudEvents(self.cloudevents_source, self.cloudevents_type_prefix)

    @property
    def faust_broker_url(self) -> str:
        """The broker list in Faust's `kafka://a;b` form."""
        return ";".join(f"kafka://{b}" for b in self.brokers)


class DatabaseSettings(Group):
    """Where the data lives, each pool's size, and how the worker waits for it. A worker
    holds at most the sum of its three pools (requests and commands, the relay, the
    verifier): 14 connections with the defaults; the start-up log line states it."""

    url: Annotated[SecretStr, parsed(_database_url)] = variable(
        "DATABASE_URL",
        SecretStr("sqlite:///./.cache/users.sqlite3"),
        "`postgresql://user:pass@host:port/db` (asyncpg) or `sqlite:///path`; several hosts "
        "find the primary: `postgresql://user:pass@a:5432,b:5432/db?target_session_attrs="
        "read-write`",
    )
    pooler: Annotated[
        str, parsed(_choice("none", "session", "transaction", "transaction-prepared"))
    ] = variable(
        "DATABASE_POOLER",
        "none",
        "`transaction`: `DATABASE_URL` leads to a pooler in transaction mode (no prepared "
        "statement outlives its transaction); `transaction-prepared`: one that keeps "
        "protocol-level prepared statements itself (PgBouncer >= 1.21's "
        "`max_prepared_statements`); `none` or `session`: each connection keeps its session",
    )
    migration_url: Annotated[SecretStr | None, parsed(_database_url)] = variable(
        "DATABASE_MIGRATION_URL",
        None,
        "where migrations run (the start-up step, `users-service migrate`), else "
        "`DATABASE_URL`: PostgreSQL directly when `DATABASE_URL` is a pooler",
    )
    pool_size: Annotated[int, parsed(_bounded_int(1, 1000))] = variable(
        "DATABASE_POOL_SIZE",
        10,
        "the pool of requests and commands (and nothing else: the relay and the verifier "
        "have pools of their own, so that no flood of one kind of work starves another)",
    )
    relay_pool_size: Annotated[int, parsed(_bounded_int(0, 1000))] = variable(
        "DATABASE_RELAY_POOL_SIZE",
        0,
        "the outbox relay's pool (its lease renewal, the retention purges); `0`: 2, or 4 "
        "with `OUTBOX_SHARDS` > 1 (lanes of several shards publish at once)",
    )
    verifier_pool_size: Annotated[int, parsed(_bounded_int(1, 1000))] = variable(
        "DATABASE_VERIFIER_POOL_SIZE", 2, "the self-verifying consumer's pool"
    )
    operator_pool_size: Annotated[int, parsed(_bounded_int(1, 1000))] = variable(
        "DATABASE_OPERATOR_POOL_SIZE",
        2,
        "the pool of each operators' command (`users-service outbox ...`, `verify`, "
        "`backfill`), apart from the workers'",
    )
    pool_timeout: Seconds = variable(
        "DATABASE_POOL_TIMEOUT",
        5.0,
        "seconds a request waits for a free connection before it is answered `503`",
    )
    retry_timeout: Seconds = variable(
        "DATABASE_RETRY_TIMEOUT",
        300.0,
        "seconds a consumer holds a message while the database is unavailable; then a "
        "command is parked (`database_unavailable`) and a verified event counted as not "
        "verified",
    )
    retry_backoff: BackoffSetting = variable(
        "DATABASE_RETRY_BACKOFF",
        Backoff(first=0.5, most=10.0),
        "`FIRST,MOST` seconds between a consumer's attempts while the database is "
        "unavailable, doubling",
    )
    startup_backoff: BackoffSetting = variable(
        "DATABASE_STARTUP_BACKOFF",
        Backoff(first=0.5, most=5.0),
        "`FIRST,MOST` seconds between the start-up step's attempts to reach the database, doubling",
    )
    migrate_on_start: Flag = variable(
        "MIGRATE_ON_START",
        True,
        "`false`: the worker does not migrate; it waits, saying so, while the schema is "
        "behind the code (run `users-service migrate` as a step of the rollout)",
    )

    @property
    def migration_target(self) -> str:
        """Where migrations run: DATABASE_MIGRATION_URL, else DATABASE_URL."""
        return (self.migration_url or self.url).get_secret_value()


class AuthSettings(Group):
    """Bearer tokens, and the hashing of passwords."""

    jwt_secret: Annotated[SecretStr | None, parsed(_jwt_secret)] = variable(
        "AUTH_JWT_SECRET",
        None,
        "HS256 secret for bearer tokens, at least 32 bytes (`.env`: a development secret); "
        "or instead `AUTH_JWKS_URL`",
    )
    jwks_url: OptionalText = variable(
        "AUTH_JWKS_URL", None, "an identity provider's JWKS (RS256, ES256)"
    )
    jwt_audience: Text = variable(
        "AUTH_JWT_AUDIENCE", "users-service", "the audience every token must have"
    )
    jwt_issuer: OptionalText = variable("AUTH_JWT_ISSUER", None, "the issuer, checked when set")
    require_for_create: Flag = variable(
        "AUTH_REQUIRE_FOR_CREATE", False, "`true`: sign-up needs `users:write`"
    )
    leeway: Seconds = variable("AUTH_LEEWAY", 30.0, "seconds of clock skew allowed on `exp`/`nbf`")
    jwks_refresh_cooldown: Annotated[float, parsed(float)] = variable(
        "AUTH_JWKS_REFRESH_COOLDOWN",
        30.0,
        "least seconds between two fetches of the JWKS for unknown `kid`s",
    )
    commands_accept_plaintext_password: Flag = variable(
        "COMMANDS_ACCEPT_PLAINTEXT_PASSWORD",
        True,
        "`false`: commands must carry `passwordHash` (docker-compose and production)",
    )
    bcrypt_rounds: Annotated[int, parsed(_bounded_int(4, 31))] = variable(
        "BCRYPT_ROUNDS", 12, "bcrypt cost (tests use 4)"
    )
    hash_workers: Annotated[int, parsed(_bounded_int(0, 256))] = variable(
        "HASH_WORKERS", 0, "bcrypt threads; hashing runs on these alone (`0`: one per core)"
    )
    password_hasher: Annotated[str, parsed(_choice("auto", "libxcrypt", "pyca"))] = variable(
        "PASSWORD_HASHER",
        "auto",
        "the bcrypt implementation: `auto` (libxcrypt when its start-up self-test passes, "
        "else pyca/bcrypt), `libxcrypt` (refuses to start if its self-test fails), `pyca`",
    )
    hash_queue: Annotated[int, parsed(_bounded_int(0, 100_000))] = variable(
        "HASH_QUEUE",
        16,
        "sign-ups that may wait beyond the two handed to each bcrypt thread; past that, "
        "`503 overloaded` (commands wait instead: Kafka holds their backlog)",
    )

    @rule(mode="after")
    def _one_key_source(self) -> Self:
        if self.jwt_secret and self.jwks_url:
            raise ValueError("set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both")
        return self


class OutboxSettings(Group):
    """The transactional outbox's relay."""

    poll_interval: Seconds = variable(
        "OUTBOX_POLL_INTERVAL", 1.0, "seconds between relay cycles when idle"
    )
    batch_size: Annotated[int, parsed(_bounded_int(1, 10_000))] = variable(
        "OUTBOX_BATCH_SIZE", 500, "messages per relay batch"
    )
    lease_ttl: Seconds = variable(
        "OUTBOX_LEASE_TTL",
        15.0,
        "seconds a relay lease lasts without renewal (the database's clock); longer than "
        "`KAFKA_REQUEST_TIMEOUT`",
    )
    shards: Annotated[int, parsed(_bounded_int(1, 256))] = variable(
        "OUTBOX_SHARDS",
        1,
        "shards of the outbox by key hash, shared out between the workers' relays; the same "
        "on every worker (1: one relay at a time publishes everything, the others stand by)",
    )
    max_attempts: Annotated[int, parsed(_bounded_int(1, 1000))] = variable(
        "OUTBOX_MAX_ATTEMPTS",
        10,
        "attempts before a message Kafka keeps refusing is parked",
    )
    retention: Seconds = variable(
        "OUTBOX_RETENTION", 7 * 24 * 3600.0, "seconds published outbox rows are kept"
    )


class HttpSettings(Group):
    """The HTTP server and its requests."""

    # Loopback unless told otherwise: the container sets 0.0.0.0 explicitly.
    bind: Text = variable(
        "WEB_BIND", "127.0.0.1", "the address the HTTP server listens on (the image: `0.0.0.0`)"
    )
    port: Annotated[int, parsed(_bounded_int(1, 65535))] = variable(
        "WEB_PORT", 6066, "the port it listens on"
    )
    reuse_port: Flag = variable(
        "WEB_REUSE_PORT",
        False,
        "`true`: bind `WEB_PORT` with SO_REUSEPORT, so the workers on one host share it",
    )
    max_body_bytes: Annotated[int, parsed(_bounded_int(256, 16 * 1024 * 1024))] = variable(
        "HTTP_MAX_BODY_BYTES", 64 * 1024, "larger request bodies get `413`"
    )
    keepalive_timeout: Seconds = variable(
        "HTTP_KEEPALIVE_TIMEOUT",
        75.0,
        "seconds an idle keep-alive connection is kept (aiohttp's default is an hour); longer "
        "than a load balancer's idle timeout, so the balancer closes first",
    )
    idempotency_ttl: Seconds = variable(
        "IDEMPOTENCY_TTL", 24 * 3600.0, "seconds an Idempotency-Key is remembered"
    )


class OperationsSettings(Group):
    """Logs, metrics, the worker's roles and its shutdown."""

    log_format: Annotated[str, parsed(_choice("text", "json"))] = variable(
        "LOG_FORMAT", "text", "`json`: one JSON object per line, for every logger (the image)"
    )
    log_level: Annotated[str, parsed(_choice("DEBUG", "INFO", "WARNING", "ERROR"))] = variable(
        "LOG_LEVEL",
        "INFO",
        "`DEBUG`, `INFO`, `WARNING` or `ERROR`; `--loglevel` on the command line may lower "
        "it further, never raise it",
    )
    metrics_port: Annotated[int, parsed(_bounded_int(0, 65535))] = variable(
        "METRICS_PORT",
        0,
        "`0`: `/metrics` on `WEB_PORT`; else a port of its own (on `WEB_BIND`)",
    )
    verifier_enabled: Flag = variable(
        "VERIFIER_ENABLED",
        True,
        "`false`: this worker does not run the self-verifying consumer (a verifier role runs "
        "it in the same group); creations and commands are unaffected",
    )
    shutdown_flush_timeout: Seconds = variable(
        "SHUTDOWN_FLUSH_TIMEOUT",
        5.0,
        "seconds each step of the shutdown may take (in-flight work, sends, the relay's "
        "batch, publishing what is pending)",
    )
    shutdown_grace: Seconds = variable(
        "SHUTDOWN_GRACE",
        25.0,
        "seconds after SIGTERM by which the worker has exited, whatever hangs (longer than "
        "`SHUTDOWN_FLUSH_TIMEOUT`)",
    )
    data_dir: Text = variable("FAUST_DATA_DIR", ".cache/faust", "Faust's data directory")

    @rule(mode="after")
    def _grace_outlasts_each_step(self) -> Self:
        if self.shutdown_grace <= self.shutdown_flush_timeout:
            raise ValueError(
                f"SHUTDOWN_GRACE={self.shutdown_grace:g} must be longer than "
                f"SHUTDOWN_FLUSH_TIMEOUT={self.shutdown_flush_timeout:g}"
            )
        return self


class Settings(BaseSettings):
    """Everything the service reads from its environment, by group."""

    model_config = SettingsConfigDict(frozen=True)

    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    outbox: OutboxSettings = OutboxSettings()
    http: HttpSettings = HttpSettings()
    operations: OperationsSettings = OperationsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The variables are read in one place, `load_settings`, from an environment a test
        # may give; `Settings()` alone is the declared defaults.
        return (init_settings,)

    @rule(mode="after")
    def _cross_group_rules(self) -> Self:
        if self.outbox.lease_ttl <= self.kafka.request_timeout:
            # A relay whose lease lapses while its batch still waits on Kafka would let a
            # second relay publish the same rows.
            raise ValueError(
                f"OUTBOX_LEASE_TTL={self.outbox.lease_ttl:g} must be longer than "
                f"KAFKA_REQUEST_TIMEOUT={self.kafka.request_timeout:g}"
            )
        if self.operations.metrics_port and self.operations.metrics_port == self.http.port:
            raise ValueError(
                f"METRICS_PORT={self.operations.metrics_port} must differ from WEB_PORT (0 "
                "serves /metrics on WEB_PORT)"
            )
        return self

    @property
    def relay_pool_size(self) -> int:
        """The relay's pool: DATABASE_RELAY_POOL_SIZE, or what its lanes need."""
        if self.database.relay_pool_size:
            return self.database.relay_pool_size
        return 2 if self.outbox.shards == 1 else 4

    @property
    def database_connections(self) -> int:
        """The most connections one worker holds: its three pools (before they open, the
        start-up checks hold at most two for a moment)."""
        return self.database.pool_size + self.relay_pool_size + self.database.verifier_pool_size

    def replaced(self, **groups: Mapping[str, Any]) -> Settings:
        """A copy with some fields of some groups changed (by field name), validated as the
        environment's values are: `settings.replaced(http={"port": 7000})`."""
        data = {name: dict(getattr(self, name)) for name in type(self).model_fields}
        for name, changes in groups.items():
            data[name].update(changes)
        return _validated(data)


def groups(settings_cls: type[Settings] | None = None) -> Iterator[tuple[str, type[Group]]]:
    """Each group's attribute on Settings and its model, in declared order."""
    for name, info in (settings_cls or Settings).model_fields.items():
        assert isinstance(info.annotation, type) and issubclass(info.annotation, Group)
        yield name, info.annotation


def variables(
    settings_cls: type[Settings] | None = None,
) -> Iterator[tuple[str, str, FieldInfo]]:
    """(group, field name, field) of every variable, in declared order."""
    for group, model in groups(settings_cls):
        for name, info in model.model_fields.items():
            yield group, name, info


def variable_names() -> frozenset[str]:
    """The names of every environment variable the service reads."""
    return frozenset(str(info.alias) for _, _, info in variables())


def is_secret(info: FieldInfo) -> bool:
    """Whether the field holds a secret (its value is never shown)."""
    return info.annotation is SecretStr or SecretStr in get_args(info.annotation)


def _error_line(error: ValidationError) -> SettingsError:
    """The first problem, on one line, naming its variable; a secret's value never shown."""
    first = error.errors()[0]
    reason = first["msg"].removeprefix("Value error, ")
    location = first["loc"]
    if len(location) < 2:  # a rule across fields: its message names them
        return SettingsError(reason)
    group, key = location[0], location[1]
    for g, name, info in variables():
        if g == group and key in (name, info.alias):
            shown = masked(
                str(first["input"]),
                secret=is_secret(info),
                url=str(info.alias).endswith("_URL"),
            )
            return SettingsError(f"{info.alias}={shown!r}: {reason}")
    return SettingsError(f"{group}.{key}: {reason}")


def _validated(data: Mapping[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise _error_line(exc) from None


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, `#` comments, optional quotes)."""
    found = DotEnvSettingsSource(Settings, env_file=path, case_sensitive=True).env_vars
    return {k: v for k, v in found.items() if v is not None}


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build Settings from `.env` overlaid by the real environment (which wins); an empty
    value is no value (the default holds)."""
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update(read_dotenv(dotenv))
    env.update(os.environ if environ is None else environ)
    data: dict[str, dict[str, str]] = {group: {} for group, _ in groups()}
    for group, _, info in variables():
        raw = env.get(str(info.alias))
        if raw:
            data[group][str(info.alias)] = raw
    return _validated(data)
