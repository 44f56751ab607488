"""hypothesis-jsonschema's `from_schema`, working with the Hypothesis this project pins.

hypothesis-jsonschema 0.23.1 (its latest) drives objects through Hypothesis's private
`many` helper with the API it had before 6.1xx (`elements.more()`); the new one is a
context manager iterated in a `for`. The adapter gives hypothesis-jsonschema the old API
on top of the new one, and nothing else of either library changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import hypothesis_jsonschema._from_schema as _generator
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as _conjecture_utils
from hypothesis_jsonschema import from_schema as _from_schema


class _LegacyMany:
    """`many` as hypothesis-jsonschema calls it: `while elements.more(): …reject()`."""

    def __init__(self, data: Any, min_size: int, max_size: float, average_size: float) -> None:
        self._many = _conjecture_utils.many(
            data, min_size=min_size, max_size=max_size, average_size=average_size
        )
        self._many.__enter__()
        self._steps: Iterator[None] = iter(self._many)

    def more(self) -> bool:
        try:
            next(self._steps)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self) -> None:
        self._many.reject()


if not hasattr(_conjecture_utils.many, "more"):
    _legacy = SimpleNamespace(**{**vars(_conjecture_utils), "many": _LegacyMany})
    setattr(_generator, "cu", _legacy)  # noqa: B010 - the module does not export `cu`


# Formats hypothesis-jsonschema does not know (it would draw any string).
FORMATS = {"uuid": st.uuids().map(str)}


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against `schema` (JSON Schema, with its formats)."""
    return _from_schema(schema, custom_formats=FORMATS)
