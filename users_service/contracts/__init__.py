"""The written contracts: OpenAPI for HTTP, AsyncAPI for Kafka (JSON files beside this)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@cache
def load(name: str) -> dict[str, Any]:
    """`openapi` or `asyncapi`, parsed once."""
    document: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return document


def schema_ref(document: dict[str, Any], pointer: str) -> dict[str, Any]:
    """A JSON Schema that validates against `pointer` (like `#/components/schemas/User`)
    inside `document`, with the document's components in reach of its `$ref`s."""
    return {"$ref": pointer, "components": document["components"]}
