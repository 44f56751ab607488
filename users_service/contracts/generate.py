"""The message parts of the contracts, generated from the messages' definitions
(`users_service_events.envelope.MESSAGES`, `users_service_events.values`): each message's
current JSON Schema and its Faust Record in the events package, and its channel, operation,
message and payload schema in `asyncapi.json`.

The rest of the AsyncAPI document (info, servers, the headers' schema, the dead-letter
topic) is written by hand and kept as it is. After changing a definition:

    .venv/bin/python -m users_service.contracts.generate

A test fails while a committed file differs from what this makes.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

from users_service_events import schemas, values
from users_service_events.envelope import MESSAGES, Message
from users_service_events.values import Shape

from users_service.contracts import HERE

EVENT_HEADERS = "#/components/schemas/EventHeaders"
# The events package's sources (found without importing its Records, hence Faust).
PACKAGE_DIR = Path(schemas.__file__).resolve().parent
SCHEMAS_DIR = PACKAGE_DIR / "schemas"
RECORDS = PACKAGE_DIR / "records.py"

_RECORDS_HEAD = '''"""The messages as Faust Records (needs the `faust` extra).

Generated from their definitions (`users_service_events.values`) by
`python -m users_service.contracts.generate`: edit those, not this file.

`include_metadata=False` keeps Faust's `__faust` type tag out of the JSON, so consumers
that are not Faust read plain JSON. A Record reads a value with fields it does not declare
(a later minor version's) and keeps them as attributes: an added optional field never
breaks a consumer on an older version of this package.
"""

from __future__ import annotations

from typing import Any, Optional

import faust
'''

_RECORDS_TAIL = '''

def field_names(record: type[faust.Record]) -> frozenset[str]:
    """The JSON keys a Record declares."""
    return frozenset(record._options.fields)
'''


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def channel_id(message: Message) -> str:
    """`user.create.rejected` -> `userCreateRejected`."""
    return _camel(message.name.split("."))


def _parts(message: Message) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each generated part of the document: (section, id) -> its content."""
    title = message.value.title
    ref = f"#/components/messages/{title}"
    is_event = message.event_type is not None
    spec: dict[str, Any] = {"name": message.event_type or title}
    if is_event:
        spec["headers"] = {"$ref": EVENT_HEADERS}
    spec["payload"] = {"$ref": f"#/components/schemas/{title}"}
    if is_event:
        spec["bindings"] = {"kafka": {"key": {"type": "string", "description": message.key}}}
    channel = channel_id(message)
    return {
        "channel": (
            channel,
            {
                "address": message.name,
                "messages": {_camel([title[:1].lower() + title[1:]]): {"$ref": ref}},
                "description": f"{message.topic_setting}. Key: {message.key}.",
            },
        ),
        "operation": (
            f"publish{title}" if is_event else f"receive{title}",
            {
                "action": "send" if is_event else "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
            },
        ),
        "message": (title, spec),
        "schema": (title, message.value.schema()),
    }


def asyncapi(base: dict[str, Any]) -> dict[str, Any]:
    """`base` with every message's parts as its definition makes them (others untouched;
    a part already there keeps its place)."""
    document = copy.deepcopy(base)
    for message in MESSAGES.values():
        parts = _parts(message)
        for section, where in (
            ("channel", document["channels"]),
            ("operation", document["operations"]),
            ("message", document["components"]["messages"]),
            ("schema", document["components"]["schemas"]),
        ):
            key, content = parts[section]
            where[key] = content
    return document


def _docstring(doc: str) -> list[str]:
    paragraphs = [textwrap.wrap(p, 88) for p in doc.split("\n\n")]
    lines = [line for p in paragraphs for line in [*p, ""]][:-1]
    if len(lines) == 1:
        return [f'    """{lines[0]}"""']
    return [f'    """{lines[0]}', *(f"    {line}".rstrip() for line in lines[1:]), '    """']


def _record(shape: Shape) -> str:
    lines = [
        "",
        "",
        f'class {shape.title}(faust.Record, include_metadata=False, serializer="json"):',
        *_docstring(shape.doc),
        "",
    ]
    for field in shape.fields:
        line = f"    {field.name}: {field.annotation}"
        if field.optional:
            line += " = None"
        if "Optional[" in field.annotation:
            line += "  # noqa: UP045 - Faust reads the annotation at runtime"
        lines.append(line)
    return "\n".join(lines) + "\n"


def records_source() -> str:
    """The source of `users_service_events/records.py`: a Record per value, in wire order."""
    return _RECORDS_HEAD + "".join(_record(s) for s in values.SHAPES) + _RECORDS_TAIL


def dumps(document: dict[str, Any]) -> str:
    """How the contracts are written: two spaces, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    """Every generated file's path and its content."""
    files = {SCHEMAS_DIR / f"{name}.json": dumps(schemas.generate(name)) for name in MESSAGES}
    path = HERE / "asyncapi.json"
    files[path] = dumps(asyncapi(json.loads(path.read_text(encoding="utf-8"))))
    files[RECORDS] = records_source()
    return files


def main() -> None:
    """Write the generated files that differ, and name them."""
    for path, text in generated().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
