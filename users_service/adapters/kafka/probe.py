"""Whether a Kafka broker answers: one metadata request with a deadline."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError


async def broker_answers(brokers: Sequence[str], timeout: float) -> bool:
    """True when a broker of the list answers a metadata request within `timeout` and the
    answer names at least one broker: a KRaft broker that its controller has fenced (at
    start, or after missing heartbeats) answers, but lists none, and cannot serve."""
    client = AIOKafkaClient(
        bootstrap_servers=list(brokers),
        request_timeout_ms=int(timeout * 1000),
        client_id="users-service-probe",
    )
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()
