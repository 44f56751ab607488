"""What `users-service outbox …`, `backfill`, `verify`, `erase`, `erasures` and
`kafka-check` do.

Each takes its collaborators from the wiring (`streamapp.wiring.wire_operations`: a small
pool of its own), does one thing, prints a short report and returns an exit status. None of
them needs Kafka except `kafka-check`: events put back or added go to the outbox, and the
relay of any running worker publishes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from streamapp.masking import masked_url
from streamapp.settings import Settings
from streamapp.wiring import OperationsWiring, wire_operations
from users_service.adapters.kafka.probe import KafkaCredentialsRefused
from users_service.adapters.storage.errors import is_unavailable
from users_service.domain.clock import isoformat, utc_now
from users_service.domain.model import is_uuid
from users_service.service_layer.backfill import backfill
from users_service.service_layer.outbox.ports import Backlog, ShardLease

T = TypeVar("T")

# Exit statuses: 0 fine, 1 the check found a problem, 2 usage, 3 a dependency is down.
EXIT_PROBLEM = 1
EXIT_UNAVAILABLE = 3
COMMAND_TIMEOUT = 20.0
READY_TOPIC = "users-service.ready"


class Unavailable(Exception):
    """A dependency did not answer; the message is the one line the operator reads."""


@dataclass(frozen=True)
class Output:
    """Where a command reports: one line at a time, or one JSON document."""

    as_json: bool
    write: Callable[[str], None] = print

    def report(self, lines: Sequence[str], document: dict[str, Any]) -> None:
        if self.as_json:
            self.write(json.dumps(document, sort_keys=True))
        else:
            for line in lines:
                self.write(line)


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[OperationsWiring]:
    """The commands' collaborators, their pool connected; Unavailable if it does not answer."""
    wiring = wire_operations(settings)
    db = wiring.database
    try:
        await db.connect()
    except Exception as exc:
        if is_unavailable(exc) or isinstance(exc, OSError | TimeoutError):
            where = masked_url(settings.database.url.get_secret_value())
            raise Unavailable(
                f"the database at {where} does not answer ({type(exc).__name__})"
            ) from None
        raise
    try:
        yield wiring
    finally:
        await db.disconnect()


def run(work: Awaitable[int], timeout: float = COMMAND_TIMEOUT) -> int:
    """Run one command's coroutine with a deadline; a dependency that is down is one line
    on stderr and exit status 3, within seconds."""
    import sys

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(work, timeout)
        except TimeoutError:
            raise Unavailable(f"no answer within {timeout:g}s") from None
        except Unavailable:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise Unavailable(
                    f"the database stopped answering ({type(exc).__name__})"
                ) from None
            raise

    try:
        return asyncio.run(bounded())
    except Unavailable as exc:
        print(f"users-service: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _age(moment: datetime | None, now: datetime) -> float | None:
    return round((now - moment).total_seconds(), 1) if moment else None


async def outbox_status(settings: Settings, out: Output) -> int:
    """Backlog, oldest pending age, parked rows, and who holds the relay lease."""
    async with connected(settings) as wiring:
        backlog = await wiring.outbox.backlog()
        if settings.outbox.shards > 1:
            leases = await wiring.relay_members.leases(settings.outbox.shards)
            return _report_shards(backlog, leases, out)
        lease = await wiring.admin.lease()
    lines, doc = _backlog_lines(backlog)
    leader = (
        f"{lease.holder} (generation {lease.generation}, lease until {isoformat(lease.expires_at)})"
        if lease.holder and lease.expires_at and not lease.lapsed
        else "none (no worker holds the lease: nothing is being relayed)"
    )
    out.report(
        [*lines, f"relay leader: {leader}"],
        {
            **doc,
            "relayLeader": None if lease.lapsed else lease.holder,
            "leaseGeneration": lease.generation,
        },
    )
    return 0


def _backlog_lines(backlog: Backlog) -> tuple[list[str], dict[str, Any]]:
    oldest = _age(backlog.oldest_pending_created_at, utc_now())
    return [
        f"pending: {backlog.pending}"
        + (f" (oldest {oldest:g}s old)" if oldest is not None else ""),
        f"parked: {backlog.parked}"
        + (" (after a fix: users-service outbox retry-parked)" if backlog.parked else ""),
    ], {"pending": backlog.pending, "oldestPendingAgeSeconds": oldest, "parked": backlog.parked}


def _report_shards(backlog: Backlog, leases: Sequence[ShardLease], out: Output) -> int:
    """With OUTBOX_SHARDS > 1: which relay publishes each shard, and which none does."""
    lines, doc = _backlog_lines(backlog)
    by_holder: dict[str, list[int]] = {}
    for lease in leases:
        if lease.holder is not None:
            by_holder.setdefault(lease.holder, []).append(lease.shard)
    unheld = [lease.shard for lease in leases if lease.holder is None]
    lines.append(
        f"relay shards: {len(leases) - len(unheld)} of {len(leases)} held"
        + (f"; not held (not being relayed): {_ranges(unheld)}" if unheld else "")
    )
    lines.extend(f"  {holder}: {_ranges(shards)}" for holder, shards in sorted(by_holder.items()))
    doc["shards"] = [
        {"shard": lease.shard, "holder": lease.holder, "generation": lease.generation}
        for lease in leases
    ]
    out.report(lines, doc)
    return 0


def _ranges(numbers: Sequence[int]) -> str:
    """[0, 1, 2, 5] as "0-2, 5"."""
    parts: list[str] = []
    for n in sorted(numbers):
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)


async def outbox_retry_parked(settings: Settings, event_ids: Sequence[str], out: Output) -> int:
    """Put parked rows back in the queue (all, or the given event ids)."""
    async with connected(settings) as wiring:
        count = await wiring.admin.retry_parked(event_ids)
    out.report(
        [f"{count} parked event(s) queued again; the relay publishes them"], {"requeued": count}
    )
    return 0


async def outbox_replay(
    settings: Settings,
    *,
    since: datetime,
    until: datetime,
    user_id: str | None,
    out: Output,
    batch: int = 1000,
) -> int:
    """Queue published events again, keeping their event ids, marked with a `replay` header."""
    marker = ("replay", isoformat(utc_now()))
    total = 0
    async with connected(settings) as wiring:
        admin = wiring.admin
        # The window is fixed now and read by id, each pass after the last: the running
        # relay publishes queued rows again while this goes on, and "published rows of
        # the window" read anew each pass would take those again ahead of the rest.
        window = await admin.replay_window(since=since, until=until, aggregate_id=user_id)
        after = 0
        while True:
            count, after = await admin.requeue_published(
                window, after=after, marker=marker, limit=batch
            )
            total += count
            if count < batch:
                break
    out.report(
        [
            f"{total} published event(s) created in [{isoformat(since)}, {isoformat(until)})"
            + (f" for user {user_id}" if user_id else "")
            + " queued again with their event ids and a replay header; the relay publishes them"
        ],
        {"requeued": total, "replayMarker": marker[1]},
    )
    return 0


async def run_backfill(settings: Settings, *, dry_run: bool, batch: int, out: Output) -> int:
    """USER_CREATED for every stored user whose event is no longer in the outbox."""
    async with connected(settings) as wiring:
        count = await backfill(
            wiring.admin,
            wiring.unit_of_work,
            wiring.encoder,
            topic=settings.kafka.user_created_topic,
            batch=batch,
            dry_run=dry_run,
        )
    verb = "would be written (dry run)" if dry_run else "written to the outbox"
    out.report(
        [f"{count} USER_CREATED event(s) for users without one {verb}"],
        {"backfilled": 0 if dry_run else count, "missing": count if dry_run else 0},
    )
    return 0


async def verify(settings: Settings, *, older_than: float, out: Output) -> int:
    """The reconciliation; exit 1 when a user has waited longer than `older_than` seconds
    for its event to be verified, or an event names a user that is not stored."""
    async with connected(settings) as wiring:
        recon = await wiring.verifications.reconcile()
    oldest = _age(recon.oldest_unverified_created_at, utc_now())
    late = oldest is not None and oldest > older_than
    problems = []
    if late:
        problems.append(f"a user has been unverified for {oldest:g}s (threshold {older_than:g}s)")
    if recon.events_without_user:
        problems.append(f"{recon.events_without_user} event(s) name a user that is not stored")
    out.report(
        [
            f"unverified users: {recon.unverified_users}"
            + (f" (oldest {oldest:g}s old)" if oldest is not None else ""),
            f"events without a stored user: {recon.events_without_user}",
            "verdict: " + ("FAIL: " + "; ".join(problems) if problems else "ok"),
        ],
        {
            "unverifiedUsers": recon.unverified_users,
            "oldestUnverifiedAgeSeconds": oldest,
            "eventsWithoutUser": recon.events_without_user,
            "thresholdSeconds": older_than,
            "ok": not problems,
        },
    )
    return EXIT_PROBLEM if problems else 0


async def erase(settings: Settings, user_id: str, out: Output) -> int:
    """Erase one user (docs/erasure.md); exit 1 when no user has this id (never had, or
    erased already). USER_DELETED waits in the outbox for a running worker's relay."""
    if not is_uuid(user_id, canonical=True):
        out.report([f"{user_id!r} is not a user id"], {"erased": False, "reason": "not_a_user_id"})
        return EXIT_PROBLEM
    async with connected(settings) as wiring:
        erased = await wiring.erasure.erase(user_id)
    if not erased:
        out.report(
            [f"no user {user_id} is stored (never was, or erased already)"],
            {"erased": False, "userId": user_id},
        )
        return EXIT_PROBLEM
    out.report(
        [
            f"user {user_id} erased; USER_DELETED queued for {settings.kafka.user_deleted_topic} "
            "(the relay of a running worker publishes it)"
        ],
        {"erased": True, "userId": user_id},
    )
    return 0


async def erasures(settings: Settings, since: datetime, out: Output) -> int:
    """The record of erasures since `since`: ids and times only."""
    async with connected(settings) as wiring:
        found = await wiring.erasure.erasures(since)
    out.report(
        [f"{e.user_id} erased at {isoformat(e.erased_at)}" for e in found]
        + [f"{len(found)} erasure(s) since {isoformat(since)}"],
        {
            "since": isoformat(since),
            "erasures": [{"userId": e.user_id, "erasedAt": isoformat(e.erased_at)} for e in found],
        },
    )
    return 0


async def kafka_check(settings: Settings, out: Output, timeout: float = 5.0) -> int:
    """Kafka at KAFKA_BROKER answers and would create a topic (what a worker's start needs;
    the creation is validated by the broker, not done)."""
    # The client logs each refused connection; the operator reads one line from us instead.
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return await _kafka_check(settings, out, timeout)
    finally:
        client_log.setLevel(level)


async def _kafka_check(settings: Settings, out: Output, timeout: float) -> int:
    wiring = wire_operations(settings)
    brokers = ",".join(settings.kafka.brokers)
    try:
        answers = await wiring.kafka_answers(timeout)
    except KafkaCredentialsRefused as exc:
        raise Unavailable(f"Kafka at {brokers} refused the credentials: {exc}") from None
    if not answers:
        raise Unavailable(f"Kafka at {brokers} does not answer")
    refused = await wiring.topic_creation_refused(timeout, READY_TOPIC)
    if refused is not None:
        raise Unavailable(f"Kafka at {brokers} answers but {refused}")
    out.report([f"Kafka at {brokers} answers and creates topics"], {"ok": True})
    return 0
