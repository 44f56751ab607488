"""The Faust application. It builds the App and nothing else; agents and views are
found by autodiscovery of the `agents` and `web` packages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, cast

import faust
from faust.app.base import BootStrategy
from mode import ServiceT
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from streamapp.health import Readiness
from streamapp.kafka_credentials import kafka_credentials_of
from streamapp.lifecycle.metrics_server import MetricsServer
from streamapp.logging_setup import logging_config
from streamapp.masking import masked_url
from streamapp.metrics import ConsumerLag, ServiceMetrics, faust_monitor, render_for
from streamapp.settings import Settings, SettingsError, load_settings
from streamapp.wiring import Wiring, wire, worker_identity

# Imported for its effect: Faust's `worker` subcommand becomes this app's.
from streamapp.workarounds import faust_worker_command  # noqa: F401
from streamapp.workarounds.faust_app import use_transport_classes
from streamapp.workarounds.faust_consumer import RewindingConsumer
from streamapp.workarounds.faust_producer import IdempotentProducer
from streamapp.workarounds.faust_web import SharedPortWeb, set_keepalive_timeout
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.adapters.kafka.partitioner import KafkaPartitioner
from users_service.adapters.kafka.quiet_logs import quiet_kafka_client_logs
from users_service.adapters.log_redaction import install_log_redaction
from users_service.adapters.tracing import (
    Tracing,
    TracingConfigError,
    configure_tracing,
    exporter_names,
)
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.ports import TokenVerifier
from users_service.service_layer.status import ServiceStatus
from users_service.service_layer.users import UsersService
from users_service.service_layer.verifier import Verifier


class UsersBootStrategy(BootStrategy):
    """Faust's boot order, with two changes: the database is ready before the web server
    opens, and Kafka's services wait behind a gate instead of failing the start."""

    def server(self) -> Iterable[ServiceT]:
        app = cast(UsersApp, self.app)
        wiring = app.wiring
        settings = wiring.settings
        metrics_server: list[ServiceT] = []
        if settings.operations.metrics_port:
            metrics_server.append(
                MetricsServer(
                    app.metrics_exposition,
                    settings.http.bind,
                    settings.operations.metrics_port,
                    loop=app.loop,
                    beacon=app.beacon,
                )
            )
        return self._chain(
            self.sensors(),
            [wiring.database_service],
            metrics_server,
            self.web_server(),
            [wiring.kafka_gate],
            self.kafka_producer(),
            [wiring.topics_service, wiring.relay_service],
            self.kafka_consumer(),
            self.agents(),
            self.kafka_conductor(),
            self.tables(),
        )


class UsersApp(faust.App):
    """A faust.App that carries its settings and hands its views and agents exactly the
    collaborators they use."""

    BootStrategy = UsersBootStrategy

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        super().__init__(
            settings.kafka.group_id,
            broker=settings.kafka.faust_broker_url,
            broker_client_id=settings.kafka.client_id,
            broker_credentials=kafka_credentials_of(settings.kafka),
            # Static membership: a worker back within the session timeout keeps its
            # partitions, so a rolling restart does not rebalance the group twice a pod.
            consumer_group_instance_id=settings.kafka.group_instance_id,
            consumer_metadata_max_age_ms=int(settings.kafka.metadata_max_age * 1000),
            logging_config=logging_config(
                settings.operations.log_format, settings.operations.log_level, worker_identity()
            ),
            Worker="streamapp.workarounds.faust_worker:UsersWorker",
            # Faust's 60 s default makes every rebalance after a crash wait a minute.
            broker_session_timeout=settings.kafka.session_timeout,
            broker_heartbeat_interval=settings.kafka.session_timeout / 5,
            # Faust's default is 20 minutes: a send to a dead broker must fail well before.
            producer_request_timeout=settings.kafka.request_timeout,
            producer_linger=settings.kafka.linger_ms / 1000,
            producer_max_batch_size=settings.kafka.max_batch_bytes,
            producer_compression_type=(
                None if settings.kafka.compression == "none" else settings.kafka.compression
            ),
            topic_partitions=settings.kafka.partitions,
            topic_replication_factor=settings.kafka.replication_factor,
            # Faust's /router and /table endpoints expose internals and no tables exist here;
            # "/" (Faust's index, {"status": "OK"}) stays as the liveness check.
            # Faust waits, without a limit, for every event in flight before it stops the
            # consumer. Both agents are idempotent (command id, event id), and a command
            # whose outcome is not durable is never acknowledged, so its offset is not
            # committed: stopping without that wait loses nothing, and it stays bounded.
            stream_wait_empty=False,
            stream_buffer_maxsize=settings.kafka.stream_buffer,
            # Kafka's default partitioning, with a faster murmur2 than aiokafka's.
            producer_partitioner=KafkaPartitioner(),
            web_router_enabled=False,
            web_tables_enabled=False,
            web_bind=settings.http.bind,
            web_port=settings.http.port,
            datadir=settings.operations.data_dir,
            store="memory://",
            autodiscover=["agents", "web"],
            origin="streamapp",
        )
        self._wiring: Wiring | None = None
        # Set by the worker as it starts (`start_tracing`); None while tracing is off, and
        # in-process apps (tests) never trace. Not `tracer`: Faust's App has one of its own
        # (opentracing's, for its rebalance spans), which must stay None here.
        self.tracing: Tracing | None = None
        self.http_tracer: Tracer | None = None
        # One registry for the app: Faust's sensor (corrected), consumer lag, and the
        # service's metrics once wired (`provide`).
        self.metrics_registry = CollectorRegistry()
        self.monitor = faust_monitor(self.metrics_registry)
        self.metrics_registry.register(ConsumerLag(lambda: self.monitor))
        self.on_before_shutdown.connect(self._drain)

    def _new_consumer(self) -> Any:
        # Seeking back to committed offsets rewinds every partition (faust_consumer):
        # Faust's own skips the first records of a partition nobody has committed yet.
        use_transport_classes(self, consumer=RewindingConsumer)
        return super()._new_consumer()

    def _new_web(self) -> Any:
        # One port for every worker on the host, when asked (WEB_REUSE_PORT).
        if self.settings.http.reuse_port:
            return SharedPortWeb(self)
        return super()._new_web()

    def _new_producer(self) -> Any:
        # Idempotent sends (faust_producer): a retry never duplicates or reorders.
        use_transport_classes(self, producer=IdempotentProducer)
        return super()._new_producer()

    @property
    def settings(self) -> Settings:
        """The settings the app's collaborators were wired with."""
        return self._wiring.settings if self._wiring is not None else self._settings

    def provide(self, wiring: Wiring) -> None:
        """Give the app its collaborators. The worker wires itself on first use; tests
        call this with their own (another database, other settings)."""
        if self._wiring is not None:
            self.metrics_registry.unregister(self._wiring.metrics)
        self._wiring = wiring
        self.metrics_registry.register(wiring.metrics)

    @property
    def wiring(self) -> Wiring:
        """The collaborators, wired from the app's settings on first use."""
        if self._wiring is None:
            self.provide(wire(self, self._settings))
        assert self._wiring is not None
        return self._wiring

    def begin_draining(self) -> None:
        """Readiness turns 503 and new requests are refused; called first thing at SIGTERM."""
        if self._wiring is not None:
            self._wiring.lifecycle.start_draining()

    @property
    def users(self) -> UsersService:
        """The use cases, for views and agents."""
        return self.wiring.users

    @property
    def status(self) -> ServiceStatus:
        """The operators' status query."""
        return self.wiring.status

    @property
    def lifecycle(self) -> Lifecycle:
        """Whether the worker still takes new requests."""
        return self.wiring.lifecycle

    @property
    def verifier(self) -> Verifier:
        """The self-verifying consumer's checks and counts."""
        return self.wiring.verifier

    @property
    def tokens(self) -> TokenVerifier:
        """Who a bearer token names, for the views that need a caller."""
        return self.wiring.tokens

    @property
    def service_metrics(self) -> ServiceMetrics:
        """The service's own metrics (HTTP timings are observed by the web middleware)."""
        return self.wiring.metrics

    @property
    def readiness(self) -> Readiness:
        """Whether this worker should get traffic now."""
        return self.wiring.readiness

    async def metrics_exposition(self, accept: str) -> tuple[bytes, str]:
        """Every metric of this worker in the format `accept` asks for (OpenMetrics, with
        exemplars, or Prometheus' text), and its content type."""
        await self.wiring.metrics.refresh()
        return render_for(self.metrics_registry, accept)

    @property
    def dead_letters(self) -> DeadLetters:
        """Where poison commands are parked."""
        return self.wiring.dead_letters

    def start_tracing(self) -> None:
        """Configure OpenTelemetry from the `OTEL_*` variables (off without any); called by
        the worker as it starts, before the web server opens."""
        self.tracing = configure_tracing()
        if self.tracing is not None:
            self.http_tracer = self.tracing.provider.get_tracer("users-service")

    def stop_tracing(self) -> None:
        """Export the spans still queued; called by the worker once its services stopped."""
        tracing, self.tracing, self.http_tracer = self.tracing, None, None
        if tracing is not None:
            tracing.shutdown()

    def announce_start(self) -> None:
        """What Faust's banner shows, as one log line (the banner is off with JSON logs);
        and a warning when protected endpoints cannot be reached by anyone. Called by the
        worker once logging is set up (Faust's `on_worker_init` comes before that)."""
        settings = self.settings
        logging.getLogger("users").info(
            "worker %s starting: group %s, Kafka %s, web http://%s:%d, database %s "
            "(pooler %s; at most %d connections: pools of %d, %d and %d), "
            "metrics %s, bcrypt cost %d (%s), loop %s, tracing %s",
            worker_identity(),
            settings.kafka.group_id,
            ",".join(settings.kafka.brokers),
            settings.http.bind,
            settings.http.port,
            masked_url(settings.database.url.get_secret_value()),
            settings.database.pooler,
            settings.database_connections,
            settings.database.pool_size,
            settings.relay_pool_size,
            settings.database.verifier_pool_size,
            f":{settings.operations.metrics_port}/metrics"
            if settings.operations.metrics_port
            else "/metrics",
            settings.auth.bcrypt_rounds,
            self.wiring.metrics.hasher.implementation,
            type(asyncio.get_running_loop()).__module__.split(".")[0],
            self.tracing.describe() if self.tracing is not None else "off",
        )
        if not self.tokens.configured:
            logging.getLogger("users").warning(
                "neither AUTH_JWT_SECRET nor AUTH_JWKS_URL is set: every protected endpoint "
                "answers 401 (reading users, the operators' status)"
            )

    def on_webserver_init(self, web: Any) -> None:
        """Server limits Faust does not expose: aiohttp keeps an idle keep-alive connection
        for an hour by default; a flood of idle clients would hold sockets that long."""
        super().on_webserver_init(web)
        set_keepalive_timeout(web, self.settings.http.keepalive_timeout)

    async def _drain(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # on_before_shutdown runs while the producer is still up.
        if self._wiring is not None:
            await self._wiring.shutdown()


def create_app(settings: Settings | None = None) -> UsersApp:
    """Build the app from `settings` (default: the environment and `.env`)."""
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            # A clear one-line reason instead of a traceback from deep inside the CLI.
            raise SystemExit(f"users-service: configuration error: {exc}") from None
    try:
        exporter_names()  # OTEL_TRACES_EXPORTER checked now; the SDK is built by the worker
    except TracingConfigError as exc:
        raise SystemExit(f"users-service: configuration error: {exc}") from None
    # Process-wide, once: no secret reaches any log line (every logger, every level), and
    # aiokafka's per-retry connection errors are rate-limited.
    install_log_redaction()
    quiet_kafka_client_logs()
    return UsersApp(settings)


app = create_app()
