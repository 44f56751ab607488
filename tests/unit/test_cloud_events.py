"""CloudEvents on every event the service publishes (Kafka binding, binary content mode),
as the relay sends them, read back by the CloudEvents SDK (`cloudevents` 2.2.0)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat
from hypothesis import given
from hypothesis import strategies as st
from users_service_events import schemas

from models.events import RecordEncoder
from tests.support.messages import ANA
from users_service.adapters.kafka.publisher import KafkaPublisher
from users_service.domain.clock import isoformat
from users_service.domain.model import (
    CloudEvents,
    Rejection,
    User,
    new_id,
    user_create_rejected,
    user_created,
)
from users_service.service_layer.outbox.ports import PendingMessage

CE = CloudEvents("urn:test:users", "org.test.users")
PUBLISHER = KafkaPublisher(cast(Any, None), CE)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)


def as_sent(message: PendingMessage) -> KafkaMessage:
    return KafkaMessage(dict(PUBLISHER.headers(message)), message.key.encode(), message.payload)


@given(at=moments, nombre=names, command=st.booleans())
def test_a_user_created_is_a_cloud_event_with_its_id_type_source_subject_and_data(
    at: datetime, nombre: str, command: bool
) -> None:
    user = replace(ANA, id=new_id(), nombre=nombre, created_at=at - timedelta(seconds=1))
    event_id, command_id = new_id(), new_id() if command else None
    payload = RecordEncoder().user_created(user, event_id=event_id, at=at)
    stored = user_created(
        user,
        topic="user.created",
        event_id=event_id,
        at=at,
        payload=payload,
        command_id=command_id,
    )
    event = from_binary(as_sent(PendingMessage.of(stored)), JSONFormat())
    assert event.get_specversion() == "1.0"
    assert event.get_id() == event_id
    assert event.get_type() == "org.test.users.user.created.v1"
    assert event.get_source() == "urn:test:users"
    assert event.get_subject() == user.id
    assert event.get_time() == at
    assert event.get_datacontenttype() == "application/json"
    assert event.get_data() == json.loads(payload)
    assert schemas.by_id(str(event.get_dataschema())) == schemas.load("user.created")
    # The service's own headers stay beside them.
    headers = dict(PUBLISHER.headers(PendingMessage.of(stored)))
    assert headers["eventId"] == event_id.encode() and headers["eventType"] == b"USER_CREATED"
    assert headers.get("commandId") == (command_id.encode() if command_id else None)


@given(at=moments, command=st.booleans())
def test_a_rejection_is_a_cloud_event_about_its_command(at: datetime, command: bool) -> None:
    event_id, command_id = new_id(), new_id() if command else None
    rejection = Rejection(event_id, at, command_id, "duplicate_email", email="a@b.io")
    payload = RecordEncoder().user_create_rejected(rejection)
    stored = user_create_rejected(
        topic="user.create.rejected",
        event_id=event_id,
        at=at,
        payload=payload,
        command_id=command_id,
    )
    event = from_binary(as_sent(PendingMessage.of(stored)), JSONFormat())
    assert event.get_id() == event_id
    assert event.get_type() == "org.test.users.user.create.rejected.v1"
    assert event.get_subject() == (command_id or event_id)
    assert event.get_time() == at
    assert event.get_data() == json.loads(payload)
    assert schemas.by_id(str(event.get_dataschema())) == schemas.load("user.create.rejected")


def test_a_row_written_before_cloud_events_is_published_with_them() -> None:
    # Rows store only the service's own headers (older rows, and new ones alike): the
    # CloudEvents ones are made from the row's columns when it is sent.
    user: User = ANA
    at = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    payload = RecordEncoder().user_created(user, event_id="e" * 8, at=at)
    old_row = PendingMessage(
        event_id="0190a0b0-0000-7000-8000-0000000000aa",
        event_type="USER_CREATED",
        topic="user.created",
        key=user.id,
        payload=payload,
        headers={"eventId": "0190a0b0-0000-7000-8000-0000000000aa", "eventType": "USER_CREATED"},
        created_at=at,
        position=7,
    )
    headers = dict(PUBLISHER.headers(old_row))
    assert headers["ce_id"] == b"0190a0b0-0000-7000-8000-0000000000aa"
    assert headers["ce_time"] == isoformat(at).encode() == b"2026-01-01T12:00:00.123Z"
    assert headers["ce_subject"] == user.id.encode()


def test_stored_headers_win_and_no_cloud_events_without_settings() -> None:
    message = PendingMessage.of(
        user_created(ANA, topic="t", event_id=new_id(), at=ANA.created_at, payload=b"{}")
    )
    marked = replace(message, headers={**message.headers, "ce_source": "urn:replayed"})
    assert dict(PUBLISHER.headers(marked))["ce_source"] == b"urn:replayed"
    plain = KafkaPublisher(cast(Any, None))
    assert {k for k, _ in plain.headers(message)} == {"eventId", "eventType"}
    # An unknown type (none is written today) is sent with no CloudEvents attributes.
    other = replace(message, event_type="SOMETHING_ELSE")
    assert not any(k.startswith("ce_") for k, _ in PUBLISHER.headers(other))
