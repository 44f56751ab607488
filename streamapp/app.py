"""The Faust application. It builds the App and nothing else; agents and views are
found by autodiscovery of the `agents` and `web` packages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import faust
from faust.app.base import BootStrategy
from mode import ServiceT

from streamapp.kafka_gate import KafkaGate
from streamapp.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bootstrap import Container


class UsersBootStrategy(BootStrategy):
    """Faust's boot order, with two changes: the database is ready before the web
    server opens, and Kafka's services wait behind a gate instead of failing the start."""

    def server(self) -> Iterable[ServiceT]:
        app = cast(UsersApp, self.app)
        return self._chain(
            self.sensors(),
            [app.container.database_service],
            self.web_server(),
            [KafkaGate(app.settings.kafka_brokers, loop=app.loop, beacon=app.beacon)],
            self.kafka_producer(),
            [app.container.topics_service, app.container.relay_service],
            self.kafka_consumer(),
            self.agents(),
            self.kafka_conductor(),
            self.tables(),
        )


class UsersApp(faust.App):
    """A faust.App that carries its settings and the service's wired collaborators."""

    BootStrategy = UsersBootStrategy

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(
            settings.kafka_group_id,
            broker=settings.faust_broker_url,
            broker_client_id=settings.kafka_client_id,
            # Faust's 60 s default makes every rebalance after a crash wait a minute.
            broker_session_timeout=settings.kafka_session_timeout,
            broker_heartbeat_interval=settings.kafka_session_timeout / 5,
            # Faust's default is 20 minutes: a send to a dead broker must fail well before.
            producer_request_timeout=settings.kafka_request_timeout,
            topic_partitions=settings.kafka_partitions,
            topic_replication_factor=settings.kafka_replication_factor,
            # Faust's /router and /table endpoints expose internals and no tables exist here;
            # "/" (Faust's index, {"status": "OK"}) stays as the liveness check.
            web_router_enabled=False,
            web_tables_enabled=False,
            web_bind=settings.web_bind,
            web_port=settings.web_port,
            datadir=settings.data_dir,
            store="memory://",
            autodiscover=["agents", "web"],
            origin="streamapp",
        )
        self._container: Container | None = None

    def on_webserver_init(self, web: Any) -> None:
        """Add the middleware that answers unknown paths and methods in JSON."""
        from web.middleware import json_http_errors

        super().on_webserver_init(web)
        if json_http_errors not in web.web_app.middlewares:
            web.web_app.middlewares.append(json_http_errors)

    @property
    def container(self) -> Container:
        """The wired collaborators, built on first use (nothing connects here)."""
        if self._container is None:
            from bootstrap import build_container

            self._container = build_container(self, self.settings)
        return self._container


def create_app(settings: Settings | None = None) -> UsersApp:
    """Build the app from `settings` (default: the environment and `.env`)."""
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            # A clear one-line reason instead of a traceback from deep inside the CLI.
            raise SystemExit(f"users-service: configuration error: {exc}") from None
    return UsersApp(settings)


app = create_app()
