"""Reading requests defensively: size, media type, strict JSON, query parameters."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn, cast

from aiohttp import web
from faust.web import Request

from web.responses import ApiError

log = logging.getLogger("users.http")

PAGE_LIMIT_MAX = 100
# More digits than the largest limit has cannot be a valid one; int() is not even asked
# (past 4,300 digits it raises instead of answering).
PAGE_LIMIT_DIGITS = len(str(PAGE_LIMIT_MAX))
PAGE_LIMIT_DEFAULT = 20
IDEMPOTENCY_KEY_MAX = 255


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            # Parsers disagree on which duplicate wins; an ambiguous request is refused.
            raise ApiError(400, "duplicate_key", f"the key {key!r} appears twice in an object")
        obj[key] = value
    return obj


async def _read_limited(request: web.Request, max_bytes: int) -> bytes:
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "body_too_large", f"the body may be at most {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(64 * 1024):
            size += len(chunk)
            if size > max_bytes:  # a chunked body without Content-Length
                raise ApiError(413, "body_too_large", f"the body may be at most {max_bytes} bytes")
            chunks.append(chunk)
    except web.RequestPayloadError:
        # aiohttp inflates a gzip or deflate body as it is read (so the limit above is
        # of the inflated bytes) and broken chunked framing surfaces here too.
        raise ApiError(
            400,
            "malformed_body",
            "the body could not be read as sent: it does not match its Content-Encoding, "
            "or its chunked framing is broken",
        ) from None
    except ConnectionResetError:
        # The client left before sending the body it announced: nothing is wrong here,
        # so neither a 500 nor a traceback (the answer goes nowhere; it is what is counted).
        log.info(
            "the client closed the connection after %d of %s body bytes",
            size,
            request.content_length if request.content_length is not None else "?",
        )
        raise ApiError(
            400, "incomplete_body", "the connection closed before the whole body arrived"
        ) from None
    return b"".join(chunks)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, or an ApiError: 415, 413, or 400 naming the problem."""
    aio = cast(web.Request, request)
    if not _is_json(aio.content_type):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    raw = await _read_limited(aio, max_bytes)
    try:
        body = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "the body is not UTF-8") from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "the JSON is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", "the body must be a JSON object")
    return body


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header: 1 to 255 visible ASCII characters, or absent."""
    key = cast(web.Request, request).headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= IDEMPOTENCY_KEY_MAX or not all(33 <= ord(c) < 127 for c in key):
        raise ApiError(
            422,
            "invalid",
            "the Idempotency-Key header is malformed",
            fields={
                "Idempotency-Key": f"must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
            },
        )
    return key


# A cursor is the page's last id, its 16 bytes in base64url without padding: 22
# characters, the last of which carries 2 bits (A, Q, g or w). Exactly the strings of
# that shape are cursors, which the document's pattern can say (base64 of the id's
# text could not be stated as a pattern, and the lenient decoder skipped stray bytes).
CURSOR_CHARS = 22
_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_CURSOR_LAST = frozenset("AQgw")


def encode_cursor(user_id: str) -> str:
    """The cursor of a page that ends with `user_id`."""
    return base64.urlsafe_b64encode(uuid.UUID(user_id).bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The id a cursor names; None for the first page (absent or empty); ValueError for
    anything but a cursor's shape."""
    if not cursor:
        return None
    if (
        len(cursor) != CURSOR_CHARS
        or not _BASE64URL.issuperset(cursor)
        or cursor[-1] not in _CURSOR_LAST
    ):
        raise ValueError("not a cursor")
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "==")))


def page_parameters(request: Request) -> tuple[str | None, int]:
    """(`after` id from the cursor, limit) from the query string, or a 422 naming it."""
    query = cast(web.Request, request).query
    raw_limit = query.get("limit", str(PAGE_LIMIT_DEFAULT))
    # Not str.isdigit(): it accepts "²", which int() then refuses (the fuzzer's find).
    if (
        not (raw_limit.isascii() and raw_limit.isdecimal())
        or len(raw_limit) > PAGE_LIMIT_DIGITS
        or not 1 <= int(raw_limit) <= PAGE_LIMIT_MAX
    ):
        raise ApiError(
            422,
            "invalid",
            "bad query parameter",
            fields={"limit": f"must be an integer from 1 to {PAGE_LIMIT_MAX}"},
        )
    try:
        after = decode_cursor(query.get("cursor", ""))
    except ValueError:
        raise ApiError(
            422,
            "invalid",
            "bad query parameter",
            fields={"cursor": "is not a cursor this API returned"},
        ) from None
    return after, int(raw_limit)


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """SHA-256 of the request body without its password, which must not be stored in any
    fast-hash form; a retry's password is compared with bcrypt instead."""
    rest = {k: v for k, v in body.items() if k != "password"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()
