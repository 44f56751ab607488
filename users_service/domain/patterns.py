"""Patterns for text a client controls: RE2 (linear time, it cannot backtrack), taking any
Python string.

RE2 reads UTF-8 and raises on a `str` holding a lone surrogate, which UTF-8 cannot write.
Strings from clients hold them: JSON's `\\ud800` escape decodes to one, and aiohttp
decodes header bytes with `surrogateescape`. Here each lone surrogate is read as U+FFFD,
which none of the service's patterns matches where it would refuse a surrogate; `sub`
returns the text so read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, AnyStr, Generic

import re2


def readable(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD (a surrogate pair as its character)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


class LinearPattern(Generic[AnyStr]):
    """An RE2 pattern with `re`'s methods, for str or bytes."""

    def __init__(self, pattern: AnyStr) -> None:
        self._regexp: Any = re2.compile(pattern)
        self.pattern: AnyStr = pattern
        self.takes_str = isinstance(pattern, str)

    def _text(self, text: AnyStr) -> AnyStr:
        return readable(text) if isinstance(text, str) else text  # type: ignore[return-value]

    def match(self, text: AnyStr) -> Any:
        return self._regexp.match(self._text(text))

    def fullmatch(self, text: AnyStr) -> Any:
        return self._regexp.fullmatch(self._text(text))

    def search(self, text: AnyStr) -> Any:
        return self._regexp.search(self._text(text))

    def sub(self, replacement: AnyStr | Callable[[Any], AnyStr], text: AnyStr) -> AnyStr:
        result: AnyStr = self._regexp.sub(replacement, self._text(text))
        return result

    def split(self, text: AnyStr) -> list[AnyStr]:
        parts: list[AnyStr] = self._regexp.split(self._text(text))
        return parts


def linear(pattern: AnyStr) -> LinearPattern[AnyStr]:
    """`pattern` compiled by RE2, for text that may hold anything."""
    return LinearPattern(pattern)
