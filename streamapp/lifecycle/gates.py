"""Gates in the boot order: services whose start waits for a dependency (the database,
Kafka) instead of failing the worker's, so that the services after them wait too."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import databases
import mode

from users_service.adapters.kafka.probe import KafkaCredentialsRefused, broker_answers
from users_service.adapters.storage.database import is_sqlite
from users_service.adapters.storage.errors import is_unavailable
from users_service.adapters.storage.migration_process import (
    migrate_in_child,
    revisions_in_child,
)
from users_service.adapters.storage.pooler import check_pooler
from users_service.domain.errors import StorageUnavailable
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
