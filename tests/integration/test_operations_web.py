"""Probes, metrics and request ids on the in-process app (no Kafka here: readiness must say
so), over both databases."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client

URL = "/users/v1/users"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, parsed by prometheus-client's own parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict[Any, float], name: str, **labels: str) -> float:
    """The sample `name{labels}`; a missing one fails (it is not a zero)."""
    key = (name, frozenset(labels.items()))
    assert key in scrape, f"no sample {name}{labels} in the scrape"
    return scrape[key]


def value_or_zero(scrape: dict[Any, float], name: str, **labels: str) -> float:
    """For a scrape taken before the first event: a labelled counter appears only then."""
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: Client) -> dict[Any, float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return samples(await resp.text())


def body(email: str | None = None) -> dict[str, str]:
    return {
        "nombre": "Ana",
        "email": email or f"ana-{uuid.uuid4().hex[:8]}@example.com",
        "password": "s3cret-pass",
    }


async def test_livez_answers_without_a_token_and_checks_nothing(
    wiring: Wiring, aiohttp_client: ClientFactory
) -> None:
    anonymous = await web_client(aiohttp_client, token=None)
    resp = await anonymous.get("/livez")
    assert resp.status == 200
    assert await resp.json() == {"status": "alive"}


async def test_readyz_names_each_part_that_is_not_ready(
    wiring: Wiring, aiohttp_client: ClientFactory
) -> None:
    anonymous = await web_client(aiohttp_client, token=None)
    resp = await anonymous.get("/readyz")
    # The database answers; Kafka's producer and consumer never started in this process.
    assert resp.status == 503
    doc = await resp.json()
    assert doc["status"] == "not_ready"
    assert doc["checks"]["database"] == "ok"
    assert doc["checks"]["worker"] == "ok"
    assert doc["checks"]["kafkaProducer"] != "ok"
    assert doc["checks"]["kafkaConsumer"] != "ok"
    assert doc["error"]["code"] == "not_ready"
    assert "kafkaProducer" in doc["error"]["message"]
    assert "database" not in doc["error"]["message"]


async def test_readyz_turns_503_when_draining(
    wiring: Wiring, aiohttp_client: ClientFactory
) -> None:
    anonymous = await web_client(aiohttp_client, token=None)
    assert (await (await anonymous.get("/readyz")).json())["checks"]["worker"] == "ok"
    app.begin_draining()  # what the worker calls first at SIGTERM (faust_worker.UsersWorker)
    resp = await anonymous.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["checks"]["worker"] == "shutting down (draining)"


async def test_readyz_turns_503_when_the_database_is_gone(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    wired = await start_app(app, postgres_url.replace(":5432/", f":{proxy.port}/"))
    try:
        anonymous = await web_client(aiohttp_client, token=None)
        assert (await (await anonymous.get("/readyz")).json())["checks"]["database"] == "ok"
        await proxy.cut()
        resp = await anonymous.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["database"] != "ok"
        # Liveness does not depend on it: an outage must not restart the worker.
        assert (await anonymous.get("/livez")).status == 200
    finally:
        await stop_app(wired)


async def test_a_request_id_is_echoed_or_made_up(client: Client, wiring: Wiring) -> None:
    given = await client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/livez")
    assert len(made.headers["X-Request-ID"]) == 32
    # Not plain enough to be logged as given: replaced.
    odd = await client.get("/livez", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert odd.headers["X-Request-ID"] != "a b\tc" + "x" * 200
    # Errors carry it too, 404 from aiohttp's router included.
    missing = await client.get("/nowhere", headers={"X-Request-ID": "r-404"})
    assert missing.status == 404 and missing.headers["X-Request-ID"] == "r-404"


async def test_metrics_move_with_real_traffic(client: Client, wiring: Wiring) -> None:
    before = await scrape(client)
    taken = body()
    assert (await client.post(URL, json=taken)).status == 201
    assert (await client.post(URL, json=body())).status == 201
    assert (await client.post(URL, json=taken)).status == 409
    assert (await client.post(URL, json={"nombre": ""})).status == 422
    user_id = (await (await client.get(URL)).json())["items"][0]["id"]
    assert (await client.get(f"{URL}/{user_id}")).status == 200
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value_or_zero(before, name, **labels)

    assert moved("users_created_total", channel="http") == 2
    assert moved("user_create_rejected_total", code="duplicate_email", channel="http") == 1
    assert moved("user_create_rejected_total", code="invalid", channel="http") == 1
    route = {"route": URL, "method": "POST"}
    assert moved("http_requests_total", **route, status="201") == 2
    assert moved("http_requests_total", **route, status="409") == 1
    assert moved("http_request_duration_seconds_count", **route) == 4
    assert moved("http_request_duration_seconds_sum", **route) > 0
    # By route template: a user id never becomes a label.
    by_id = {"route": URL + "/{user_id}", "method": "GET", "status": "200"}
    assert moved("http_requests_total", **by_id) == 1
    assert not any(user_id in str(key) for key in after)
    assert moved("bcrypt_seconds_count") == 2
    assert moved("bcrypt_seconds_sum") > 0

    # Nothing published without Kafka: both events wait in the outbox. The database's part
    # is read at most once a second (the status query's cache), hence the wait.
    async def pending() -> bool:
        return value(await scrape(client), "outbox_pending") >= 2

    await eventually(pending, timeout=5, what="outbox_pending counts both events")
    assert value(after, "outbox_oldest_pending_seconds") >= 0
    assert value(after, "users_database_up") == 1
    assert value(after, "hash_queue_depth") == 0
    for name in ("outbox_parked", "outbox_relay_leader", "users_unverified"):
        assert (name, frozenset()) in after, name
    assert ("outbox_published_total", frozenset({("path", "fast")})) in after
    # Faust's own sensor is in the same registry.
    assert any(name.startswith("faust_") for name, _ in after)


async def test_no_secret_reaches_the_metrics(client: Client, wiring: Wiring) -> None:
    password = "metrics-must-not-show-" + uuid.uuid4().hex
    await client.post(URL, json={**body(), "password": password})
    text = await (await client.get("/metrics")).text()
    assert password not in text and "$2b$" not in text


async def test_a_relay_kept_out_by_another_shard_setting_says_so(
    client: Client, wiring: Wiring
) -> None:
    """This worker has OUTBOX_SHARDS=1 (the default); a relay with OUTBOX_SHARDS=4 holds a
    shard: this one takes nothing, and its metric and status say why."""
    from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
    from users_service.domain.sharding import Shard

    other = DatabaseOutboxStore(wiring.database).for_shard(Shard(2, 4))
    assert await other.acquire_lease("worker-with-four", ttl=30) is not None
    relay = wiring.relay_service.relay
    assert await relay.acquire() is False  # type: ignore[attr-defined]
    scraped = await scrape(client)
    assert scraped[("outbox_relay_shard_conflict", frozenset())] == 1
    assert scraped[("outbox_relay_leader", frozenset())] == 0
    resp = await client.get("/users/v1/events/verification")
    outbox = (await resp.json())["outbox"]
    assert outbox["relayShardConflict"] == "OUTBOX_SHARDS=4" and outbox["relayLeader"] is False
