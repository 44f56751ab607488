"""Holding Kafka's services back until a broker answers, instead of exiting.

Faust starts its producer and consumer with the app, and a worker whose broker is down
at that moment exits. Placed before them in the boot order, this service waits (with
backoff, logging at a bounded rate) while the web server, started earlier, already serves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import mode
from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError


async def broker_answers(brokers: Sequence[str], timeout: float) -> bool:
    """True when a broker of the list answers a metadata request within `timeout`."""
    client = AIOKafkaClient(
        bootstrap_servers=list(brokers),
        request_timeout_ms=int(timeout * 1000),
        client_id="users-service-probe",
    )
    try:
        await client.bootstrap()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


class KafkaGate(mode.Service):
    """Finishes starting only once Kafka answers; the services after it wait for that."""

    def __init__(
        self,
        brokers: Sequence[str],
        *,
        probe_timeout: float = 2.0,
        max_backoff: float = 2.0,
        log_every: float = 30.0,
        **kwargs: object,
    ) -> None:
        self.brokers = list(brokers)
        self.probe_timeout = probe_timeout
        self.max_backoff = max_backoff
        self.log_every = log_every
        super().__init__(**kwargs)  # type: ignore[arg-type]

    async def on_start(self) -> None:
        backoff = 0.25
        last_log = float("-inf")
        started = time.monotonic()
        while not self.should_stop:
            if await broker_answers(self.brokers, self.probe_timeout):
                if time.monotonic() - started > 1:
                    self.log.info("Kafka answers at %s; starting its services", self.brokers)
                return
            if time.monotonic() - last_log >= self.log_every:
                last_log = time.monotonic()
                self.log.warning(
                    "Kafka at %s does not answer (waiting %.0fs so far); HTTP keeps serving and "
                    "new events wait in the outbox",
                    self.brokers,
                    last_log - started,
                )
            await self.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
