"""Time as the service writes it: UTC, and milliseconds on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def utc_now_ms() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision of the wire format)."""
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands them back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`: `2026-11-28T21:00:55.123Z`."""
    return as_utc(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_iso8601(value: object) -> bool:
    """True for a string that `datetime.fromisoformat` reads (a trailing `Z` allowed)."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
