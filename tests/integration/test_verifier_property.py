"""Property (d) of issue 26: the verifier records an outcome for every good event of any
batch, whatever bad messages share the batch.

Generated batches mix good USER_CREATED events of stored users (some delivered twice) with
bad messages: arbitrary keys, value bytes and JSON of any shape, headers null, missing,
huge or not UTF-8 (handed over as aiokafka does, a list of pairs read by `header_map`),
good events with one field or header spoilt, and well-formed events of users that are not
stored. Run through the service layer on both real databases.
"""

from __future__ import annotations

import databases
import pytest
import sqlalchemy as sa
from hypothesis import given

from models.events import USER_CREATED_SHAPE
from tests.support.verifier_batches import STORED, Delivery, batches
from users_service.adapters.storage import schema
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.verification import header_map
from users_service.service_layer.verifier import Verifier

pytestmark = pytest.mark.property
_v = schema.event_verifications


@pytest.fixture
async def stored(database: databases.Database) -> databases.Database:
    async with DatabaseUnitOfWork(database) as uow:
        for user in STORED:
            await uow.users.add(user)
    return database


@given(batch=batches())
async def test_every_good_event_of_a_batch_is_recorded_whatever_its_neighbours(
    stored: databases.Database, batch: list[Delivery]
) -> None:
    # Each example on its own: an event id Hypothesis draws again must not find the
    # outcome an earlier example recorded for it.
    await stored.execute(_v.delete())
    store = DatabaseVerificationStore(stored)
    verifier = Verifier(store, USER_CREATED_SHAPE)
    messages = [(d.key, d.value, header_map(d.headers)) for d in batch]

    reasons = await verifier.check_batch(messages)

    assert len(reasons) == len(batch)
    counts = verifier.counts
    # Each message exactly one outcome, and received once.
    assert counts.received == len(batch)
    assert counts.verified + counts.duplicates + counts.failed == len(batch)
    good = {d.good_event_id for d in batch if d.good_event_id}
    strangers = {d.unknown_user_event_id for d in batch if d.unknown_user_event_id}
    for delivery, reason in zip(batch, reasons, strict=True):
        if delivery.good_event_id:
            assert reason is None
        elif delivery.unknown_user_event_id:
            assert reason == "user_not_stored"
        else:
            assert isinstance(reason, str) and reason, delivery
    rows = await stored.fetch_all(
        sa.select(_v.c.event_id, _v.c.outcome, _v.c.reason).where(
            _v.c.event_id.in_(sorted(good | strangers))
        )
    )
    recorded = {row[0]: (row[1], row[2]) for row in rows}
    assert {e: recorded.get(e) for e in good} == {e: ("verified", None) for e in good}
    assert {e: recorded.get(e) for e in strangers} == {
        e: ("failed", "user_not_stored") for e in strangers
    }
