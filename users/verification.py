"""The self-verifying consumer's checks: what was published against what was stored."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from users.model import USER_CREATED, User

EVENT_FIELDS = {"eventType", "eventId", "timestamp", "data"}
DATA_FIELDS = {"id", "nombre", "email", "createdAt"}
_SECRET_KEY = re.compile(r"pass|pwd|hash|secret", re.IGNORECASE)
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True)
class Outcome:
    """What the verifier concluded about one event."""

    event_id: str
    aggregate_id: str | None
    reason: str | None  # None: verified

    @property
    def outcome(self) -> str:
        return "failed" if self.reason else "verified"


class VerificationStore(Protocol):
    async def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        """The stored users among these ids, by id."""

    async def record_many(self, outcomes: Sequence[Outcome]) -> set[str]:
        """Remember outcomes; return the event ids recorded now (the others were already)."""


@dataclass
class VerificationCounts:
    """What this worker's verifier has seen since it started."""

    received: int = 0
    verified: int = 0
    duplicates: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "verified": self.verified,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "failures": dict(sorted(self.failures.items())),
        }


def _is_iso8601(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _leaks_secret(value: Any, key: str = "") -> bool:
    if key and _SECRET_KEY.search(key):
        return True
    if isinstance(value, Mapping):
        return any(_leaks_secret(v, str(k)) for k, v in value.items())
    if isinstance(value, list):
        return any(_leaks_secret(v) for v in value)
    return isinstance(value, str) and bool(_BCRYPT.search(value))


def check_shape(
    key: bytes | None, value: bytes | None, headers: Mapping[str, bytes]
) -> tuple[dict[str, Any] | None, str | None]:
    """Decode and check a `user.created` message; return (event, None) or (None, reason)."""
    if value is None:
        return None, "empty_value"
    if _BCRYPT.search(value.decode("utf-8", "replace")):
        return None, "secret_in_message"
    try:
        event = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None, "not_json"
    if not isinstance(event, dict):
        return None, "not_an_object"
    if _leaks_secret(event):
        return None, "secret_in_message"
    if set(event) != EVENT_FIELDS:
        return None, "wrong_fields"
    data = event["data"]
    if event["eventType"] != USER_CREATED:
        return None, "wrong_event_type"
    if not _is_uuid(event["eventId"]) or not _is_iso8601(event["timestamp"]):
        return None, "bad_envelope"
    if not isinstance(data, dict) or set(data) != DATA_FIELDS:
        return None, "wrong_data_fields"
    if not all(isinstance(data[f], str) for f in DATA_FIELDS) or not _is_iso8601(data["createdAt"]):
        return None, "bad_data"
    if key is None or key.decode("utf-8", "replace") != data["id"]:
        return None, "key_is_not_user_id"
    if headers.get("eventId", b"").decode("utf-8", "replace") != event["eventId"]:
        return None, "header_event_id_mismatch"
    if headers.get("eventType", b"").decode("utf-8", "replace") != USER_CREATED:
        return None, "header_event_type_mismatch"
    return event, None


class Verifier:
    """Checks each published USER_CREATED event against the database and keeps counts."""

    def __init__(self, store: VerificationStore) -> None:
        self._store = store
        self.counts = VerificationCounts()

    async def check(
        self, key: bytes | None, value: bytes | None, headers: Mapping[str, bytes]
    ) -> str | None:
        """Verify one message; return None when it is right, else the reason it is not."""
        return (await self.check_batch([(key, value, headers)]))[0]

    async def check_batch(
        self, messages: Sequence[tuple[bytes | None, bytes | None, Mapping[str, bytes]]]
    ) -> list[str | None]:
        """Verify messages with one read and one write for the whole batch; return, for
        each, None when it is right (or a redelivery of one already seen), else why not."""
        self.counts.received += len(messages)
        checked = [check_shape(key, value, headers) for key, value, headers in messages]
        events = [event for event, _ in checked if event is not None]
        users = await self._store.get_users(sorted({e["data"]["id"] for e in events}))
        outcomes: list[Outcome | None] = []
        reasons: list[str | None] = []
        for event, reason in checked:
            if event is None:
                outcomes.append(None)
                reasons.append(reason)
                continue
            data = event["data"]
            user = users.get(data["id"])
            if user is None:
                reason = "user_not_stored"
            elif user.email != data["email"] or user.nombre != data["nombre"]:
                reason = "differs_from_stored_user"
            outcomes.append(Outcome(event["eventId"], data["id"], reason))
            reasons.append(reason)
        fresh = await self._store.record_many(
            list({o.event_id: o for o in outcomes if o is not None}.values())
        )
        results: list[str | None] = []
        for outcome, reason in zip(outcomes, reasons, strict=True):
            if outcome is not None:
                if outcome.event_id not in fresh:
                    # At-least-once delivery: a redelivered event is expected, counted apart.
                    self.counts.duplicates += 1
                    results.append(None)
                    continue
                fresh.discard(outcome.event_id)  # a second copy in this batch is a duplicate
            if reason:
                self.counts.failures[reason] += 1
            else:
                self.counts.verified += 1
            results.append(reason)
        return results
