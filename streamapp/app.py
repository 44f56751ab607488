"""The Faust application. It builds the App and nothing else; agents and views are
found by autodiscovery of the `agents` and `web` packages."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

import faust
from faust.app.base import BootStrategy
from mode import ServiceT

from streamapp.settings import Settings, SettingsError, kafka_credentials_of, load_settings
from streamapp.wiring import Wiring, wire
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.adapters.kafka.quiet_logs import quiet_kafka_client_logs
from users_service.adapters.log_redaction import install_log_redaction
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.ports import TokenVerifier
from users_service.service_layer.status import ServiceStatus
from users_service.service_layer.users import UsersService
from users_service.service_layer.verifier import Verifier


class UsersBootStrategy(BootStrategy):
    """Faust's boot order, with two changes: the database is ready before the web server
    opens, and Kafka's services wait behind a gate instead of failing the start."""

    def server(self) -> Iterable[ServiceT]:
        wiring = cast(UsersApp, self.app).wiring
        return self._chain(
            self.sensors(),
            [wiring.database_service],
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
            settings.kafka_group_id,
            broker=settings.faust_broker_url,
            broker_client_id=settings.kafka_client_id,
            broker_credentials=kafka_credentials_of(settings),
            # Faust's 60 s default makes every rebalance after a crash wait a minute.
            broker_session_timeout=settings.kafka_session_timeout,
            broker_heartbeat_interval=settings.kafka_session_timeout / 5,
            # Faust's default is 20 minutes: a send to a dead broker must fail well before.
            producer_request_timeout=settings.kafka_request_timeout,
            topic_partitions=settings.kafka_partitions,
            topic_replication_factor=settings.kafka_replication_factor,
            # Faust's /router and /table endpoints expose internals and no tables exist here;
            # "/" (Faust's index, {"status": "OK"}) stays as the liveness check.
            # Faust waits, without a limit, for every event in flight before it stops the
            # consumer. Both agents are idempotent (command id, event id), and a command
            # whose outcome is not durable is never acknowledged, so its offset is not
            # committed: stopping without that wait loses nothing, and it stays bounded.
            stream_wait_empty=False,
            web_router_enabled=False,
            web_tables_enabled=False,
            web_bind=settings.web_bind,
            web_port=settings.web_port,
            datadir=settings.data_dir,
            store="memory://",
            autodiscover=["agents", "web"],
            origin="streamapp",
        )
        self._wiring: Wiring | None = None
        self.on_before_shutdown.connect(self._drain)
        self.on_worker_init.connect(self._warn_if_auth_unconfigured)

    @property
    def settings(self) -> Settings:
        """The settings the app's collaborators were wired with."""
        return self._wiring.settings if self._wiring is not None else self._settings

    def provide(self, wiring: Wiring) -> None:
        """Give the app its collaborators. The worker wires itself on first use; tests
        call this with their own (another database, other settings)."""
        self._wiring = wiring

    @property
    def wiring(self) -> Wiring:
        """The collaborators, wired from the app's settings on first use."""
        if self._wiring is None:
            self._wiring = wire(self, self._settings)
        return self._wiring

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
    def dead_letters(self) -> DeadLetters:
        """Where poison commands are parked."""
        return self.wiring.dead_letters

    def _warn_if_auth_unconfigured(self, sender: Any, /, *args: Any, **kwargs: Any) -> None:
        """Say once, at start, when protected endpoints cannot be reached by anyone."""
        if not self.tokens.configured:
            logging.getLogger("users").warning(
                "neither AUTH_JWT_SECRET nor AUTH_JWKS_URL is set: every protected endpoint "
                "answers 401 (reading users, the operators' status)"
            )

    def on_webserver_init(self, web: Any) -> None:
        """Server limits Faust does not expose: aiohttp keeps an idle keep-alive connection
        for an hour by default; a flood of idle clients would hold sockets that long."""
        super().on_webserver_init(web)
        runner = getattr(web, "_runner", None)  # Faust's aiohttp AppRunner, not started yet
        if runner is not None:
            runner._kwargs["keepalive_timeout"] = self.settings.http_keepalive_timeout

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
    # Process-wide, once: no secret reaches any log line (every logger, every level), and
    # aiokafka's per-retry connection errors are rate-limited.
    install_log_redaction()
    quiet_kafka_client_logs()
    return UsersApp(settings)


app = create_app()
