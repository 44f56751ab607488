"""Tracing of a real `faust worker` process, exported to a real Zipkin server
(ops/zipkin/zipkin.sh, `make zipkin-up`): the HTTP span of a sign-up continues the
client's trace, the request's log lines carry its ids, the spans still queued at a stop
are exported, and with no OTEL_* variable nothing of it runs."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.kafka import read_topic
from tests.support.worker import Worker
from tests.support.zipkin import ZIPKIN_SPANS_ENDPOINT, wait_for_span

SIGN_UP_SPAN = "POST /users/v1/users"


def traceparent() -> tuple[str, str, str]:
    """A client's W3C traceparent, sampled: (header, trace id, parent span id)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def zipkin_env(worker_env: dict[str, str], service: str, **more: str) -> dict[str, str]:
    return {
        **worker_env,
        "LOG_FORMAT": "json",
        "OTEL_SERVICE_NAME": service,
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN_SPANS_ENDPOINT,
        **more,
    }


def body(n: str) -> dict[str, str]:
    return {"nombre": f"Traza {n}", "email": f"trace-{n}@example.com", "password": "Tr4ce-pw-1x"}


def json_lines(worker: Worker) -> list[dict[str, Any]]:
    return [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]


def request_lines(worker: Worker) -> list[dict[str, Any]]:
    return [r for r in json_lines(worker) if r["logger"] == "users.http"]


async def test_a_sign_up_s_http_span_is_in_the_client_s_trace_in_zipkin(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    zipkin: None,
    no_otel_environment: None,
) -> None:
    service = f"users-test-{secrets.token_hex(3)}"
    # Batches every 100 ms: the span reaches Zipkin while the worker runs.
    worker = Worker(zipkin_env(worker_env, service, OTEL_BSP_SCHEDULE_DELAY="100"), tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    header, trace_id, parent_id = traceparent()

    status, user, _ = await worker.post_user(body("a"), headers={"traceparent": header})
    assert status == 201

    span, spans = await wait_for_span(trace_id, SIGN_UP_SPAN)
    assert span["traceId"] == trace_id and span["parentId"] == parent_id
    assert span["kind"] == "SERVER"
    assert span["localEndpoint"]["serviceName"] == service
    tags = span["tags"]
    assert tags["http.request.method"] == "POST"
    assert tags["http.route"] == "/users/v1/users"
    assert tags["http.response.status_code"] == "201"
    assert "error" not in tags
    # The password never leaves in a span either.
    assert "Tr4ce-pw-1x" not in json.dumps(spans)

    # A read of that user: its id stays out of the span name (the route template).
    get_header, get_trace, _ = traceparent()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{worker.base}/users/v1/users/{user['id']}",
            headers={"traceparent": get_header, **worker.operator_headers()},
        ) as resp,
    ):
        assert resp.status in {200, 403}  # the operator token has no users:read: still a span
    read, _ = await wait_for_span(get_trace, "GET /users/v1/users/{user_id}")
    assert user["id"] not in read["name"]

    # Every log line of the sign-up request carries the trace and the server span's id.
    [line] = [r for r in request_lines(worker) if r.get("trace_id") == trace_id]
    assert line["span_id"] == span["id"] and "POST" in line["message"]
    # Lines outside any request carry neither.
    start = next(r for r in json_lines(worker) if "starting: group" in r["message"])
    assert "trace_id" not in start and "span_id" not in start
    assert f"tracing on (zipkin; service {service}" in start["message"]


async def test_spans_still_queued_at_a_stop_are_exported_before_the_worker_exits(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    zipkin: None,
    no_otel_environment: None,
) -> None:
    # A batch every ten minutes: only the flush at shutdown can export the span in time.
    worker = Worker(
        zipkin_env(worker_env, "users-test-flush", OTEL_BSP_SCHEDULE_DELAY="600000"), tmp_path
    )
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    header, trace_id, _ = traceparent()
    status, _, _ = await worker.post_user(body("b"), headers={"traceparent": header})
    assert status == 201

    assert await asyncio.to_thread(worker.terminate) == 0
    span, _ = await wait_for_span(trace_id, SIGN_UP_SPAN, timeout=10)
    assert span["tags"]["http.response.status_code"] == "201"


async def test_without_otel_variables_nothing_is_traced_and_the_event_is_unchanged(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    no_otel_environment: None,
) -> None:
    worker = Worker({**worker_env, "LOG_FORMAT": "json"}, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    header, trace_id, _ = traceparent()
    status, user, _ = await worker.post_user(body("c"), headers={"traceparent": header})
    assert status == 201

    [message] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    event = json.loads(message.value)
    assert event["data"] == user
    own = {k: v for k, v in message.headers.items() if not k.startswith("ce_")}
    assert own == {
        "eventType": b"USER_CREATED",
        "eventId": event["eventId"].encode(),
        "content-type": b"application/json",
    }
    assert not [k for k in message.headers if k.lower() in {"traceparent", "tracestate"}]
    assert trace_id.encode() not in message.value

    # The worker says tracing is off, and no line carries a trace id (the client's
    # traceparent is not even read: no span is made of it).
    records = json_lines(worker)
    start = next(r for r in records if "starting: group" in r["message"])
    assert start["message"].endswith("tracing off")
    assert not [r for r in records if "trace_id" in r or "span_id" in r]
    assert [r for r in request_lines(worker) if "POST" in r["message"]]


def long_tracestate() -> str:
    """A tracestate W3C (and OpenTelemetry's parser) accepts, longer than the 512
    characters the outbox keeps: three members, each a 256-character key and value, then
    two short ones (W3C: a vendor may truncate, dropping the members longest first)."""
    members = [f"{'k' * 254}{i:02d}={'v' * 256}" for i in range(3)]
    return ",".join([*members, "short=1", "other=2"])


async def test_a_sign_up_with_a_long_tracestate_is_created_and_its_event_keeps_512_at_most(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    zipkin: None,
    no_otel_environment: None,
) -> None:
    worker = Worker(zipkin_env(worker_env, "users-test-tracestate"), tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    header, trace_id, _ = traceparent()
    state = long_tracestate()
    assert len(state) > 512

    status, user, _ = await worker.post_user(
        body("d"), headers={"traceparent": header, "tracestate": state}
    )
    assert status == 201, user

    [message] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert trace_id.encode() in message.headers["traceparent"]
    kept = message.headers["tracestate"].decode()
    # The short members survive, the long ones (each over 128 characters) are dropped.
    assert len(kept) <= 512 and kept == "short=1,other=2"
