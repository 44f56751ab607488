"""The verifier on a real database: each message of a batch is judged alone, however
malformed its neighbours are (hostile input on user.created cannot spoil a batch)."""

from __future__ import annotations

import json
import uuid

import databases

from models.events import USER_CREATED_SHAPE
from tests.support.messages import user_created_message
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.clock import utc_now_ms
from users_service.domain.model import User, new_id
from users_service.service_layer.verifier import RawMessage, Verifier


async def stored_event(db: databases.Database, n: int) -> RawMessage:
    user = User(new_id(), f"User {n}", f"u{n}@example.com", utc_now_ms(), "$2b$04$" + "h" * 53)
    event = user_created_message(user)
    async with DatabaseUnitOfWork(db) as uow:
        await uow.users.add(user)
        await uow.outbox.add(event)
    headers = {k: v.encode() for k, v in event.headers.items()}
    return user.id.encode(), event.payload, headers


def altered(message: RawMessage, **changes: object) -> RawMessage:
    key, value, headers = message
    assert value is not None
    event = json.loads(value)
    data = changes.pop("data", None)
    event.update(changes)
    if isinstance(data, dict):
        event["data"] = {**event["data"], **data}
    new_headers = {**headers, "eventId": str(event["eventId"]).encode()}
    return key, json.dumps(event).encode(), new_headers


async def test_each_message_of_a_batch_is_judged_alone(database: databases.Database) -> None:
    good = [await stored_event(database, n) for n in range(3)]
    template = await stored_event(database, 9)
    braced_id = "{" + str(uuid.uuid4()) + "}"  # uuid.UUID() reads it; 38 characters
    long_user_id = "u" * 80
    batch: list[RawMessage] = [
        good[0],
        (b"k", b"[" * 1100 + b"]" * 1100, {}),  # about 2 KB nested past the recursion limit
        good[1],
        altered(template, eventId=braced_id),
        altered(template, data={"id": long_user_id}),
        (b"k", json.dumps({"a": [[[[[[[[[[{"b": 1}]]]]]]]]]]}).encode() * 1, {}),
        good[2],
    ]
    verifier = Verifier(DatabaseVerificationStore(database), USER_CREATED_SHAPE)
    reasons = await verifier.check_batch(batch)
    assert reasons[0] is None and reasons[2] is None and reasons[6] is None
    assert reasons[1] == "not_json"
    assert reasons[3] == "bad_envelope"
    assert reasons[4] in {"bad_data", "key_is_not_user_id"}
    assert reasons[5] == "wrong_fields"
    assert verifier.counts.verified == 3
    assert verifier.counts.failed == 4
    reconciliation = await DatabaseVerificationStore(database).reconcile()
    assert reconciliation.unverified_users == 1  # user 9: only altered copies were seen


async def test_an_event_with_null_headers_is_judged_alone(database: databases.Database) -> None:
    """aiokafka hands a header without a value over as None."""
    good = [await stored_event(database, n) for n in range(2)]
    key, value, headers = await stored_event(database, 5)
    null_id = {**headers, "eventId": None}
    null_type = {**headers, "eventType": None}
    batch: list[RawMessage] = [good[0], (key, value, null_id), (key, value, null_type), good[1]]
    verifier = Verifier(DatabaseVerificationStore(database), USER_CREATED_SHAPE)
    reasons = await verifier.check_batch(batch)
    assert reasons == [None, "header_event_id_mismatch", "header_event_type_mismatch", None]
    assert (verifier.counts.received, verifier.counts.verified) == (4, 2)
    reconciliation = await DatabaseVerificationStore(database).reconcile()
    assert reconciliation.unverified_users == 1  # user 5: only its bad copies were seen
