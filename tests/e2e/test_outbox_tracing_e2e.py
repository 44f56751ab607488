"""One trace from a sign-up (or a command) to its consumers, across the outbox: real
`faust worker` processes exporting to a real Zipkin (ops/zipkin/zipkin.sh), the real
broker and PostgreSQL. The context the message was created in is stored with its outbox
row and published unchanged, so a publish that comes after an outage still belongs to
the sign-up's trace."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tracing_e2e import (
    SIGN_UP_SPAN,
    body,
    traceparent,
    zipkin_env,
)
from tests.support.backlog import wait_published
from tests.support.downstream import running_downstream
from tests.support.failures import FAILED
from tests.support.kafka import produce, read_topic
from tests.support.services import kafka_script
from tests.support.waiting import eventually
from tests.support.worker import Worker
from tests.support.zipkin import (
    ZIPKIN_SPANS_ENDPOINT,
    Span,
    trace_spans,
    wait_for_span,
)

pytestmark = pytest.mark.usefixtures("zipkin", "no_otel_environment")


@pytest.fixture
def traced_downstream(
    worker_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The downstream example exporting to the same Zipkin; its service name."""
    service = f"downstream-test-{uuid.uuid4().hex[:6]}"
    otel = {
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN_SPANS_ENDPOINT,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    failed = lambda: request.node.stash.get(FAILED, False)  # noqa: E731
    with running_downstream(worker_env, tmp_path, failed, otel):
        yield service


def downstream_spans(spans: list[Span], service: str, topic: str) -> list[Span]:
    return [
        s for s in named(spans, f"{topic} process") if s["localEndpoint"]["serviceName"] == service
    ]


async def trace_with_downstream(
    trace_id: str, service: str, topic: str, *names: str, timeout: float = 90.0
) -> list[Span]:
    """The trace once it holds `names` and the downstream app's span of `topic`."""

    async def complete() -> list[Span] | None:
        spans = await trace_spans(trace_id)
        held = all(named(spans, name) for name in names)
        return spans if held and downstream_spans(spans, service, topic) else None

    spans = await eventually(
        complete, timeout=timeout, interval=0.3, what=f"{names} and {service}'s span"
    )
    assert spans is not None
    return spans


@pytest.fixture
def kafka_restored() -> Any:
    """Whatever a test does to the broker, it is running again afterwards."""
    yield
    kafka_script("up")


async def traced_worker(
    workers: list[Worker], worker_env: dict[str, str], tmp_path: Path, service: str
) -> Worker:
    # Batches every 100 ms: the spans reach Zipkin while the worker runs.
    worker = Worker(zipkin_env(worker_env, service, OTEL_BSP_SCHEDULE_DELAY="100"), tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    return worker


def named(spans: list[Span], name: str) -> list[Span]:
    return [span for span in spans if span["name"] == name.lower()]


def header_text(headers: dict[str, bytes], name: str) -> str:
    value = headers[name]
    return value.decode()


async def trace_holding(trace_id: str, *names: str, timeout: float = 60.0) -> list[Span]:
    """The trace once Zipkin holds a span of every name in `names`."""

    async def complete() -> list[Span] | None:
        spans = await trace_spans(trace_id)
        return spans if all(named(spans, name) for name in names) else None

    spans = await eventually(
        complete, timeout=timeout, interval=0.3, what=f"spans {names} in trace {trace_id}"
    )
    assert spans is not None
    return spans


async def test_a_sign_up_s_trace_holds_its_request_commit_publish_and_both_consumers(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, traced_downstream: str
) -> None:
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    service = f"users-test-{uuid.uuid4().hex[:6]}"
    worker = await traced_worker(workers, worker_env, tmp_path, service)
    header, trace_id, client_span = traceparent()

    status, user, _ = await worker.post_user(body("o1"), headers={"traceparent": header})
    assert status == 201

    publish, process = f"{topic} publish", f"{topic} process"
    spans = await trace_with_downstream(
        trace_id,
        traced_downstream,
        topic,
        SIGN_UP_SPAN,
        "unit of work commit",
        "bcrypt hash",
        publish,
        process,
    )
    [http] = named(spans, SIGN_UP_SPAN)
    assert http["parentId"] == client_span
    [commit] = named(spans, "unit of work commit")
    assert commit["parentId"] == http["id"] and commit["kind"] == "CLIENT"
    assert commit["tags"]["db.system.name"] == "postgresql"
    [hashing] = named(spans, "bcrypt hash")
    assert hashing["parentId"] == http["id"]

    # The event carries its creation context: the request's span, as it was stored.
    [message] = await read_topic(topic, expect=1, timeout=30)
    assert header_text(message.headers, "traceparent") == f"00-{trace_id}-{http['id']}-01"
    assert "tracestate" not in message.headers  # the client sent none

    [produced] = named(spans, publish)
    assert produced["kind"] == "PRODUCER" and produced["parentId"] == http["id"]
    tags = produced["tags"]
    assert tags["messaging.system"] == "kafka"
    assert tags["messaging.destination.name"] == topic
    assert tags["messaging.message.id"] == json.loads(message.value)["eventId"]
    assert tags["messaging.kafka.offset"] == str(message.offset)

    # The verifier's check continues the message's context: a child of the request's span.
    [check] = [s for s in named(spans, process) if s["localEndpoint"]["serviceName"] == service]
    assert check["kind"] == "CONSUMER" and check["parentId"] == http["id"]
    assert "error" not in check["tags"]
    # Another team's consumer, through Faust's own contrib module, continues it too.
    [counted] = downstream_spans(spans, traced_downstream, topic)
    assert counted["kind"] == "CONSUMER" and counted["parentId"] == http["id"]
    assert user["id"] == json.loads(message.value)["data"]["id"]
    assert "Tr4ce-pw-1x" not in json.dumps(spans)


async def test_a_sign_up_during_a_kafka_outage_is_published_later_in_its_own_trace(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    kafka_restored: None,
    traced_downstream: str,
) -> None:
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    worker = await traced_worker(workers, worker_env, tmp_path, "users-test-outage")
    await asyncio.to_thread(kafka_script, "down")
    # A first sign-up's fast-path send fails: the fast path closes, and the next one is
    # left to the relay (a fast-path send would wait in aiokafka's queue instead).
    assert (await worker.post_user(body("o2-first")))[0] == 201

    async def fast_path_closed() -> bool:
        return not (await worker.verification())["outbox"]["kafkaAvailable"]

    await eventually(fast_path_closed, timeout=30, what="the fast path closed")
    header, trace_id, _ = traceparent()
    status, _, _ = await worker.post_user(body("o2"), headers={"traceparent": header})
    assert status == 201
    signed_up = time.time()
    # The outage itself is the scenario (not a wait for a condition): ~20 s without Kafka
    # after the sign-up, while the relay's tries fail.
    await asyncio.sleep(20)
    assert (await worker.verification())["outbox"]["pending"] == 2
    await asyncio.to_thread(kafka_script, "up")

    publish, process = f"{topic} publish", f"{topic} process"
    spans = await trace_with_downstream(
        trace_id, traced_downstream, topic, SIGN_UP_SPAN, publish, timeout=120
    )
    [http] = named(spans, SIGN_UP_SPAN)
    # The relay's publish (a try that timed out during the outage is an error span) that
    # Kafka acknowledged once it was back: from the stored context, in the request's trace.
    tries = named(spans, publish)
    assert all(s["parentId"] == http["id"] for s in tries)
    assert {s["tags"].get("error.type") for s in tries} <= {None, "outage"}
    [late] = [s for s in tries if "error" not in s["tags"]]
    assert (late["timestamp"] + late["duration"]) / 1e6 >= signed_up + 15
    # Both consumers' spans, after the outage, in the sign-up's trace.
    consumed = named(spans, process)
    assert {s["localEndpoint"]["serviceName"] for s in consumed} == {
        "users-test-outage",
        traced_downstream,
    }
    assert all(s["parentId"] == http["id"] for s in consumed)
    assert all(s["timestamp"] / 1e6 >= signed_up + 15 for s in consumed)

    messages = await read_topic(topic, expect=2, timeout=30)
    # Each event carries its own sign-up's context (the first one's request began a trace).
    parents = sorted(header_text(m.headers, "traceparent") for m in messages)
    assert f"00-{trace_id}-{http['id']}-01" in parents
    assert len({p.split("-")[1] for p in parents}) == 2


async def test_a_command_s_traceparent_is_continued_into_its_outcome_event(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    await traced_worker(workers, worker_env, tmp_path, "users-test-commands")
    header, trace_id, producer_span = traceparent()
    command = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Traced",
        "email": f"traced-{uuid.uuid4().hex[:8]}@example.com",
        "password": "Command-Secret-7e1b",
        "requestedAt": "2026-12-03T10:00:00Z",
    }
    await produce(
        worker_env["KAFKA_USER_CREATE_TOPIC"],
        json.dumps(command).encode(),
        key=command["email"].encode(),
        headers={"traceparent": header.encode(), "tracestate": b"vendor=opaque"},
    )

    handled = f"{worker_env['KAFKA_USER_CREATE_TOPIC']} process"
    span, _ = await wait_for_span(trace_id, handled, timeout=60)
    assert span["parentId"] == producer_span and span["kind"] == "CONSUMER"
    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert created.headers["commandId"] == command["commandId"].encode()
    # The outcome's creation context is the command's handling span, its tracestate kept.
    assert header_text(created.headers, "traceparent") == f"00-{trace_id}-{span['id']}-01"
    assert created.headers["tracestate"] == b"vendor=opaque"
    spans = await trace_holding(trace_id, "unit of work commit", "bcrypt hash")
    [commit] = named(spans, "unit of work commit")
    assert commit["parentId"] == span["id"]


async def test_a_replayed_event_begins_a_new_trace_linked_to_its_original(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    service = "users-test-replay"
    worker = await traced_worker(workers, worker_env, tmp_path, service)
    header, trace_id, _ = traceparent()
    assert (await worker.post_user(body("o4"), headers={"traceparent": header}))[0] == 201
    original = await trace_holding(trace_id, SIGN_UP_SPAN, f"{topic} publish")
    [http] = named(original, SIGN_UP_SPAN)
    creation = f"00-{trace_id}-{http['id']}-01"
    await wait_published(worker_env["DATABASE_URL"], timeout=30)

    replay = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "streamapp.cli",
            "outbox",
            "replay",
            "--since",
            "2026-01-01T00:00:00Z",
        ],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **worker_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr

    first, again = await read_topic(topic, expect=2, timeout=30)
    assert header_text(first.headers, "traceparent") == creation
    assert json.loads(again.value)["eventId"] == json.loads(first.value)["eventId"]
    # The replay's copy carries a new trace: its publish span, a root linked (and tagged,
    # Zipkin keeping no links) to the sign-up's context.
    _, new_trace, publish_span, _ = header_text(again.headers, "traceparent").split("-")
    assert new_trace != trace_id
    spans = await trace_holding(new_trace, f"{topic} publish", f"{topic} process")
    [republished] = named(spans, f"{topic} publish")
    assert republished["id"] == publish_span and "parentId" not in republished
    assert republished["tags"]["outbox.creation_context"] == creation
    assert republished["tags"]["outbox.republished"] == "replay"
    # Its consumers continue the new trace; the original trace is left as it was.
    [check] = named(spans, f"{topic} process")
    assert check["parentId"] == publish_span
    assert len(named(await trace_spans(trace_id), f"{topic} publish")) == 1


async def test_a_command_s_key_reaches_zipkin_only_when_it_is_a_uuid(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """A producer may key a command by anything: by the email, as docs/events.md suggests,
    or by mistake by the password (why the DLQ keeps only UUID and email keys). The
    consumer span names neither; the key of the USER_CREATED it leads to, the user id, the
    verifier's span keeps."""
    await traced_worker(workers, worker_env, tmp_path, "users-test-command-keys")
    handled = f"{worker_env['KAFKA_USER_CREATE_TOPIC']} process"
    verified = f"{worker_env['KAFKA_USER_CREATED_TOPIC']} process"
    for key_of in ("email", "password"):
        header, trace_id, _ = traceparent()
        command = {
            "commandId": str(uuid.uuid4()),
            "nombre": "Keyed",
            "email": f"keyed-{uuid.uuid4().hex[:8]}@example.com",
            "password": f"Key-Secret-{uuid.uuid4().hex[:8]}",
        }
        await produce(
            worker_env["KAFKA_USER_CREATE_TOPIC"],
            json.dumps(command).encode(),
            key=command[key_of].encode(),
            headers={"traceparent": header.encode()},
        )
        spans = await trace_holding(trace_id, handled, verified)
        [span] = named(spans, handled)
        assert "messaging.kafka.message.key" not in span["tags"]
        assert command[key_of] not in json.dumps(spans)
        [created] = named(spans, verified)
        assert uuid.UUID(created["tags"]["messaging.kafka.message.key"])
