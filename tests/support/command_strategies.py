"""Hypothesis strategies for whatever may arrive on `user.create`: commands good and bad,
JSON of any shape and depth holding a password somewhere, escaped keys, other encodings,
broken and oversized values, arbitrary bytes, keys and headers null, small and huge.

Every message carries its own generated password (and a bcrypt hash of it): the property
is that no outcome holds either. The password has a character (§) that no other generated
text has, so finding it can only mean it was copied.
"""

from __future__ import annotations

import json
import string
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
from hypothesis import strategies as st

MARK = "§"
TEXT = st.text(st.characters(blacklist_characters=MARK, codec="utf-8"), max_size=20)
KEYS = st.one_of(TEXT, st.sampled_from(["password", "Password", "passwordHash", "creds"]))
PASSWORDS = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#%&*+-=?^_~"), min_size=8, max_size=20
).map(lambda s: f"Pw{MARK}{s}")
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]
OVERSIZE = 70 * 1024  # over COMMAND_MAX_BYTES' default of 64 KiB: parked as too_large
BROKER_BUDGET = 1_030_000  # key, value and headers of a message the broker accepts


@dataclass(frozen=True)
class Generated:
    """One message for `user.create`, and the secrets it holds."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    password: str
    password_hash: str

    def __repr__(self) -> str:  # a failing example is printed: keep it short
        size = None if self.value is None else len(self.value)
        head = None if self.value is None else self.value[:300]
        return (
            f"Generated(key={self.key!r:.80}, value[{size}]={head!r}, "
            f"headers={[(n, None if v is None else len(v)) for n, v in self.headers]}, "
            f"password={self.password!r})"
        )


def _json_values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=12,
    )


LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT


def _dump(node: Any, escape: bool) -> str:
    """JSON text; with `escape`, every character of every string but the padding written
    as \\uXXXX."""
    if isinstance(node, str):
        if not escape or len(node) > 1000:  # not the padding: six bytes a character
            return json.dumps(node)
        units = node.encode("utf-16-be", "surrogatepass")
        return (
            '"'
            + "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
            + '"'
        )
    if isinstance(node, list):
        return "[" + ", ".join(_dump(item, escape) for item in node) + "]"
    if isinstance(node, dict):
        return (
            "{"
            + ", ".join(f"{_dump(k, escape)}: {_dump(v, escape)}" for k, v in node.items())
            + "}"
        )
    return json.dumps(node)


@st.composite
def _command(draw: st.DrawFn, password: str, password_hash: str, fresh_ids: bool) -> dict[str, Any]:
    # fresh_ids: a new UUID each time, for examples sharing one database (a repeated
    # commandId would be a redelivery: its first outcome stands, nothing new is sent).
    ident = str(uuid.uuid4()) if fresh_ids else str(draw(st.uuids()))
    body: dict[str, Any] = {}
    command_id = draw(
        st.sampled_from([ident, ident.upper(), "{" + ident + "}", "urn:uuid:" + ident, None])
        | TEXT
        | st.integers()
    )
    if command_id is not None:
        body["commandId"] = command_id
    body["nombre"] = draw(st.sampled_from(["Ana", "Bea Ñ", " Cy "]) | TEXT)
    n = draw(st.integers(0, 10**6))
    body["email"] = draw(st.sampled_from([f"u{n}@example.com", f"U{n}@Example.COM"]) | TEXT)
    secret = draw(st.sampled_from(["password", "passwordHash", "both", "case", "neither"]))
    if secret in ("password", "both"):
        body["password"] = password
    if secret in ("passwordHash", "both"):
        body["passwordHash"] = draw(st.sampled_from([password_hash, password_hash + "\n"]))
    if secret == "case":
        body["PassWord"] = password
    if draw(st.booleans()):
        body["requestedAt"] = draw(st.sampled_from(["2026-12-03T10:00:00Z", "yesterday"]))
    body.update(draw(st.dictionaries(TEXT, _json_values(LEAVES), max_size=2)))
    return body


@st.composite
def _json_value(draw: st.DrawFn, password: str, password_hash: str, fresh_ids: bool) -> bytes:
    command = _command(password, password_hash, fresh_ids)
    holder = st.sampled_from(["password", "passwordHash", "pass\u0077ord", "PASSWORD"])
    hidden = st.builds(lambda k, v: {k: v}, holder, st.sampled_from([password, password_hash]))
    node = draw(
        st.one_of(
            command,  # as a producer sends it
            command.map(lambda c: [c]),
            command.map(lambda c: {"creds": c}),
            _json_values(LEAVES | hidden),  # any shape, a password somewhere or nowhere
        )
    )
    if draw(st.integers(0, 9)) == 0:
        pad = "x" * OVERSIZE
        node = {**node, "pad": pad} if isinstance(node, dict) else [node, pad]
    text = _dump(node, escape=draw(st.booleans()))
    data = text.encode(draw(st.sampled_from(ENCODINGS)), "surrogatepass")
    damage = draw(st.sampled_from(["none", "none", "none", "cut", "garbage"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "garbage":
        data += draw(st.binary(min_size=1, max_size=8))
    return data


HEADER_VALUES = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.integers(900_000, 1_000_000).map(lambda n: b"\xfe" * n),  # huge, within the broker's
)


@st.composite
def messages(draw: st.DrawFn, huge: bool = True, fresh_ids: bool = False) -> Generated:
    """A message for `user.create` (`huge`: keys and headers of up to ~1 MB among them)."""
    password = draw(PASSWORDS)
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    value = draw(
        st.one_of(
            _json_value(password, password_hash, fresh_ids),
            _json_value(password, password_hash, fresh_ids),
            st.binary(max_size=200),
            st.none(),
        )
    )
    keys = st.none() | st.binary(max_size=40) | st.builds(lambda n: str(n).encode(), st.uuids())
    if huge:
        keys |= st.integers(200_000, 900_000).map(lambda n: b"k" * n)
    key = draw(keys)
    header_values = HEADER_VALUES if huge else st.none() | st.binary(max_size=40)
    headers = draw(st.lists(st.tuples(TEXT, header_values), max_size=3))
    # The broker takes a message of up to 1,048,588 bytes: past that budget, a huge part
    # is cut to 100 bytes (so one huge key or header per message, the first one drawn).
    used = len(value or b"") + len(key or b"")
    if used > BROKER_BUDGET and key is not None:
        key, used = key[:100], used - len(key) + 100
    bounded: list[tuple[str, bytes | None]] = []
    for name, header in headers:
        if header is not None and used + len(header) > BROKER_BUDGET:
            header = header[:100]
        used += len(header or b"")
        bounded.append((name, header))
    return Generated(key, value, bounded, password, password_hash)
