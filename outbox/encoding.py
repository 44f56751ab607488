"""One serialization of outbox payloads, shared by the store and the fast path."""

from __future__ import annotations

import json
from typing import Any

from outbox.ports import PendingMessage
from users.model import OutboxMessage


def encode_payload(payload: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 kept as is (names are not escaped to \\u sequences)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def encode_headers(headers: dict[str, str]) -> str:
    return json.dumps(headers, separators=(",", ":"), sort_keys=True)


def as_pending(message: OutboxMessage) -> PendingMessage:
    """The message as the relay would read it back from the store."""
    return PendingMessage(
        event_id=message.event_id,
        event_type=message.event_type,
        topic=message.topic,
        key=message.key,
        payload=encode_payload(message.payload),
        headers=dict(message.headers),
        created_at=message.created_at,
    )
