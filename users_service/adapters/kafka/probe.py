"""Whether a Kafka broker serves: one metadata request with a deadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, TopicAlreadyExistsError


class KafkaCredentialsRefused(RuntimeError):
    """The broker answered and refused the client's credentials: waiting will not help."""


async def broker_answers(
    brokers: Sequence[str], timeout: float, options: Mapping[str, Any] | None = None
) -> bool:
    """True when a broker of the list answers a metadata request within `timeout` and the
    answer names at least one broker: a KRaft broker that its controller has fenced (at
    start, or after missing heartbeats) answers, but lists none, and cannot serve.
    Raises KafkaCredentialsRefused when a broker answers and refuses the credentials."""
    options = dict(options or {})
    client = AIOKafkaClient(
        bootstrap_servers=list(brokers),
        request_timeout_ms=int(timeout * 1000),
        client_id="users-service-probe",
        **options,
    )
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError):
        if options.get("sasl_mechanism"):
            await _raise_if_refused(brokers[0], timeout, options)
        return False
    finally:
        await client.close()


async def _raise_if_refused(broker: str, timeout: float, options: Mapping[str, Any]) -> None:
    # aiokafka's bootstrap hides why it failed; one direct connection tells an
    # authentication failure from a broker that is simply not there.
    host, port = broker.rsplit(":", 1)
    try:
        conn = await create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **options)
    except KafkaError as exc:
        if "auth" in type(exc).__name__.lower() or "sasl" in type(exc).__name__.lower():
            raise KafkaCredentialsRefused(f"{type(exc).__name__}: {exc}") from None
        return
    except OSError:
        return
    conn.close()


async def topic_creation_refused(
    brokers: Sequence[str], timeout: float, topic: str, options: Mapping[str, Any] | None = None
) -> str | None:
    """None when the cluster would create `topic` (or has it); else why not, in a few words.
    Validated, not created: the check leaves nothing behind on someone else's Kafka."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=list(brokers),
        request_timeout_ms=int(timeout * 1000),
        **dict(options or {}),
    )
    try:
        await admin.start()
        response = await admin.create_topics([NewTopic(topic, 1, 1)], validate_only=True)
        errors = [code for _, code, *_ in getattr(response, "topic_errors", [])]
        if any(code not in (0, TopicAlreadyExistsError.errno) for code in errors):
            return "refused to create a topic"
    except TopicAlreadyExistsError:
        pass
    except Exception as exc:
        return f"could not create a topic ({type(exc).__name__})"
    finally:
        await admin.close()
    return None
