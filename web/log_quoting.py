"""Quoting request data in a log line: bounded, whatever a client sent."""

from __future__ import annotations

# A request path or header is at most this long in a log line; the rest is counted, not
# kept, so the cost of writing (and redacting) a line does not grow with the request.
QUOTE_MAX_CHARS = 256


def quoted(text: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """`text` as a log line may carry it: its first `limit` characters, and how many more."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"
