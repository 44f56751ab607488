"""`users-service outbox …`, `backfill`, `verify`, `kafka-check` against both real
databases and the real broker; and that each answers within seconds, in one line, when
what it needs is down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import streamapp.wiring
from streamapp import operator_commands as ops
from streamapp.wiring import Wiring
from tests.support.services import KAFKA, ROOT, free_port
from users_service.adapters.storage import schema
from users_service.adapters.storage.outbox_admin import DatabaseOutboxAdmin
from users_service.adapters.storage.outbox_store import DatabaseOutboxStore
from users_service.domain.clock import utc_now
from users_service.domain.sharding import Shard
from users_service.service_layer.registration import RegisterUser

_o = schema.outbox


class Printed:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def document(self) -> dict[str, Any]:
        return json.loads(self.lines[-1])  # type: ignore[no-any-return]


def output(as_json: bool = True) -> tuple[ops.Output, Printed]:
    printed = Printed()
    return ops.Output(as_json=as_json, write=printed), printed


async def register(wiring: Wiring, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        user = await wiring.users.registration.register(
            RegisterUser(
                {
                    "nombre": "Ana",
                    "email": f"{uuid.uuid4().hex[:10]}@example.com",
                    "password": "pw-12345678",
                }
            )
        )
        ids.append(user.id)
    return ids


async def test_outbox_status_reports_backlog_parked_and_the_leader(wiring: Wiring) -> None:
    await register(wiring, 3)
    db = wiring.database
    first = await db.fetch_val(sa.select(sa.func.min(_o.c.id)))
    await db.execute(_o.update().where(_o.c.id == first).values(parked_at=utc_now()))
    out, printed = output()
    assert await ops.outbox_status(wiring.settings, out) == 0
    doc = printed.document()
    assert doc["pending"] == 2 and doc["parked"] == 1
    assert doc["oldestPendingAgeSeconds"] is not None and doc["oldestPendingAgeSeconds"] >= 0
    # No worker relays in this test: nobody holds the lease.
    assert doc["relayLeader"] is None
    text, lines = output(as_json=False)
    await ops.outbox_status(wiring.settings, text)
    assert lines.lines[0].startswith("pending: 2") and "relay leader: none" in lines.lines[2]


async def test_outbox_status_with_shards_says_who_relays_which_shard(wiring: Wiring) -> None:
    await register(wiring, 2)
    store = DatabaseOutboxStore(wiring.database)
    for shard, holder in [(0, "w1"), (1, "w1"), (2, "w2")]:
        assert await store.for_shard(Shard(shard, 4)).acquire_lease(holder, ttl=30) is not None
    settings = wiring.settings.replaced(outbox={"shards": 4})
    out, printed = output()
    assert await ops.outbox_status(settings, out) == 0
    doc = printed.document()
    assert doc["pending"] == 2
    assert [(s["shard"], s["holder"]) for s in doc["shards"]] == [
        (0, "w1"),
        (1, "w1"),
        (2, "w2"),
        (3, None),
    ]
    text, lines = output(as_json=False)
    await ops.outbox_status(settings, text)
    assert lines.lines[2:] == [
        "relay shards: 3 of 4 held; not held (not being relayed): 3",
        "  w1: 0-1",
        "  w2: 2",
    ]


async def test_retry_parked_puts_them_back_with_their_attempts_reset(wiring: Wiring) -> None:
    await register(wiring, 2)
    db = wiring.database
    await db.execute(_o.update().values(parked_at=utc_now(), attempts=10, last_error="refused"))
    out, printed = output()
    assert await ops.outbox_retry_parked(wiring.settings, [], out) == 0
    assert printed.document() == {"requeued": 2}
    rows = await db.fetch_all(sa.select(_o.c.parked_at, _o.c.attempts))
    assert all(r[0] is None and r[1] == 0 for r in rows)
    backlog = await wiring.status.outbox.backlog()
    assert (backlog.pending, backlog.parked) == (2, 0)


async def test_replay_queues_published_events_again_keeping_their_event_ids(
    wiring: Wiring,
) -> None:
    first, second, third = await register(wiring, 3)
    db = wiring.database
    await db.execute(_o.update().values(published_at=utc_now()))
    before = {r[0]: r[1] for r in await db.fetch_all(sa.select(_o.c.aggregate_id, _o.c.event_id))}
    out, printed = output()
    since = utc_now() - timedelta(minutes=5)
    code = await ops.outbox_replay(
        wiring.settings, since=since, until=utc_now(), user_id=second, out=out
    )
    assert code == 0 and printed.document()["requeued"] == 1
    rows = await db.fetch_all(
        sa.select(_o.c.aggregate_id, _o.c.event_id, _o.c.published_at, _o.c.headers)
    )
    pending = [r for r in rows if r[2] is None]
    assert [r[0] for r in pending] == [second]
    assert pending[0][1] == before[second]  # the same event id: consumers dedup by it
    assert "replay" in json.loads(pending[0][3])
    # A window that holds all three: the rest too; one outside it: none.
    out, printed = output()
    await ops.outbox_replay(wiring.settings, since=since, until=utc_now(), user_id=None, out=out)
    assert printed.document()["requeued"] == 2  # the third was still pending
    out, printed = output()
    await ops.outbox_replay(
        wiring.settings, since=since - timedelta(days=1), until=since, user_id=None, out=out
    )
    assert printed.document()["requeued"] == 0
    assert {first, third} <= {r[0] for r in await db.fetch_all(sa.select(_o.c.aggregate_id))}


async def test_backfill_writes_an_event_for_each_user_without_one_and_resumes(
    wiring: Wiring,
) -> None:
    ids = await register(wiring, 5)
    db = wiring.database
    kept = ids[0]
    old_events = {r[0] for r in await db.fetch_all(sa.select(_o.c.event_id))}
    # As after the retention purge (or for users from before the outbox existed).
    await db.execute(_o.delete().where(_o.c.aggregate_id != kept))
    out, printed = output()
    assert await ops.run_backfill(wiring.settings, dry_run=True, batch=2, out=out) == 0
    assert printed.document()["missing"] == 4
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(_o)) == 1

    out, printed = output()
    assert await ops.run_backfill(wiring.settings, dry_run=False, batch=3, out=out) == 0
    assert printed.document()["backfilled"] == 4
    rows = await db.fetch_all(
        sa.select(_o.c.aggregate_id, _o.c.event_id, _o.c.headers, _o.c.payload, _o.c.topic)
    )
    backfilled = [r for r in rows if r[0] != kept]
    assert sorted(r[0] for r in backfilled) == sorted(ids[1:])
    for row in backfilled:
        aggregate_id, event_id, headers, payload, topic = (row[i] for i in range(5))
        assert event_id not in old_events  # a fresh event id
        assert json.loads(headers)["backfill"] == "true"
        event = json.loads(payload)
        assert event["eventType"] == "USER_CREATED" and event["data"]["id"] == aggregate_id
        assert "password" not in payload and "$2b$" not in payload
        assert topic == wiring.settings.kafka.user_created_topic
    # Resumable: a second run finds nothing left to do.
    out, printed = output()
    await ops.run_backfill(wiring.settings, dry_run=False, batch=3, out=out)
    assert printed.document()["backfilled"] == 0


async def test_verify_fails_only_when_a_user_waits_past_the_threshold(wiring: Wiring) -> None:
    await register(wiring, 2)
    out, printed = output()
    assert await ops.verify(wiring.settings, older_than=300, out=out) == 0
    doc = printed.document()
    assert doc["unverifiedUsers"] == 2 and doc["ok"] is True
    # The same users, seen as older than the threshold: exit 1.
    await wiring.database.execute(
        schema.users.update().values(created_at=datetime.now(UTC) - timedelta(hours=1))
    )
    out, printed = output()
    assert await ops.verify(wiring.settings, older_than=300, out=out) == ops.EXIT_PROBLEM
    assert printed.document()["ok"] is False


async def test_kafka_check_passes_on_the_real_broker(wiring: Wiring) -> None:
    out, _ = output()
    settings = wiring.settings.replaced(kafka={"brokers": (KAFKA,)})
    assert await ops.kafka_check(settings, out) == 0


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streamapp.cli", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    "command",
    [
        ["outbox", "status"],
        ["outbox", "retry-parked"],
        ["outbox", "replay", "--since", "2026-01-01T00:00:00Z"],
        ["backfill"],
        ["verify"],
        ["migrate"],
    ],
)
def test_each_command_answers_in_seconds_in_one_line_when_the_database_is_down(
    command: list[str],
) -> None:
    closed = free_port()
    env = {"DATABASE_URL": f"postgresql://users:hunter2@127.0.0.1:{closed}/users"}
    code, _, stderr, took = cli(*command, env=env)
    assert code == ops.EXIT_UNAVAILABLE, stderr
    assert took < 15
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0], stderr
    assert "hunter2" not in stderr  # the URL's password is masked


def test_kafka_check_answers_in_seconds_when_kafka_is_down() -> None:
    code, _, stderr, took = cli("kafka-check", env={"KAFKA_BROKER": f"127.0.0.1:{free_port()}"})
    assert code == ops.EXIT_UNAVAILABLE and took < 15
    assert stderr.strip().count("\n") == 0 and "does not answer" in stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["outbox"],
        ["outbox", "status"],
        ["outbox", "retry-parked"],
        ["outbox", "replay"],
        ["backfill"],
        ["verify"],
        ["kafka-check"],
        ["migrate"],
        ["token"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    code, stdout, _, _ = cli(*command, "--help")
    assert code == 0 and "usage: users-service" in stdout


class CountingDatabase:
    """A database that counts the statements sent through it."""

    def __init__(self, db: Any) -> None:
        self._db, self.count = db, 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._db, name)
        if name in {"execute", "execute_many", "fetch_all", "fetch_one", "fetch_val"}:

            async def counted(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                return await found(*args, **kwargs)

            return counted
        return found


class RelayBetweenPasses(DatabaseOutboxAdmin):
    """The outbox admin with a running relay beside it: after each replay pass, the relay
    publishes every pending row (what a fast relay does before the next pass reads)."""

    passes = 0
    statements: list[int] = []  # per pass

    async def requeue_published(self, *args: Any, **kwargs: Any) -> Any:
        type(self).passes += 1
        if type(self).passes > 50:
            raise AssertionError("the replay is still going after 50 passes: it loops")
        db, counting = self._db, CountingDatabase(self._db)
        self._db = counting  # type: ignore[assignment]
        try:
            result = await super().requeue_published(*args, **kwargs)
        finally:
            self._db = db
        type(self).statements.append(counting.count)
        relay = DatabaseOutboxStore(self._db)
        pending = await relay.pending(10_000)
        if pending:
            await relay.mark_published([m.event_id for m in pending])
        return result


async def test_replay_queues_each_row_of_its_window_once_while_a_relay_republishes(
    wiring: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is fixed when the replay starts: rows the relay publishes again between
    passes do not qualify again ahead of the rest (the replay once looped on them)."""
    ids = await register(wiring, 10)
    db = wiring.database
    await db.execute(_o.update().values(published_at=utc_now()))
    monkeypatch.setattr(RelayBetweenPasses, "passes", 0)
    monkeypatch.setattr(RelayBetweenPasses, "statements", [])
    # The commands take their outbox admin from the wiring.
    monkeypatch.setattr(streamapp.wiring, "DatabaseOutboxAdmin", RelayBetweenPasses)
    out, printed = output()
    since = utc_now() - timedelta(minutes=5)
    code = await ops.outbox_replay(
        wiring.settings, since=since, until=utc_now(), user_id=None, out=out, batch=3
    )
    assert code == 0
    assert printed.document()["requeued"] == 10  # each row of the window once
    assert RelayBetweenPasses.passes <= 4  # ceil(10 / 3) passes, and at most one more
    assert set(RelayBetweenPasses.statements) == {1}  # one statement per pass, not per row
    rows = await db.fetch_all(sa.select(_o.c.aggregate_id, _o.c.headers, _o.c.published_at))
    assert sorted(r[0] for r in rows) == sorted(ids)
    marker = printed.document()["replayMarker"]
    assert all(json.loads(r[1]).get("replay") == marker for r in rows)  # the tail too


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["erasures", "--since", "0001-01-01T00:00:00+14:00"], "--since"),
        (["erasures", "--since", "9999-12-31T23:59:59-14:00"], "--since"),
        (
            [
                "outbox",
                "replay",
                "--since",
                "2026-01-01T00:00:00Z",
                "--until",
                "9999-12-31T20:00-14:00",
            ],
            "--until",
        ),
        (["backfill", "--batch", "-1"], "--batch"),
        (["backfill", "--batch", "0"], "--batch"),
    ],
)
def test_a_nonsense_argument_is_a_usage_error_naming_it_not_a_traceback(
    command: list[str], named: str
) -> None:
    """A time no database can store (UTC before year 1 or after 9999), a batch that is not
    a positive count: refused as argparse refuses any bad argument, before anything runs."""
    env = {"DATABASE_URL": f"postgresql://users:hunter2@127.0.0.1:{free_port()}/users"}
    code, _, stderr, _ = cli(*command, env=env)
    assert code == 2, stderr
    assert "Traceback" not in stderr and f"argument {named}" in stderr.splitlines()[-1]
