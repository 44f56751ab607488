"""Ids that every log line of a unit of work carries (request, command, user, event),
kept in a context variable: each HTTP request and each command runs in a context of its
own, and the logging filter (streamapp.logging_setup) adds them to every record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})
_fields: ContextVar[Mapping[str, str]] = ContextVar("log_fields", default=_EMPTY)


def current() -> Mapping[str, str]:
    """The ids known in this context."""
    return _fields.get()


@contextlib.contextmanager
def scope(**fields: str | None) -> Iterator[None]:
    """Log lines inside carry `fields` (and any added later inside); after it, none of them."""
    token = _fields.set(_merged(fields))
    try:
        yield
    finally:
        _fields.reset(token)


def add(**fields: str | None) -> None:
    """Add ids learnt along the way (the user a request created) to the enclosing scope."""
    _fields.set(_merged(fields))


def _merged(fields: Mapping[str, str | None]) -> Mapping[str, str]:
    return MappingProxyType({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
