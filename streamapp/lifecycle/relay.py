"""The outbox relay as a service of the boot order, and giving its lease up."""

from __future__ import annotations

import logging
from typing import Any

import mode

from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Relay

log = logging.getLogger("users")


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
