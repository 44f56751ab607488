"""The worker's lifecycle: mode Services placed in Faust's boot order, and the shutdown drain.

Wiring (`streamapp.wiring`) builds them; the boot strategy (`streamapp.app`) orders them:
database before the web server, the Kafka gate before Faust's producer, topics and the
relay after it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import databases
import mode
from aiohttp import web
from faust.types import TopicT
from prometheus_client import CONTENT_TYPE_LATEST

from users_service.adapters.kafka.durability import durability_warnings, read_durability
from users_service.adapters.kafka.probe import KafkaCredentialsRefused, broker_answers
from users_service.adapters.storage.database import is_sqlite
from users_service.adapters.storage.errors import is_unavailable
from users_service.adapters.storage.migration_process import (
    migrate_in_child,
    revisions_in_child,
)
from users_service.adapters.storage.pooler import check_pooler
from users_service.domain.errors import StorageUnavailable
from users_service.service_layer.lifecycle import Lifecycle
from users_service.service_layer.outbox.fast_path import FastPath
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Relay
from users_service.service_layer.retry import Backoff

log = logging.getLogger("users")


GATE_BACKOFF = Backoff(first=0.25, most=2.0)
DATABASE_BACKOFF = Backoff(first=0.5, most=5.0)


class WaitingService(mode.Service):
    """A service whose start waits for a dependency instead of failing the worker's:
    `attempt()` until it says True, with backoff, warning at most every `log_every`
    seconds. The services after it in the boot order wait with it."""

    what = "a dependency to answer"

    def __init__(self, *, backoff: Backoff, log_every: float = 30.0, **kwargs: Any) -> None:
        self.backoff = backoff
        self.log_every = log_every
        super().__init__(**kwargs)

    async def attempt(self) -> bool:
        """One try; True once the dependency serves (raise to fail the start)."""
        raise NotImplementedError

    async def on_start(self) -> None:
        started, last_log = time.monotonic(), float("-inf")
        for delay in self.backoff.delays():
            if self.should_stop:
                return
            if await self.attempt():
                if time.monotonic() - started > 1:
                    self.log.info("done waiting for %s; starting", self.what)
                return
            if time.monotonic() - last_log >= self.log_every:
                last_log = time.monotonic()
                self.log.warning("waiting for %s (%.0fs so far)", self.what, last_log - started)
            await self.sleep(delay)


class DatabaseService(WaitingService):
    """Migrates, and connects the pools, before the web server opens; disconnects last.

    A database that cannot be reached at start is waited for, as Kafka is behind its
    gate: the worker does not exit and crash-loop, it starts once the database answers.
    Any other error stops the start.

    With `migrate_on_start` False (MIGRATE_ON_START=false: a job runs `users-service
    migrate` before a rollout), the worker only checks the revision, and waits while the
    database is behind the code instead of running on a schema it does not know."""

    what = "the database to answer"

    def __init__(
        self,
        pools: Sequence[databases.Database],
        url: str,
        *,
        migration_url: str | None = None,
        pooler: str = "none",
        migrate_on_start: bool = True,
        backoff: Backoff = DATABASE_BACKOFF,
        **kwargs: Any,
    ) -> None:
        self.pools = list(pools)
        self.url = url
        self.migration_url = migration_url or url
        self.pooler = pooler
        self.migrate_on_start = migrate_on_start
        super().__init__(backoff=backoff, **kwargs)

    async def attempt(self) -> bool:
        try:
            if not is_sqlite(self.url):
                # Before anything else, so that a wrong DATABASE_POOLER stops the start
                # with its fix named instead of failing requests later.
                await check_pooler(self.url, self.pooler)
            if self.migrate_on_start:
                await migrate_in_child(self.migration_url)
            else:
                current, head = await revisions_in_child(self.migration_url)
                if current != head:
                    self.what = (
                        f"the database's schema to reach revision {head} (it is at "
                        f"{current}; MIGRATE_ON_START=false: run `users-service migrate`)"
                    )
                    return False
                self.what = "the database to answer"
            for pool in self.pools:
                await pool.connect()
        except StorageUnavailable:
            return False
        except Exception as exc:
            if is_unavailable(exc):
                return False
            raise
        return True

    async def on_stop(self) -> None:
        for pool in self.pools:
            await pool.disconnect()


class KafkaGate(WaitingService):
    """Finishes starting only once Kafka serves; the services after it wait for that.

    Faust starts its producer and consumer with the app, and a worker whose broker is down
    at that moment exits. Placed before them, this waits while the web server, started
    earlier, already serves (and new events wait in the outbox).
    """

    def __init__(
        self,
        brokers: Sequence[str],
        *,
        options: Mapping[str, Any] | None = None,
        probe_timeout: float = 2.0,
        backoff: Backoff = GATE_BACKOFF,
        **kwargs: Any,
    ) -> None:
        self.brokers = list(brokers)
        self.options = dict(options or {})
        self.probe_timeout = probe_timeout
        self.what = f"Kafka at {','.join(self.brokers)} to answer"
        super().__init__(backoff=backoff, **kwargs)

    async def attempt(self) -> bool:
        try:
            return await broker_answers(self.brokers, self.probe_timeout, self.options)
        except KafkaCredentialsRefused as exc:
            # Waiting will not help: one clear line, then the worker stops.
            log.error(
                "Kafka refused this worker's credentials (KAFKA_SASL_USERNAME=%s): %s",
                self.options.get("sasl_plain_username"),
                exc,
            )
            raise


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


class RelayService(mode.Service):
    """Runs the outbox relay once the producer has started (i.e. Kafka answered)."""

    def __init__(self, relay: Relay, health: PublishHealth, **kwargs: Any) -> None:
        self.relay = relay
        self.health = health
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self.health.producer_started = True
        self.relay.start()

    async def on_stop(self) -> None:
        # The shutdown drain did this already, unless the worker stops another way.
        await self.relay.stop()
        self.health.producer_started = False
        await release_lease(self.relay)


async def release_lease(relay: Relay) -> None:
    """Give the lease up at shutdown; a failure only means a peer waits for it to lapse."""
    try:
        await relay.release()
    except Exception:
        log.warning("could not release the relay lease; it lapses by itself")


class MetricsServer(mode.Service):
    """`/metrics` on a port of its own (METRICS_PORT), so that the scrape port can stay
    inside the cluster while the API's port is exposed."""

    def __init__(
        self, render: Callable[[], Awaitable[bytes]], host: str, port: int, **kwargs: Any
    ) -> None:
        self.render = render
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("metrics served on http://%s:%d/metrics", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=await self.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


class ShutdownWatchdog:
    """Ends the process `grace` seconds after shutdown began, whatever still hangs (a
    database that does not answer, a broker that does not either): an orchestrator would
    SIGKILL it anyway, only later. Nothing is lost by it: a command whose outcome is not
    durable was never acknowledged, so its offset was never committed."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start counting (once); a daemon thread, so a normal exit is not held up."""
        if self._timer is None:
            self._timer = threading.Timer(self.grace, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        log.error("shutdown took longer than SHUTDOWN_GRACE=%gs; exiting now", self.grace)
        logging.shutdown()
        os._exit(70)  # EX_SOFTWARE: the orchestrator sees an unclean stop


@dataclass(frozen=True)
class ShutdownDrain:
    """Connected to the app's `on_before_shutdown`, which runs while the producer is still
    up: refuse new requests, give in-flight work a moment, publish what waits, each step
    bounded by `timeout`; what is left is delivered by a peer or after the next start."""

    lifecycle: Lifecycle
    fast_path: FastPath
    relay: Relay
    health: PublishHealth
    timeout: float
    watchdog: ShutdownWatchdog

    async def __call__(self) -> None:
        """Refuse new requests; let in-flight batches and fast-path sends finish; stop the
        relay's loop and wait for its batch in flight; publish what waits; then give up the
        lease. In that order, so that no peer takes over while a batch of ours is in flight."""
        self.watchdog.arm()
        self.lifecycle.start_draining()
        # One budget for all the steps, so that the drain ends well inside the grace.
        deadline = time.monotonic() + self.timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if not await self.lifecycle.wait_idle(left()):
            log.warning("shutdown: work still in flight; it is redelivered after the stop")
        await self.fast_path.wait_idle(left())
        try:
            await asyncio.wait_for(self.relay.stop(), timeout=max(left(), 0.1))
        except TimeoutError:
            log.warning("shutdown: the relay's batch did not finish; a peer publishes it again")
        if self.health.producer_started and left() > 0:
            published = await self.relay.drain(left())
            log.info("shutdown: published %d pending event(s) from the outbox", published)
        await release_lease(self.relay)
