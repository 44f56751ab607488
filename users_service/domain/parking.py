"""What of a poison command may be kept on the dead-letter topic: decided by what may be
kept, not by looking for what must be removed.

A value is kept only as a re-encoding of the JSON it holds (UTF-8, 16 or 32, as RFC 8259's
predecessors allowed and `json.loads` detects), escapes decoded: the command's own fields
(`commandId`, `requestedAt`, `nombre`, `email` when it is one) at the top of an object, as
sent; every other string, at any depth, replaced by its length; numbers, booleans, nulls
and the shape kept. A kept string or key that looks like a bcrypt hash is replaced too. Bytes
that are not JSON are not kept at all: no pattern can say where a password is in them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from users_service.domain.clock import is_iso8601
from users_service.domain.model import is_uuid_text
from users_service.domain.patterns import linear
from users_service.domain.validation import is_email

# The fields an operator needs to identify and answer a command; never a secret.
KEPT_FIELDS = frozenset({"commandId", "requestedAt", "nombre", "email"})
KEPT_STRING_CHARS = 256
KEY_CHARS = 64
# Deeper than any command; past it a subtree is replaced whole (bounded work, no recursion).
MAX_DEPTH = 32

# `$2a$`, `$2b$`… and a cost: the head of a bcrypt hash, wherever it is in a string.
_BCRYPT_HEAD = linear(r"\$2[a-z]?\$[0-9]{2}\$")

NOT_JSON = "not JSON (in UTF-8, 16 or 32): no value bytes kept"
REDACTED = "strings other than commandId, requestedAt, nombre and email replaced by their length"


@dataclass(frozen=True)
class Parkable:
    """The value to park and, when it is not the original, what was done (`note`)."""

    value: bytes | None
    note: str | None


def parkable_value(value: bytes | None) -> Parkable:
    """`value` as it may be parked: a scrubbed re-encoding of its JSON, or nothing."""
    if value is None:
        return Parkable(None, None)
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Parkable(None, NOT_JSON)
    kept, redacted = _kept(body, depth=0, top=True)
    encoded = json.dumps(kept, ensure_ascii=True, allow_nan=True).encode()
    return Parkable(encoded, REDACTED if redacted else None)


def _placeholder(text: str) -> str:
    return f"<{len(text)} characters>"


def _safe_string(text: str, limit: int) -> str | None:
    if len(text) > limit or _BCRYPT_HEAD.search(text):
        return None
    return text


def _kept(node: Any, *, depth: int, top: bool = False) -> tuple[Any, bool]:
    """`node` with what may not be kept replaced, and whether anything was."""
    if node is None or isinstance(node, bool | int | float):
        return node, False
    if isinstance(node, str):
        return _placeholder(node), True
    if depth >= MAX_DEPTH:
        return "<nested too deeply>", True
    redacted = False
    if isinstance(node, list):
        items = []
        for item in node:
            kept, changed = _kept(item, depth=depth + 1)
            items.append(kept)
            redacted |= changed
        return items, redacted
    assert isinstance(node, dict)
    out: dict[str, Any] = {}
    for key, item in node.items():
        name = _safe_string(key, KEY_CHARS)
        if name is None:
            name, redacted = f"<key {len(out)}: {len(key)} characters>", True
        if top and key in KEPT_FIELDS and isinstance(item, str):
            text = _safe_string(item, KEPT_STRING_CHARS)
            if key == "email" and not is_email(item):
                text = None  # as a rejection: a password typed into it is not echoed
            out[name] = _placeholder(item) if text is None else text
            redacted |= text is None
            continue
        out[name], changed = _kept(item, depth=depth + 1)
        redacted |= changed
    return out, redacted


# The key and the header values are the producer's bytes, as free as the value: kept only
# in the shapes the service documents or that cannot hold a secret, never searched for one.
KEY_NOT_KEPT = "not a UUID or an email: no key bytes kept"
# `traceparent` (W3C Trace Context), so a parked command can still be traced.
_TRACEPARENT = linear(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_SMALL_INTEGER = linear(rb"-?[0-9]{1,19}")
# A header name kept as sent; `$`, `/` and spaces are not in it, so a bcrypt hash is not one.
_PLAIN_HEADER_NAME = linear(r"[A-Za-z0-9_.:-]{1,128}")
# A producer's header named like the service's own `dlq.*` is kept under this prefix, so it
# cannot pass for one of them (the service's own never start with it).
ORIGINAL_HEADER_PREFIX = "dlq.original.header."


def _ascii(data: bytes, limit: int) -> str | None:
    if len(data) > limit or not data.isascii():
        return None
    return data.decode("ascii")


def parkable_key(key: bytes | None) -> bytes | None:
    """`key` when it is a UUID or an email (the keys docs/events.md documents), else None."""
    if key is None:
        return None
    text = _ascii(key, 254)
    if text is not None and (is_uuid_text(text) or is_email(text)):
        return key
    return None


def parkable_header_value(value: bytes | None) -> bytes | None:
    """`value` when it is a UUID, an ISO 8601 time, a small integer or a traceparent;
    else its length (`b"<14 bytes>"`). A null stays a null."""
    if value is None:
        return None
    text = _ascii(value, 64)
    if text is not None and (
        is_uuid_text(text)
        or _SMALL_INTEGER.fullmatch(value)
        or _TRACEPARENT.fullmatch(value)
        or (text[:4].isdigit() and text[4:5] == "-" and is_iso8601(text))
    ):
        return value
    return f"<{len(value)} bytes>".encode()


def parkable_header_name(name: str, position: int) -> str:
    """`name` when it is plain (renamed under ORIGINAL_HEADER_PREFIX when it is `dlq.*`),
    else its position and length."""
    if not _PLAIN_HEADER_NAME.fullmatch(name):
        return f"<header {position}: {len(name)} characters>"
    if name.casefold().startswith("dlq."):
        return ORIGINAL_HEADER_PREFIX + name
    return name
