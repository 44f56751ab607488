"""The self-verifying consumer's use case: published events checked against stored users."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from users_service.domain.errors import StorageUnavailable
from users_service.domain.verification import (
    ERASED,
    EventShape,
    Headers,
    VerificationCounts,
    VerificationOutcome,
    check_shape,
)
from users_service.service_layer.ports import VerificationStore

log = logging.getLogger("users.verifier")

RawMessage = tuple[bytes | None, bytes | None, Headers]
# A message as read: its decoded event when its shape is right, else why it is not.
Inspection = tuple[dict[str, Any] | None, str | None]


class Verifier:
    """Checks each published event against the database and keeps counts."""

    def __init__(
        self,
        store: VerificationStore,
        shape: EventShape,
        *,
        erased: Callable[[Sequence[str]], Awaitable[set[str]]] | None = None,
    ) -> None:
        self._store = store
        self._shape = shape
        # Which of some user ids were erased: their events are "erased", not failures.
        self._erased = erased
        self.counts = VerificationCounts()

    async def check(self, key: bytes | None, value: bytes | None, headers: Headers) -> str | None:
        """Verify one message; return None when it is right, else the reason it is not."""
        return (await self.check_batch([(key, value, headers)]))[0]

    async def check_batch(self, messages: Sequence[RawMessage]) -> list[str | None]:
        """Verify messages with one read and one write for the whole batch; return, for
        each, None when it is right (or a redelivery of one already seen), else why not."""
        return await self.settle(self.inspect(messages))

    def inspect(self, messages: Sequence[RawMessage]) -> list[Inspection]:
        """Read each message on its own (no database): counted as received here, once,
        however often `settle` is retried. Never raises: a message the checks cannot read
        is judged `unreadable`, and its neighbours are still read."""
        self.counts.received += len(messages)
        return [self._inspect_one(message) for message in messages]

    def _inspect_one(self, message: RawMessage) -> Inspection:
        key, value, headers = message
        try:
            return check_shape(self._shape, key, value, headers)
        except Exception as exc:
            # A check that raised is a gap in the checks, not a reason to lose the batch.
            log.error("a user.created message could not be read: %s", type(exc).__name__)
            return None, "unreadable"

    async def settle(self, inspections: Sequence[Inspection]) -> list[str | None]:
        """Judge the inspected messages against the stored users and record the outcomes:
        one read and one write for the batch. StorageUnavailable is raised with nothing
        counted, for the caller to retry."""
        events = [event for event, _ in inspections if event is not None]
        ids = sorted({e["data"]["id"] for e in events})
        users = await self._store.get_users(ids)
        missing = [i for i in ids if i not in users]
        erased = await self._erased(missing) if self._erased and missing else set()
        outcomes: list[VerificationOutcome | None] = []
        reasons: list[str | None] = []
        for event, reason in inspections:
            if event is None:
                outcomes.append(None)
                reasons.append(reason)
                continue
            data = event["data"]
            user = users.get(data["id"])
            if user is None and data["id"] in erased:
                reason = ERASED
            elif user is None:
                reason = "user_not_stored"
            elif user.email != data["email"] or user.nombre != data["nombre"]:
                reason = "differs_from_stored_user"
            outcomes.append(VerificationOutcome(event["eventId"], data["id"], reason))
            reasons.append(reason)
        fresh, unrecordable = await self._record(
            list({o.event_id: o for o in outcomes if o is not None}.values())
        )
        results: list[str | None] = []
        for outcome, reason in zip(outcomes, reasons, strict=True):
            if outcome is not None and outcome.event_id in unrecordable:
                reason = "unrecordable"
            elif outcome is not None:
                if outcome.event_id not in fresh:
                    # At-least-once delivery: a redelivered event is expected, counted apart.
                    self.counts.duplicates += 1
                    results.append(None)
                    continue
                fresh.discard(outcome.event_id)  # a second copy in this batch is a duplicate
            if reason == ERASED:
                self.counts.erased += 1
                results.append(None)
                continue
            if reason:
                self.counts.failures[reason] += 1
            else:
                self.counts.verified += 1
            results.append(reason)
        return results

    async def _record(self, outcomes: list[VerificationOutcome]) -> tuple[set[str], set[str]]:
        """(event ids recorded now, event ids the store refused). One write for the batch;
        if the store refuses the batch, one write per outcome, so one bad message cannot
        leave its neighbours unrecorded. An unavailable store is raised, not judged."""
        try:
            return await self._store.record_many(outcomes), set()
        except StorageUnavailable:
            raise
        except Exception:
            log.exception(
                "recording %d outcome(s) failed; recording them one by one", len(outcomes)
            )
        fresh: set[str] = set()
        refused: set[str] = set()
        for outcome in outcomes:
            try:
                fresh |= await self._store.record_many([outcome])
            except StorageUnavailable:
                raise
            except Exception:
                refused.add(outcome.event_id)
        return fresh, refused
