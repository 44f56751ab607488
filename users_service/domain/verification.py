"""The self-verifying consumer's checks: what was published against what was stored."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from users_service.domain.clock import is_iso8601
from users_service.domain.model import is_uuid
from users_service.domain.patterns import linear

# The user of the event was erased (docs/erasure.md): neither verified nor a failure.
ERASED = "erased"
_SECRET_KEY = linear(r"(?i)pass|pwd|hash|secret")
_BCRYPT = linear(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True)
class EventShape:
    """What a published event must look like: its type and the fields it must carry. Built
    from the event's Record (`models/`), the one definition of the contract. A field beyond
    them is a later version's optional one (the schemas are open): verified, not failed."""

    event_type: str
    fields: frozenset[str]
    data_fields: frozenset[str]


@dataclass(frozen=True)
class VerificationOutcome:
    """What the verifier concluded about one event."""

    event_id: str
    aggregate_id: str | None
    reason: str | None  # None: verified

    @property
    def outcome(self) -> str:
        if self.reason == ERASED:
            return ERASED
        return "failed" if self.reason else "verified"


@dataclass
class VerificationCounts:
    """What this worker's verifier has seen since it started."""

    received: int = 0
    verified: int = 0
    duplicates: int = 0
    erased: int = 0
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
            "erased": self.erased,
            "failures": dict(sorted(self.failures.items())),
        }


def _leaks_secret(value: Any, key: str = "") -> bool:
    if key and _SECRET_KEY.search(key):
        return True
    if isinstance(value, Mapping):
        return any(_leaks_secret(v, str(k)) for k, v in value.items())
    if isinstance(value, list):
        return any(_leaks_secret(v) for v in value)
    return isinstance(value, str) and bool(_BCRYPT.search(value))


Headers = Mapping[str, bytes | None]


def header_map(raw: object) -> dict[str, bytes | None]:
    """A message's headers as a mapping, from what the client hands over: aiokafka gives a
    sequence of (name, value) pairs, a value None when the header has none. Anything else
    (not a pair, a name that is not text) is left out: the checks then find it missing."""
    if raw is None:
        return {}
    items = raw.items() if isinstance(raw, Mapping) else raw
    found: dict[str, bytes | None] = {}
    try:
        for item in items:  # type: ignore[attr-defined]
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                value = item[1]
                found[item[0]] = value if isinstance(value, bytes | None) else None
    except TypeError:  # not iterable: no headers to read
        return {}
    return found


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("utf-8", "replace")


def check_shape(
    shape: EventShape, key: bytes | None, value: bytes | None, headers: Headers
) -> tuple[dict[str, Any] | None, str | None]:
    """Decode and check a published message against `shape`; return (event, None) or
    (None, reason)."""
    if value is None:
        return None, "empty_value"
    if _BCRYPT.search(value.decode("utf-8", "replace")):
        return None, "secret_in_message"
    try:
        event = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, "not_json"
    if not isinstance(event, dict):
        return None, "not_an_object"
    try:
        if _leaks_secret(event):
            return None, "secret_in_message"
    except RecursionError:  # valid JSON, nested too deeply to walk
        return None, "too_deep"
    # Faust's type tag is never part of the contract: the values are plain JSON.
    if not shape.fields <= event.keys() or "__faust" in event:
        return None, "wrong_fields"
    data = event["data"]
    if event["eventType"] != shape.event_type:
        return None, "wrong_event_type"
    # Canonical UUIDs only: what the service writes, and what fits the columns they are
    # recorded in (uuid.UUID() alone also reads "{…}" and "urn:uuid:…").
    if not is_uuid(event["eventId"], canonical=True) or not is_iso8601(event["timestamp"]):
        return None, "bad_envelope"
    if not isinstance(data, dict) or not shape.data_fields <= data.keys():
        return None, "wrong_data_fields"
    if (
        not all(isinstance(data[f], str) for f in shape.data_fields)
        or not is_iso8601(data["createdAt"])
        or not is_uuid(data["id"], canonical=True)
    ):
        return None, "bad_data"
    if key is None or key.decode("utf-8", "replace") != data["id"]:
        return None, "key_is_not_user_id"
    # A header missing, or present without a value (None), differs from the body too.
    if _header(headers, "eventId") != event["eventId"]:
        return None, "header_event_id_mismatch"
    if _header(headers, "eventType") != shape.event_type:
        return None, "header_event_type_mismatch"
    return event, None
