"""Quoting request data in a log line: bounded, whatever a client sent."""

from __future__ import annotations

# A request path or header is at most this long in a log line; the rest is counted, not
# kept, so the cost of writing (and redacting) a line does not grow with the request.
QUOTE_MAX_CHARS = 256


def _escaped(text: str) -> str:
    # aiohttp percent-decodes a path, so a client chooses every character of it: a line
    # feed would end the text log's line and start a forged one, an ESC colour a terminal.
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def quoted(text: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """`text` as a log line may carry it: its first `limit` characters, the unprintable
    ones escaped (`\\n`, `\\x00`), and how many more there were."""
    if len(text) <= limit:
        return _escaped(text)
    return f"{_escaped(text[:limit])}…[{len(text) - limit} more characters]"
