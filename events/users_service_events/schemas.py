"""The JSON Schemas of the messages, current and every released version (package data).

The current one of each message is generated from its definition (`envelope.MESSAGES`,
`generate`) and committed beside the released ones; a test holds the file to the
definition. Standard library only: a consumer that validates with its own JSON Schema
library needs nothing else from this package.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from users_service_events.envelope import MESSAGES

_SCHEMAS = files("users_service_events") / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


@cache
def _read(path: str) -> str:
    return (_SCHEMAS / path).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The current schema of `name` (`user.created`, `user.create.rejected`, `user.create`,
    `user.deleted`, `user.erase`)."""
    if name not in MESSAGES:
        raise KeyError(f"no message {name!r}; known: {sorted(MESSAGES)}")
    schema: dict[str, Any] = json.loads(_read(f"{name}.json"))
    return schema


def generate(name: str) -> dict[str, Any]:
    """The current schema of `name` as its definition makes it (what `load` must return)."""
    message = MESSAGES[name]
    return {
        "$schema": DIALECT,
        "$id": message.dataschema,
        "title": message.value.title,
        **message.value.schema(),
    }


def released(name: str) -> dict[int, dict[str, Any]]:
    """Every released version of `name`'s schema, by version number."""
    versions: dict[int, dict[str, Any]] = {}
    for entry in (_SCHEMAS / "history" / name).iterdir():
        if entry.name.startswith("v") and entry.name.endswith(".json"):
            versions[int(entry.name[1:-5])] = json.loads(entry.read_text(encoding="utf-8"))
    return dict(sorted(versions.items()))


def by_id(schema_id: str) -> dict[str, Any]:
    """The released schema whose `$id` is `schema_id` (a message's `ce_dataschema`)."""
    for name in MESSAGES:
        for schema in released(name).values():
            if schema.get("$id") == schema_id:
                return schema
    raise KeyError(f"no released schema has the $id {schema_id!r}")
