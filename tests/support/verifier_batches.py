"""Generated batches for the verifier's property (issue 26, (d)): good USER_CREATED events
of stored users (some delivered twice) among bad messages: arbitrary keys, value bytes and
JSON of any shape, headers null, missing, huge or not UTF-8 (a list of pairs, as aiokafka
hands them over), good events with one field or header spoilt, and well-formed events of
users that are not stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from models.events import RecordEncoder
from users_service.domain.model import User, user_created

STORED = [
    User(
        f"0190a0b0-0000-7000-8000-00000000d00{n}",
        f"User {n}",
        f"user{n}@example.com",
        datetime(2026, 1, 1, n, tzinfo=UTC),
        "$2b$04$" + "h" * 53,
    )
    for n in range(3)
]

KafkaHeaders = list[tuple[Any, Any]]


@dataclass(frozen=True)
class Delivery:
    """One message of a batch, as the consumer hands it over, and what it should get."""

    key: bytes | None
    value: bytes | None
    headers: KafkaHeaders
    good_event_id: str | None = None  # set: a good event, to be recorded as verified
    unknown_user_event_id: str | None = None  # set: recorded as user_not_stored


def encoded(user: User, event_id: str) -> tuple[bytes, bytes, KafkaHeaders]:
    """A USER_CREATED as the service publishes it."""
    payload = RecordEncoder().user_created(user, event_id=event_id, at=user.created_at)
    message = user_created(
        user, topic="user.created", event_id=event_id, at=user.created_at, payload=payload
    )
    return user.id.encode(), payload, [(k, v.encode()) for k, v in message.headers.items()]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
not_text = json_values.filter(lambda v: not isinstance(v, str))
header_values = (
    st.none()
    | st.binary(max_size=40)
    | st.sampled_from([b"\xff\xfe\x00", b"\xc3\x28", "USER_CREATED".encode("utf-16")])
    | st.integers(10_000, 300_000).map(lambda n: b"x" * n)  # huge
)
arbitrary_headers = st.lists(
    st.tuples(
        st.sampled_from(["eventId", "eventType", "commandId"]) | st.text(max_size=10),
        header_values,
    ),
    max_size=4,
)
values = (
    st.none()
    | st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | json_values.map(lambda v: json.dumps(v).encode("utf-16"))
)
keys = st.none() | st.binary(max_size=40) | st.sampled_from([u.id.encode() for u in STORED])


@st.composite
def arbitrary(draw: st.DrawFn) -> Delivery:
    """Anything at all on the topic."""
    return Delivery(draw(keys), draw(values), draw(arbitrary_headers))


@st.composite
def spoilt(draw: st.DrawFn, event_id: str) -> Delivery:
    """A good event of a stored user with one header or field made wrong."""
    key, value, headers = encoded(draw(st.sampled_from(STORED)), event_id)
    event = json.loads(value)
    how = draw(
        st.sampled_from(
            ["null_header", "header", "drop_header", "field", "data_field", "renamed", "extra"]
        )
    )
    if how == "null_header":  # as aiokafka hands over a header that has no value
        names = draw(st.sampled_from([{"eventId"}, {"eventType"}, {"eventId", "eventType"}]))
        headers = [(k, None if k in names else v) for k, v in headers]
    elif how == "header":
        name = draw(st.sampled_from(["eventId", "eventType"]))
        wrong = draw(header_values.filter(lambda v: v != dict(headers)[name]))
        headers = [(k, wrong if k == name else v) for k, v in headers]
    elif how == "drop_header":
        name = draw(st.sampled_from(["eventId", "eventType"]))
        headers = [(k, v) for k, v in headers if k != name]
    elif how == "field":
        # Not text: another ISO 8601 `timestamp` would still be a good event.
        event[draw(st.sampled_from(sorted(event)))] = draw(not_text)
    elif how == "data_field":
        event["data"][draw(st.sampled_from(sorted(event["data"])))] = draw(not_text)
    elif how == "renamed":
        name = draw(st.sampled_from(["nombre", "email"]))
        was = event["data"][name]
        event["data"][name] = draw(st.text().filter(lambda v: v != was))
    else:
        # Faust's own metadata in the value: the one added field the verifier refuses (the
        # schema is open, so any other added field is verified: test_verification_logic).
        event["__faust"] = draw(json_values)
    return Delivery(key, json.dumps(event).encode(), headers)


@st.composite
def of_unknown_user(draw: st.DrawFn, event_id: str) -> Delivery:
    """A well-formed event of a user that is not stored."""
    user_id = str(draw(st.uuids()))
    stranger = User(user_id, "Nadie", "nadie@example.com", datetime(2026, 2, 1, tzinfo=UTC), "")
    return Delivery(*encoded(stranger, event_id), unknown_user_event_id=event_id)


@st.composite
def batches(draw: st.DrawFn) -> list[Delivery]:
    """Good events (each maybe twice) among bad messages, in any order; every event id of
    the batch distinct, as the service's are."""
    ids = [str(i) for i in draw(st.lists(st.uuids(), min_size=12, max_size=12, unique=True))]
    goods = draw(st.integers(1, 4))
    deliveries: list[Delivery] = []
    for event_id in ids[:goods]:
        good = Delivery(*encoded(draw(st.sampled_from(STORED)), event_id), good_event_id=event_id)
        deliveries.extend([good] * draw(st.integers(1, 2)))
    makers: list[Callable[[str], st.SearchStrategy[Delivery]]] = [spoilt, of_unknown_user]
    for event_id in ids[goods : goods + draw(st.integers(0, 8))]:
        maker = draw(st.sampled_from(makers))
        deliveries.append(draw(st.one_of(arbitrary(), maker(event_id))))
    return list(draw(st.permutations(deliveries)))
