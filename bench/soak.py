"""`make soak`: about five minutes of HTTP sign-ups and CreateUser commands (poison among
them) against two workers, while Kafka stops and starts, PostgreSQL restarts, and the
workers are sent SIGTERM and SIGKILL. Then it reconciles everything it sent with what
the database and the topics hold, and prints (and writes to bench/results/soak.md):

* commands acknowledged by Kafka vs commands with an outcome (created, rejected, parked);
* users stored vs distinct USER_CREATED events on the topic (and users without one);
* every HTTP status seen, with the error code of each 4xx and 5xx.

Targets: 0 lost commands, 0 users without their event, no 5xx other than a documented 503.
Exit status 1 when a target is missed. SOAK_SECONDS sets the length (default 300).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer

from bench.harness import BENCH_DB_URL, RESULTS_DIR, machine
from tests.support.kafka import read_topic
from tests.support.services import KAFKA, ROOT, empty_postgres, kafka_script, require_kafka
from tests.support.web import TEST_JWT_SECRET
from tests.support.worker import Worker

DOCUMENTED_503 = {"database_unavailable", "outcome_unknown", "overloaded", "shutting_down"}
POISON = [
    b"not json",
    b"[1, 2]",
    b"[" * 1100 + b"]" * 1100,  # nested past the recursion limit
    b'{"padding": "' + b"x" * 70_000 + b'"}',  # over COMMAND_MAX_BYTES
]
POISON_REASONS = {b"not_json", b"not_an_object", b"too_large"}


@dataclass
class Tally:
    """What the load generators did and saw."""

    statuses: Counter[str] = field(default_factory=Counter)  # "201", "409", "503:overloaded"
    connection_errors: int = 0
    created_ids: set[str] = field(default_factory=set)
    commands_acked: dict[str, str] = field(default_factory=dict)  # commandId -> kind
    poison_acked: int = 0
    failed_steps: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def say(self, started: float, what: str) -> None:
        line = f"[{time.monotonic() - started:6.1f}s] {what}"
        self.log.append(line)
        print(line, flush=True)


def worker_env(run: str, data_dir: Path) -> dict[str, str]:
    return {
        "KAFKA_BROKER": KAFKA,
        "KAFKA_GROUP_ID": f"soak-{run}",
        "KAFKA_USER_CREATED_TOPIC": f"user.created.soak-{run}",
        "KAFKA_USER_CREATE_TOPIC": f"user.create.soak-{run}",
        "KAFKA_USER_CREATE_REJECTED_TOPIC": f"user.create.rejected.soak-{run}",
        "KAFKA_USER_CREATE_DLQ_TOPIC": f"user.create.dlq.soak-{run}",
        "KAFKA_REQUEST_TIMEOUT": "5",
        "KAFKA_SESSION_TIMEOUT": "6",
        "DATABASE_URL": BENCH_DB_URL,
        "BCRYPT_ROUNDS": "4",
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "OUTBOX_POLL_INTERVAL": "0.2",
        "OUTBOX_LEASE_TTL": "8",
        "SHUTDOWN_GRACE": "15",
        "FAUST_DATA_DIR": str(data_dir / "faust"),
    }


async def http_load(workers: list[Worker], tally: Tally, stop: asyncio.Event) -> None:
    """About 15 sign-ups a second: mostly new, some duplicates, some invalid, some keyed."""
    n = 0
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            n += 1
            worker = random.choice(workers)
            body: dict[str, Any] = {
                "nombre": f"Soak {n}",
                "email": f"http{n}@soak.example",
                "password": "correct-horse",
            }
            headers = {}
            if n % 10 == 0:
                body["email"] = f"http{n - 1}@soak.example"  # a duplicate: 409
            elif n % 17 == 0:
                body["email"] = "not-an-email"  # 422
            elif n % 5 == 0:
                headers["Idempotency-Key"] = f"soak-{n}"
            try:
                async with session.post(
                    f"{worker.base}/users/v1/users", json=body, headers=headers
                ) as resp:
                    payload = await resp.json(content_type=None)
                    code = payload.get("error", {}).get("code") if resp.status >= 400 else None
                    tally.statuses[f"{resp.status}:{code}" if code else str(resp.status)] += 1
                    if resp.status == 201:
                        tally.created_ids.add(payload["id"])
            except (TimeoutError, aiohttp.ClientError):
                tally.connection_errors += 1  # the worker is restarting: try another
            await asyncio.sleep(1 / 15)


async def command_load(run: str, tally: Tally, stop: asyncio.Event) -> None:
    """About 8 commands a second; each is counted once Kafka acknowledged it. While Kafka is
    down the producer keeps retrying the same command: nothing is counted that was not sent."""
    topic = f"user.create.soak-{run}"
    n = 0
    producer: AIOKafkaProducer | None = None
    while not stop.is_set():
        try:
            if producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=KAFKA, request_timeout_ms=5000)
                await producer.start()
            n += 1
            if n % 25 == 0:
                value, key, kind = random.choice(POISON), b"poison", "poison"
            else:
                command_id = str(uuid.uuid4())
                email = f"cmd{n}@soak.example"
                kind = "created"
                if n % 9 == 0:
                    email, kind = "not-an-email", "rejected"
                elif n % 11 == 0:
                    email, kind = f"cmd{n - 1}@soak.example", "rejected-or-created"
                body = {"commandId": command_id, "nombre": "Cmd", "email": email}
                body["password"] = "correct-horse"
                value, key = json.dumps(body).encode(), email.encode()
            while not stop.is_set():
                try:
                    await producer.send_and_wait(topic, value, key=key)
                    break
                except Exception:
                    await asyncio.sleep(1)
            else:
                break
            if kind == "poison":
                tally.poison_acked += 1
            else:
                tally.commands_acked[command_id] = kind
        except Exception:
            if producer is not None:
                with contextlib.suppress(Exception):
                    await producer.stop()
            producer = None
            await asyncio.sleep(1)
            continue
        await asyncio.sleep(1 / 8)
    if producer is not None:
        with contextlib.suppress(Exception):
            await producer.stop()


async def postgres(action: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(ROOT / "ops/postgres/postgres.sh"), action, stdout=asyncio.subprocess.DEVNULL
    )
    await process.wait()


async def restart_postgres() -> None:
    await postgres("down")
    await asyncio.sleep(3)
    await postgres("up")


async def restart_worker(
    workers: list[Worker], index: int, how: str, tally: Tally, t0: float
) -> None:
    old = workers[index]
    if how == "SIGTERM":
        code = await asyncio.to_thread(old.terminate, 30)
    else:
        old.kill()
        code = -9
    tally.say(t0, f"{how} to worker {index}: exit {code}")
    new = Worker(old.env, old.log_path.parent, name=f"{old.log_path.stem.split('-')[0]}x")
    new.start()
    workers[index] = new
    await new.wait_serving(kafka=False, timeout=90)
    tally.say(t0, f"worker {index} serving again")


async def chaos(workers: list[Worker], tally: Tally, seconds: float, t0: float) -> None:
    """Faults one after another, spread over the run, each while the load goes on."""
    steps: list[tuple[str, Any]] = [
        ("Kafka stopped for 20 s", "kafka"),
        ("PostgreSQL restarted", "postgres"),
        ("SIGTERM to worker 0", ("SIGTERM", 0)),
        ("SIGKILL to worker 1", ("SIGKILL", 1)),
        ("Kafka stopped for 20 s", "kafka"),
        ("SIGTERM to worker 1, PostgreSQL restarted meanwhile", ("both", 1)),
    ]
    gap = seconds / (len(steps) + 1)
    for what, step in steps:
        await asyncio.sleep(gap)
        tally.say(t0, what)
        try:
            await fault(step, workers, tally, t0)
        except Exception as exc:  # reported, and the run fails; the next steps still run
            tally.failed_steps.append(f"{what}: {exc!r}"[:300])
            tally.say(t0, f"step failed: {exc!r}"[:300])
            continue
        tally.say(t0, "recovered")


async def fault(step: Any, workers: list[Worker], tally: Tally, t0: float) -> None:
    """Inject one fault and wait until the system is back."""
    if step == "kafka":
        await asyncio.to_thread(kafka_script, "down")
        await asyncio.sleep(20)
        await asyncio.to_thread(kafka_script, "up")
    elif step == "postgres":
        await restart_postgres()
    elif step[0] == "both":
        # The new worker waits for the database at start: both run at once.
        await asyncio.gather(
            restart_worker(workers, step[1], "SIGTERM", tally, t0), restart_postgres()
        )
    else:
        await restart_worker(workers, step[1], step[0], tally, t0)


async def settle(workers: list[Worker], seconds: float) -> None:
    """Until nothing waits in the outbox (or `seconds` pass): then every event is out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            status = await workers[0].verification()
            if status["outbox"]["pending"] == 0 and status["worker"]["partitionsAssigned"]:
                return
        await asyncio.sleep(1)


async def reconcile(run: str, tally: Tally) -> tuple[list[str], bool]:
    """Everything sent against what the database and the topics hold; (report, targets met)."""
    conn = await asyncpg.connect(BENCH_DB_URL)
    try:
        stored = {r["id"] for r in await conn.fetch("SELECT id FROM users")}
        outcomes = {
            r["command_id"]: r["outcome"]
            for r in await conn.fetch("SELECT command_id, outcome FROM processed_commands")
        }
        parked_rows = await conn.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL")
    finally:
        await conn.close()
    created = await read_topic(f"user.created.soak-{run}", expect=len(stored), timeout=120)
    rejected = await read_topic(f"user.create.rejected.soak-{run}", expect=0, timeout=30)
    dlq = await read_topic(f"user.create.dlq.soak-{run}", expect=tally.poison_acked, timeout=60)
    events_by_user: dict[str, set[str]] = {}
    for m in created:
        event = json.loads(m.value)
        events_by_user.setdefault(event["data"]["id"], set()).add(event["eventId"])
    parked_commands = {
        json.loads(m.value).get("commandId")
        for m in dlq
        if m.headers.get("dlq.reason") not in POISON_REASONS
    }
    event_commands = {m.headers.get("commandId", b"").decode() for m in created}
    rejected_commands = {json.loads(m.value)["commandId"] for m in rejected}
    acked = tally.commands_acked
    without_outcome = [c for c in acked if c not in outcomes and c not in parked_commands]
    outcome_without_event = [
        c
        for c, outcome in outcomes.items()
        if c in acked and c not in (event_commands if outcome == "created" else rejected_commands)
    ]
    users_without_event = sorted(stored - set(events_by_user))
    bad_5xx = {
        s: n
        for s, n in tally.statuses.items()
        if s.startswith("5") and s.split(":", 1)[-1] not in DOCUMENTED_503
    }
    # A poison value can be parked twice (redelivered after a crash): count distinct ones.
    poison_parked = len(
        {
            (m.headers.get("dlq.source.partition"), m.headers.get("dlq.source.offset"))
            for m in dlq
            if m.headers.get("dlq.reason") in POISON_REASONS
        }
    )
    distinct_events = sum(len(v) for v in events_by_user.values())
    twice = sum(len(v) > 1 for v in events_by_user.values())
    rows: list[tuple[str, object]] = [
        ("commands acknowledged by Kafka", len(acked)),
        ("... with a recorded outcome (created or rejected)", sum(c in outcomes for c in acked)),
        ("... parked on the DLQ instead", sum(c in parked_commands for c in acked)),
        ("**commands without any outcome (lost)**", len(without_outcome)),
        ("outcomes whose event is missing from its topic", len(outcome_without_event)),
        ("poison sent / parked on the DLQ (distinct)", f"{tally.poison_acked} / {poison_parked}"),
        ("users stored", len(stored)),
        (
            "users answered 201 over HTTP / of them stored",
            f"{len(tally.created_ids)} / {len(tally.created_ids & stored)}",
        ),
        ("distinct USER_CREATED events / messages", f"{distinct_events} / {len(created)}"),
        ("**users without their event**", len(users_without_event)),
        (
            "users with more than one distinct event",
            twice,
        ),
        ("outbox rows parked", parked_rows),
        ("HTTP connection errors (a worker restarting)", tally.connection_errors),
    ]
    ok = not (without_outcome or users_without_event or bad_5xx or outcome_without_event)
    ok = ok and tally.created_ids <= stored and poison_parked == tally.poison_acked
    ok = ok and not tally.failed_steps
    lines = [
        f"Machine: {machine()}",
        "",
        "| measure | count |",
        "|---|---|",
        *[f"| {label} | {value} |" for label, value in rows],
        "",
        "HTTP statuses: " + ", ".join(f"`{s}` {n}" for s, n in sorted(tally.statuses.items())),
        "",
        "Timeline:",
        "",
        *[f"    {line}" for line in tally.log],
        "",
        "Targets (0 lost commands, 0 users without event, no undocumented 5xx): "
        + ("met" if ok else "MISSED"),
    ]
    if bad_5xx:
        lines.append(f"Undocumented 5xx: {bad_5xx}")
    lines += [f"Failed step: {step}" for step in tally.failed_steps]
    return lines, ok


async def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "300"))
    # The soak's own producer and consumer would log every retry while Kafka is away.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    require_kafka()
    await empty_postgres(BENCH_DB_URL)
    run = uuid.uuid4().hex[:8]
    log_dir = RESULTS_DIR / f"soak-{run}"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = worker_env(run, log_dir)
    workers = [Worker(env, log_dir, name=name) for name in ("w0", "w1")]
    for worker in workers:
        worker.start()
    tally = Tally()
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(w.wait_serving(timeout=120) for w in workers))
        tally.say(t0, f"two workers serving; load and faults for {seconds:.0f}s")
        stop = asyncio.Event()
        load = [
            asyncio.create_task(http_load(workers, tally, stop)),
            asyncio.create_task(command_load(run, tally, stop)),
        ]
        await chaos(workers, tally, seconds, t0)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        stop.set()
        await asyncio.gather(*load)
        tally.say(t0, "load stopped; waiting for the outbox to empty")
        await settle(workers, 120)
        lines, ok = await reconcile(run, tally)
    finally:
        for worker in workers:
            worker.kill()
        await postgres("up")
        await asyncio.to_thread(kafka_script, "up")
    report = "\n".join(["# Soak run", "", *lines, ""])
    print(report)
    (RESULTS_DIR / "soak.md").write_text(report)
    print(f"worker logs: {log_dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
