"""Typed settings read from the environment and `.env`.

Every value is validated once, at start-up; a bad value stops the worker with a
message that names the variable, instead of failing later at first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from faust.types.auth import CredentialsT
from users_service_events import envelope

from users_service.adapters.kafka.security import kafka_credentials
from users_service.domain.model import CloudEvents
from users_service.domain.patterns import LinearPattern, linear

T = TypeVar("T")

_HOST_PORT = linear(r"^[A-Za-z0-9._\-\[\]:]+:\d{1,5}$")
_LIST_SEPARATOR = linear(r"[,;]")
_TOPIC = linear(r"^[A-Za-z0-9._\-]{1,249}$")
# A URI reference without spaces (CloudEvents' `source`), a reverse-DNS name (`type`).
_URI_REFERENCE = linear(r"^[^\s]{1,512}$")
_REVERSE_DNS = linear(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    kafka_brokers: tuple[str, ...] = ("kafka:9092",)
    kafka_client_id: str = "users-service"
    kafka_group_id: str = "users-group"
    user_created_topic: str = "user.created"
    user_create_topic: str = "user.create"
    user_create_rejected_topic: str = "user.create.rejected"
    user_create_dlq_topic: str = "user.create.dlq"
    # Erasure (docs/erasure.md): USER_DELETED's topic, the erase commands' topic, and how
    # long Kafka keeps user.created (set when the topic is created): 30 days.
    user_deleted_topic: str = "user.deleted"
    user_erase_topic: str = "user.erase"
    user_created_retention: float = 30 * 24 * 3600.0
    # CloudEvents attributes of every event: its source, and the prefix of its type
    # (`<prefix>.user.created.v1`). Consumers route on them: set once per organisation.
    cloudevents_source: str = envelope.DEFAULT_SOURCE
    cloudevents_type_prefix: str = envelope.DEFAULT_TYPE_PREFIX
    command_max_bytes: int = 64 * 1024
    command_batch_size: int = 8
    database_retry_timeout: float = 300.0
    http_max_body_bytes: int = 64 * 1024
    http_keepalive_timeout: float = 75.0
    idempotency_ttl: float = 24 * 3600.0
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    kafka_request_timeout: float = 10.0
    kafka_session_timeout: float = 10.0
    # The producer's batching, chosen by measurement (BENCHMARKS.md): batches up to 256 KiB
    # (with aiokafka's 16 KiB the broker spent two to four times the CPU per event of a
    # backlog), no linger (it only added latency) and no compression (it cost more than it
    # saved on loopback; across a network lz4 or zstd save bytes).
    kafka_linger_ms: int = 0
    kafka_max_batch_bytes: int = 256 * 1024
    kafka_compression: str = "none"
    database_url: str = "sqlite:///./.cache/users.sqlite3"
    # The requests' and commands' pool; the relay's (0: 2, or 4 with OUTBOX_SHARDS > 1:
    # lanes of several shards publish at once); the verifier's.
    database_pool_size: int = 10
    database_relay_pool_size: int = 0
    database_verifier_pool_size: int = 2
    database_pool_timeout: float = 5.0
    # "transaction": DATABASE_URL leads to a pooler in transaction mode (no prepared
    # statement outlives its transaction); "transaction-prepared": one that keeps
    # protocol-level prepared statements itself (PgBouncer >= 1.21's max_prepared_statements);
    # "none"/"session": each connection keeps its session. Migrations go to
    # DATABASE_MIGRATION_URL when set.
    database_pooler: str = "none"
    database_migration_url: str | None = field(default=None, repr=False)
    # Loopback unless told otherwise: the container sets 0.0.0.0 explicitly.
    web_bind: str = "127.0.0.1"
    web_port: int = 6066
    # SO_REUSEPORT: the workers on one host share WEB_PORT (streamapp.web_server).
    web_reuse_port: bool = False
    bcrypt_rounds: int = 12
    hash_workers: int = 0  # 0: one per core
    hash_queue: int = 16
    outbox_poll_interval: float = 1.0
    outbox_batch_size: int = 500
    outbox_lease_ttl: float = 15.0
    # 1: one relay at a time publishes everything (the others stand by). More: that many
    # shards by key hash, shared out between the workers' relays (the same on every worker).
    outbox_shards: int = 1
    outbox_max_attempts: int = 10
    outbox_retention: float = 7 * 24 * 3600.0
    shutdown_flush_timeout: float = 5.0
    shutdown_grace: float = 25.0
    data_dir: str = ".cache/faust"
    # Kafka client security (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL).
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    # Bearer JWT: a shared HS256 secret (local use, tests) or an identity provider's JWKS.
    auth_jwt_secret: str | None = field(default=None, repr=False)
    auth_jwks_url: str | None = None
    auth_jwt_audience: str = "users-service"
    auth_jwt_issuer: str | None = None
    auth_require_for_create: bool = False
    auth_leeway: float = 30.0
    auth_jwks_refresh_cooldown: float = 30.0
    commands_accept_plaintext_password: bool = True
    # Operations: log format and level, where metrics are served, start-up migration,
    # and Kafka static membership (a restart within the session timeout keeps partitions).
    log_format: str = "text"
    log_level: str = "INFO"
    metrics_port: int = 0  # 0: /metrics on WEB_PORT
    migrate_on_start: bool = True
    kafka_group_instance_id: str | None = None
    # false: this worker does not run the self-verifying consumer (a verifier role runs
    # it in the same group); creations and commands are unaffected.
    verifier_enabled: bool = True

    @property
    def cloud_events(self) -> CloudEvents:
        """The CloudEvents attributes these settings give the service's events."""
        return CloudEvents(self.cloudevents_source, self.cloudevents_type_prefix)

    @property
    def relay_pool_size(self) -> int:
        """The relay's pool: DATABASE_RELAY_POOL_SIZE, or what its lanes need."""
        if self.database_relay_pool_size:
            return self.database_relay_pool_size
        return 2 if self.outbox_shards == 1 else 4

    @property
    def database_connections(self) -> int:
        """The most connections one worker holds: its three pools (before they open, the
        start-up checks hold at most two for a moment)."""
        return self.database_pool_size + self.relay_pool_size + self.database_verifier_pool_size

    @property
    def migration_url(self) -> str:
        """Where migrations run: DATABASE_MIGRATION_URL, else DATABASE_URL."""
        return self.database_migration_url or self.database_url

    @property
    def faust_broker_url(self) -> str:
        """The broker list in Faust's `kafka://a;b` form."""
        return ";".join(f"kafka://{b}" for b in self.kafka_brokers)


def kafka_credentials_of(settings: Settings) -> CredentialsT | None:
    """Faust's broker credentials for these settings (None for PLAINTEXT)."""
    return kafka_credentials(
        protocol=settings.kafka_security_protocol,
        mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )


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


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Their values never appear in an error message, a repr or a log line.
SECRET_VARIABLES = frozenset(
    {"AUTH_JWT_SECRET", "KAFKA_SASL_PASSWORD", "DATABASE_URL", "DATABASE_MIGRATION_URL"}
)
_URL_PASSWORD = linear(r"(://[^:/@]*:)[^@/]*@")


def masked(name: str, raw: str) -> str:
    """`raw` as it may be shown: a URL without its password, a secret as ***."""
    if name in {"DATABASE_URL", "DATABASE_MIGRATION_URL"}:
        return _URL_PASSWORD.sub(r"\1***@", raw)
    return "***" if name in SECRET_VARIABLES else raw


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


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, `#` comments, optional quotes)."""
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


# Every variable `load_settings` reads, filled in as it reads them (see `variable_names`).
_READ: set[str] = set()


def variable_names() -> frozenset[str]:
    """The names of every environment variable the service reads."""
    load_settings({}, dotenv=None)
    return frozenset(_READ)


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build Settings from `.env` overlaid by the real environment (which wins)."""
    env: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        env.update(read_dotenv(dotenv))
    env.update(os.environ if environ is None else environ)
    defaults = Settings()

    def get(name: str, parse: Callable[[str], T], default: T) -> T:
        _READ.add(name)
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={masked(name, raw)!r}: {exc}") from None

    settings = Settings(
        kafka_brokers=get("KAFKA_BROKER", parse_brokers, defaults.kafka_brokers),
        kafka_client_id=get("KAFKA_CLIENT_ID", _nonempty, defaults.kafka_client_id),
        kafka_group_id=get("KAFKA_GROUP_ID", _nonempty, defaults.kafka_group_id),
        user_created_topic=get("KAFKA_USER_CREATED_TOPIC", _topic, defaults.user_created_topic),
        user_create_topic=get("KAFKA_USER_CREATE_TOPIC", _topic, defaults.user_create_topic),
        user_create_rejected_topic=get(
            "KAFKA_USER_CREATE_REJECTED_TOPIC", _topic, defaults.user_create_rejected_topic
        ),
        user_create_dlq_topic=get(
            "KAFKA_USER_CREATE_DLQ_TOPIC", _topic, defaults.user_create_dlq_topic
        ),
        user_deleted_topic=get("KAFKA_USER_DELETED_TOPIC", _topic, defaults.user_deleted_topic),
        user_erase_topic=get("KAFKA_USER_ERASE_TOPIC", _topic, defaults.user_erase_topic),
        user_created_retention=get(
            "KAFKA_USER_CREATED_RETENTION", _positive_float, defaults.user_created_retention
        ),
        cloudevents_source=get(
            "CLOUDEVENTS_SOURCE",
            _matching(_URI_REFERENCE, "a URI reference"),
            defaults.cloudevents_source,
        ),
        cloudevents_type_prefix=get(
            "CLOUDEVENTS_TYPE_PREFIX",
            _matching(_REVERSE_DNS, "a reverse-DNS name"),
            defaults.cloudevents_type_prefix,
        ),
        command_max_bytes=get(
            "COMMAND_MAX_BYTES", _bounded_int(1024, 1024 * 1024), defaults.command_max_bytes
        ),
        command_batch_size=get(
            "COMMAND_BATCH_SIZE", _bounded_int(1, 256), defaults.command_batch_size
        ),
        database_retry_timeout=get(
            "DATABASE_RETRY_TIMEOUT", _positive_float, defaults.database_retry_timeout
        ),
        http_keepalive_timeout=get(
            "HTTP_KEEPALIVE_TIMEOUT", _positive_float, defaults.http_keepalive_timeout
        ),
        http_max_body_bytes=get(
            "HTTP_MAX_BODY_BYTES", _bounded_int(256, 16 * 1024 * 1024), defaults.http_max_body_bytes
        ),
        idempotency_ttl=get("IDEMPOTENCY_TTL", _positive_float, defaults.idempotency_ttl),
        kafka_partitions=get("KAFKA_PARTITIONS", _bounded_int(1, 1000), defaults.kafka_partitions),
        kafka_replication_factor=get(
            "KAFKA_REPLICATION_FACTOR", _bounded_int(1, 10), defaults.kafka_replication_factor
        ),
        kafka_request_timeout=get(
            "KAFKA_REQUEST_TIMEOUT", _positive_float, defaults.kafka_request_timeout
        ),
        kafka_session_timeout=get(
            "KAFKA_SESSION_TIMEOUT", _positive_float, defaults.kafka_session_timeout
        ),
        kafka_linger_ms=get("KAFKA_LINGER_MS", _bounded_int(0, 1000), defaults.kafka_linger_ms),
        kafka_max_batch_bytes=get(
            "KAFKA_MAX_BATCH_BYTES", _bounded_int(1024, 1024 * 1024), defaults.kafka_max_batch_bytes
        ),
        kafka_compression=get(
            "KAFKA_COMPRESSION",
            _choice("none", "gzip", "snappy", "lz4", "zstd"),
            defaults.kafka_compression,
        ),
        database_url=get("DATABASE_URL", _database_url, defaults.database_url),
        database_pool_size=get(
            "DATABASE_POOL_SIZE", _bounded_int(1, 1000), defaults.database_pool_size
        ),
        database_relay_pool_size=get(
            "DATABASE_RELAY_POOL_SIZE", _bounded_int(0, 1000), defaults.database_relay_pool_size
        ),
        database_verifier_pool_size=get(
            "DATABASE_VERIFIER_POOL_SIZE",
            _bounded_int(1, 1000),
            defaults.database_verifier_pool_size,
        ),
        database_pool_timeout=get(
            "DATABASE_POOL_TIMEOUT", _positive_float, defaults.database_pool_timeout
        ),
        database_pooler=get(
            "DATABASE_POOLER",
            _choice("none", "session", "transaction", "transaction-prepared"),
            defaults.database_pooler,
        ),
        database_migration_url=get("DATABASE_MIGRATION_URL", _database_url, None),
        web_bind=get("WEB_BIND", _nonempty, defaults.web_bind),
        web_port=get("WEB_PORT", _bounded_int(1, 65535), defaults.web_port),
        web_reuse_port=get("WEB_REUSE_PORT", _boolean, defaults.web_reuse_port),
        bcrypt_rounds=get("BCRYPT_ROUNDS", _bounded_int(4, 31), defaults.bcrypt_rounds),
        hash_workers=get("HASH_WORKERS", _bounded_int(0, 256), defaults.hash_workers),
        hash_queue=get("HASH_QUEUE", _bounded_int(0, 100_000), defaults.hash_queue),
        outbox_poll_interval=get(
            "OUTBOX_POLL_INTERVAL", _positive_float, defaults.outbox_poll_interval
        ),
        outbox_batch_size=get(
            "OUTBOX_BATCH_SIZE", _bounded_int(1, 10_000), defaults.outbox_batch_size
        ),
        outbox_lease_ttl=get("OUTBOX_LEASE_TTL", _positive_float, defaults.outbox_lease_ttl),
        outbox_shards=get("OUTBOX_SHARDS", _bounded_int(1, 256), defaults.outbox_shards),
        outbox_max_attempts=get(
            "OUTBOX_MAX_ATTEMPTS", _bounded_int(1, 1000), defaults.outbox_max_attempts
        ),
        outbox_retention=get("OUTBOX_RETENTION", _positive_float, defaults.outbox_retention),
        shutdown_flush_timeout=get(
            "SHUTDOWN_FLUSH_TIMEOUT", _positive_float, defaults.shutdown_flush_timeout
        ),
        shutdown_grace=get("SHUTDOWN_GRACE", _positive_float, defaults.shutdown_grace),
        data_dir=get("FAUST_DATA_DIR", _nonempty, defaults.data_dir),
        kafka_security_protocol=get(
            "KAFKA_SECURITY_PROTOCOL",
            _choice(*SECURITY_PROTOCOLS),
            defaults.kafka_security_protocol,
        ),
        kafka_sasl_mechanism=get(
            "KAFKA_SASL_MECHANISM", _choice(*SASL_MECHANISMS), defaults.kafka_sasl_mechanism
        ),
        kafka_sasl_username=get("KAFKA_SASL_USERNAME", _nonempty, None),
        kafka_sasl_password=get("KAFKA_SASL_PASSWORD", _nonempty, None),
        kafka_ssl_cafile=get("KAFKA_SSL_CAFILE", _readable_file, None),
        kafka_ssl_certfile=get("KAFKA_SSL_CERTFILE", _readable_file, None),
        kafka_ssl_keyfile=get("KAFKA_SSL_KEYFILE", _readable_file, None),
        auth_jwt_secret=get("AUTH_JWT_SECRET", _jwt_secret, None),
        auth_jwks_url=get("AUTH_JWKS_URL", _nonempty, None),
        auth_jwt_audience=get("AUTH_JWT_AUDIENCE", _nonempty, defaults.auth_jwt_audience),
        auth_jwt_issuer=get("AUTH_JWT_ISSUER", _nonempty, None),
        auth_require_for_create=get(
            "AUTH_REQUIRE_FOR_CREATE", _boolean, defaults.auth_require_for_create
        ),
        auth_leeway=get("AUTH_LEEWAY", _positive_float, defaults.auth_leeway),
        auth_jwks_refresh_cooldown=get(
            "AUTH_JWKS_REFRESH_COOLDOWN", float, defaults.auth_jwks_refresh_cooldown
        ),
        commands_accept_plaintext_password=get(
            "COMMANDS_ACCEPT_PLAINTEXT_PASSWORD",
            _boolean,
            defaults.commands_accept_plaintext_password,
        ),
        log_format=get("LOG_FORMAT", _choice("text", "json"), defaults.log_format),
        log_level=get(
            "LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), defaults.log_level
        ),
        metrics_port=get("METRICS_PORT", _bounded_int(0, 65535), defaults.metrics_port),
        migrate_on_start=get("MIGRATE_ON_START", _boolean, defaults.migrate_on_start),
        kafka_group_instance_id=get("KAFKA_GROUP_INSTANCE_ID", _nonempty, None),
        verifier_enabled=get("VERIFIER_ENABLED", _boolean, defaults.verifier_enabled),
    )
    if settings.outbox_lease_ttl <= settings.kafka_request_timeout:
        # A relay whose lease lapses while its batch still waits on Kafka would let a
        # second relay publish the same rows.
        raise SettingsError(
            f"OUTBOX_LEASE_TTL={settings.outbox_lease_ttl:g} must be longer than "
            f"KAFKA_REQUEST_TIMEOUT={settings.kafka_request_timeout:g}"
        )
    if settings.kafka_security_protocol.startswith("SASL") and not (
        settings.kafka_sasl_username and settings.kafka_sasl_password
    ):
        raise SettingsError(
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
        )
    if settings.metrics_port and settings.metrics_port == settings.web_port:
        raise SettingsError(
            f"METRICS_PORT={settings.metrics_port} must differ from WEB_PORT (0 serves "
            "/metrics on WEB_PORT)"
        )
    if settings.auth_jwt_secret and settings.auth_jwks_url:
        raise SettingsError("set AUTH_JWT_SECRET or AUTH_JWKS_URL, not both")
    if settings.shutdown_grace <= settings.shutdown_flush_timeout:
        raise SettingsError(
            f"SHUTDOWN_GRACE={settings.shutdown_grace:g} must be longer than "
            f"SHUTDOWN_FLUSH_TIMEOUT={settings.shutdown_flush_timeout:g}"
        )
    return settings
