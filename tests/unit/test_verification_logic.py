"""The verifier's checks on message bytes, and its counts, with a fake store."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from models.events import USER_CREATED_SHAPE
from tests.support.fakes import FakeVerificationStore
from tests.support.messages import ANA
from users_service.domain.model import User
from users_service.domain.verification import VerificationOutcome, check_shape, header_map
from users_service.service_layer.verifier import Verifier

USER = ANA
EVENT_ID = "0190a0b0-0000-7000-8000-0000000000ee"


def event(**patch: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventType": "USER_CREATED",
        "eventId": EVENT_ID,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": USER.public(),
    }
    body.update(patch)
    return body


HEADERS = {"eventType": b"USER_CREATED", "eventId": EVENT_ID.encode()}
KEY = USER.id.encode()


def test_a_correct_event_passes() -> None:
    decoded, reason = check_shape(USER_CREATED_SHAPE, KEY, json.dumps(event()).encode(), HEADERS)
    assert reason is None and decoded == event()


@pytest.mark.parametrize(
    ("value", "key", "headers", "reason"),
    [
        (b"not json", KEY, HEADERS, "not_json"),
        (b"[1]", KEY, HEADERS, "not_an_object"),
        (json.dumps(event(password="x")).encode(), KEY, HEADERS, "secret_in_message"),
        (
            json.dumps(event(data={**USER.public(), "passwordHash": "x"})).encode(),
            KEY,
            HEADERS,
            "secret_in_message",
        ),
        (
            json.dumps(event(data={**USER.public(), "nombre": USER.password_hash})).encode(),
            KEY,
            HEADERS,
            "secret_in_message",
        ),
        (json.dumps({**event(), "__faust": {"ns": "x"}}).encode(), KEY, HEADERS, "wrong_fields"),
        (json.dumps(event(eventType="OTHER")).encode(), KEY, HEADERS, "wrong_event_type"),
        (json.dumps(event(eventId="nope")).encode(), KEY, HEADERS, "bad_envelope"),
        (json.dumps(event()).encode(), b"other", HEADERS, "key_is_not_user_id"),
        (
            json.dumps(event()).encode(),
            KEY,
            {"eventType": b"USER_CREATED"},
            "header_event_id_mismatch",
        ),
    ],
)
def test_bad_messages_are_named(
    value: bytes, key: bytes, headers: dict[str, bytes], reason: str
) -> None:
    assert check_shape(USER_CREATED_SHAPE, key, value, headers) == (None, reason)


async def test_counts_verified_duplicates_and_failures() -> None:
    verifier = Verifier(FakeVerificationStore([USER]), USER_CREATED_SHAPE)
    good = json.dumps(event()).encode()
    assert await verifier.check(KEY, good, HEADERS) is None
    assert await verifier.check(KEY, good, HEADERS) is None  # redelivery
    assert await verifier.check(KEY, b"garbage", HEADERS) == "not_json"
    assert verifier.counts.as_json() == {
        "received": 3,
        "verified": 1,
        "failed": 1,
        "duplicates": 1,
        "erased": 0,
        "failures": {"not_json": 1},
    }


async def test_event_for_a_user_that_is_not_stored_fails() -> None:
    verifier = Verifier(FakeVerificationStore([]), USER_CREATED_SHAPE)
    assert await verifier.check(KEY, json.dumps(event()).encode(), HEADERS) == "user_not_stored"


async def test_event_that_differs_from_the_stored_user_fails() -> None:
    stored = User(USER.id, "Ana", "other@example.com", USER.created_at, USER.password_hash)
    verifier = Verifier(FakeVerificationStore([stored]), USER_CREATED_SHAPE)
    assert (
        await verifier.check(KEY, json.dumps(event()).encode(), HEADERS)
        == "differs_from_stored_user"
    )


async def test_a_batch_reads_once_and_counts_an_in_batch_redelivery_as_duplicate() -> None:
    store = FakeVerificationStore([USER])
    verifier = Verifier(store, USER_CREATED_SHAPE)
    good = json.dumps(event()).encode()
    reasons = await verifier.check_batch(
        [(KEY, good, HEADERS), (KEY, good, HEADERS), (KEY, b"{", HEADERS)]
    )
    assert reasons == [None, None, "not_json"]
    assert (verifier.counts.verified, verifier.counts.duplicates, verifier.counts.failed) == (
        1,
        1,
        1,
    )
    assert store.recorded == {EVENT_ID: "verified"}


class RefusingStore(FakeVerificationStore):
    """Refuses any write that includes `refused` (as a column constraint would)."""

    def __init__(self, users: list[User], refused: str) -> None:
        super().__init__(users)
        self.refused = refused

    async def record_many(self, outcomes: Sequence[VerificationOutcome]) -> set[str]:
        if any(o.event_id == self.refused for o in outcomes):
            raise ValueError("value too long for type character varying(36)")
        return await super().record_many(outcomes)


async def test_an_outcome_the_store_refuses_does_not_cost_its_neighbours() -> None:
    other = User(
        "0190a0b0-0000-7000-8000-000000000002", "Bea", "bea@example.com", USER.created_at, "h"
    )
    other_event_id = "0190a0b0-0000-7000-8000-0000000000ef"
    store = RefusingStore([USER, other], refused=other_event_id)
    verifier = Verifier(store, USER_CREATED_SHAPE)
    other_event = event(eventId=other_event_id, data=other.public())
    other_headers = {"eventType": b"USER_CREATED", "eventId": other_event_id.encode()}
    reasons = await verifier.check_batch(
        [
            (KEY, json.dumps(event()).encode(), HEADERS),
            (other.id.encode(), json.dumps(other_event).encode(), other_headers),
        ]
    )
    assert reasons == [None, "unrecordable"]
    assert store.recorded == {EVENT_ID: "verified"}
    assert dict(verifier.counts.failures) == {"unrecordable": 1}


# The events' schemas are open (users_service_events): a later version may add an optional
# field, and the verifier of an older worker must verify such an event, not fail it.
_SECRETISH = re.compile(r"pass|pwd|hash|secret", re.IGNORECASE)


def _plain_new_name(name: str) -> bool:
    return not _SECRETISH.search(name) and name not in USER_CREATED_SHAPE.fields


_ADDED_NAME: st.SearchStrategy[str] = st.from_regex(r"\A[a-z][A-Za-z]{0,15}\Z").filter(
    _plain_new_name
)
_JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.text(max_size=20)


@given(name=_ADDED_NAME, value=_JSON_SCALAR, in_data=st.booleans())
def test_an_added_optional_field_is_verified(name: str, value: object, in_data: bool) -> None:
    assume(not (isinstance(value, str) and _SECRETISH.search(value)))
    body = event(data={**USER.public(), name: value}) if in_data else event(**{name: value})
    if in_data:
        assume(name not in USER_CREATED_SHAPE.data_fields)
    decoded, reason = check_shape(USER_CREATED_SHAPE, KEY, json.dumps(body).encode(), HEADERS)
    assert reason is None and decoded == body


@pytest.mark.parametrize("missing", sorted(USER_CREATED_SHAPE.fields))
def test_a_missing_field_still_fails(missing: str) -> None:
    body = {k: v for k, v in event().items() if k != missing}
    _, reason = check_shape(USER_CREATED_SHAPE, KEY, json.dumps(body).encode(), HEADERS)
    assert reason == "wrong_fields"


@pytest.mark.parametrize("missing", sorted(USER_CREATED_SHAPE.data_fields))
def test_a_missing_data_field_still_fails(missing: str) -> None:
    data = {k: v for k, v in USER.public().items() if k != missing}
    _, reason = check_shape(USER_CREATED_SHAPE, KEY, json.dumps(event(data=data)).encode(), HEADERS)
    assert reason == "wrong_data_fields"


async def test_a_message_the_checks_cannot_read_costs_only_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Should a check ever raise (a gap in the checks), that message is `unreadable` and the
    rest of its batch is judged and recorded as usual."""
    from users_service.service_layer import verifier as verifier_module

    def check_shape_with_a_gap(shape: Any, key: Any, value: Any, headers: Any) -> Any:
        if value == b"trips the checks":
            raise KeyError("a case no check foresaw")
        return check_shape(shape, key, value, headers)

    monkeypatch.setattr(verifier_module, "check_shape", check_shape_with_a_gap)
    store = FakeVerificationStore([USER])
    verifier = Verifier(store, USER_CREATED_SHAPE)
    good = json.dumps(event()).encode()
    reasons = await verifier.check_batch([(KEY, b"trips the checks", {}), (KEY, good, HEADERS)])
    assert reasons == ["unreadable", None]
    assert verifier.counts.as_json()["failures"] == {"unreadable": 1}
    assert store.recorded == {EVENT_ID: "verified"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ([("eventId", b"x"), ("eventType", None)], {"eventId": b"x", "eventType": None}),
        ({"eventId": b"x"}, {"eventId": b"x"}),
        ([("eventId", "text"), ("k",), 7, (b"bytes-name", b"v")], {"eventId": None}),
        (42, {}),
    ],
)
def test_headers_are_read_from_whatever_the_client_hands_over(
    raw: object, expected: dict[str, bytes | None]
) -> None:
    assert header_map(raw) == expected
