"""JSON error bodies: every 4xx and 5xx names its problem the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.web import Response, View


def error(
    view: View,
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`{"error": {"code", "message", "fields"?}}` with `status`."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    return view.json({"error": body}, status=status, headers=dict(headers or {}))
