"""Schema compatibility between released versions, as schema registries define it.

BACKWARD: a reader on the new schema reads what the old one allowed. FORWARD: a reader on
the old schema reads what the new one allows. FULL: both. `_TRANSITIVE`: against every
released version, not only the last. Two kinds of check, both needed:

* structural (`problems`): no field removed, no type changed, no field made required or
  optional, no object opened or closed. Rules a reader's code relies on that instances
  alone cannot show (a removed field that old instances still carry passes them).
* instances (`producible`): what a producer on one version writes, validated against the
  other. An open object's unknown fields are what a *later* version may add; what a
  producer on *this* version writes has only the declared ones, so instances are drawn from
  the schema with its open objects closed.
"""

from __future__ import annotations

import copy
from typing import Any

BACKWARD = {"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
FORWARD = {"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
# What a field's values are; a change in any of them is a change of type.
_TYPE_KEYWORDS = ("type", "const", "enum", "format", "pattern", "minLength", "items")


def _types(schema: dict[str, Any]) -> dict[str, Any]:
    found = {k: schema[k] for k in _TYPE_KEYWORDS if k in schema}
    if isinstance(found.get("type"), list):
        found["type"] = sorted(found["type"])
    if isinstance(found.get("enum"), list):
        found["enum"] = sorted(map(repr, found["enum"]))
    return found


def _closed(schema: dict[str, Any]) -> bool:
    return schema.get("additionalProperties", True) is False


def problems(old: dict[str, Any], new: dict[str, Any], mode: str, path: str = "") -> list[str]:
    """What makes `new` incompatible with `old` in `mode`, structurally (empty: nothing)."""
    where = path.rstrip(".") or "the value"
    found: list[str] = []
    if _types(old) != _types(new):
        found.append(f"{where}: type changed from {_types(old)} to {_types(new)}")
    if _closed(old) != _closed(new):
        found.append(f"{where}: {'opened' if _closed(old) else 'closed'}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props.keys() - new_props.keys():
        found.append(f"{path}{name}: removed")
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    if mode in BACKWARD:
        # The new reader requires what old writers did not always send.
        for name in sorted(new_required - old_required):
            found.append(
                f"{path}{name}: " + ("made required" if name in old_props else "added as required")
            )
    if mode in FORWARD:
        # The old reader requires what new writers may leave out.
        for name in sorted(old_required - new_required):
            found.append(f"{path}{name}: made optional")
    for name in sorted(old_props.keys() & new_props.keys()):
        found += problems(old_props[name], new_props[name], mode, f"{path}{name}.")
    if isinstance(old.get("additionalProperties"), dict) and isinstance(
        new.get("additionalProperties"), dict
    ):
        found += problems(
            old["additionalProperties"], new["additionalProperties"], mode, f"{path}*."
        )
    return found


def producible(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as its own producers write it: every open object closed."""
    closed = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(closed)
    return closed


def directions(mode: str) -> list[str]:
    """`old->new` (a new reader, old instances) and/or `new->old`, for `mode`."""
    return (["old->new"] if mode in BACKWARD else []) + (["new->old"] if mode in FORWARD else [])
