"""Property (c) of issue 26: for any secret embedded in generated text, JSON, reprs and
tracebacks, no log line in either format carries it, for any logger and any level.

Over the real logging setup: the process's redacting record factory
(`install_log_redaction`) and the worker's dictConfig (`streamapp.logging_setup`), its
formatters writing to the process's stdout as they do in a worker. The secrets are the
ones docs/security.md promises to keep out: passwords of any Unicode (as JSON and repr fields,
key=value text, and percent-encoded in database URLs), bcrypt hashes anywhere, bearer
tokens and JWTs; carried by a message, an argument, a repr, an extra field, an exception's
text or arguments, and a chained cause.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.logging_setup import logging_config
from users_service.adapters.log_redaction import install_log_redaction

pytestmark = pytest.mark.property

SECRET_KEYS = ["password", "passwordHash", "password_hash", "secret", "Password", "PASSWORD"]
# What separates a key=value pair from the text around it (and what quotes a value).
_SEPARATORS = ",;&)}]'\"\\"

passwords = st.text(st.characters(exclude_categories=["Cs"]), min_size=8, max_size=72)
# A key=value value runs to the first separator or space: the secret has neither.
bare_passwords = st.text(
    st.characters(
        exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"], exclude_characters=_SEPARATORS
    ),
    min_size=8,
    max_size=72,
)
bcrypt_alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
loggers = st.sampled_from(
    ["users.http", "users.commands", "aiokafka.producer", "faust.transport", "databases", ""]
) | st.from_regex(r"[a-z]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True)
levels = st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]) | (
    st.integers(logging.DEBUG, logging.CRITICAL + 10)
)
surroundings = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@dataclass(frozen=True)
class Embedded:
    """Text carrying a secret (`template` of it), and the forms of the secret no line may
    contain."""

    template: Callable[[str], str]
    secret: str
    forms: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.template(self.secret)


def _forms(secret: str) -> tuple[str, ...]:
    # The secret itself, and as JSON and Python escape it (both are still the secret).
    return tuple(dict.fromkeys([secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]]))


@st.composite
def json_fields(draw: st.DrawFn) -> Embedded:
    key = draw(st.sampled_from(SECRET_KEYS))
    others = draw(st.dictionaries(st.sampled_from(["email", "nombre", "n"]), surroundings))
    nested, ensure_ascii = draw(st.booleans()), draw(st.booleans())
    shape = draw(st.sampled_from(["json", "bytes", "repr"]))

    def template(secret: str) -> str:
        doc: dict[str, Any] = {key: secret, **others}
        if nested:
            doc = {"creds": doc, "commandId": "c-1"}
        if shape == "repr":
            return repr(doc)
        text = json.dumps(doc, ensure_ascii=ensure_ascii)
        # As aiokafka logs a value it sends: `value=b'{…}'`.
        return f"Sending (key=b'k' value={text.encode()!r})" if shape == "bytes" else text

    secret = draw(passwords)
    return Embedded(template, secret, _forms(secret))


@st.composite
def key_values(draw: st.DrawFn) -> Embedded:
    key = draw(st.sampled_from(SECRET_KEYS))
    sep = draw(st.sampled_from(["=", ": ", " = "]))
    secret = draw(bare_passwords)
    return Embedded(lambda s: f"login {key}{sep}{s} other=1", secret, _forms(secret))


@st.composite
def database_urls(draw: st.DrawFn) -> Embedded:
    scheme = draw(st.sampled_from(["postgresql", "postgres", "postgresql+asyncpg", "redis"]))
    user = draw(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True))
    secret = quote(draw(passwords), safe="")
    return Embedded(
        lambda s: f"DATABASE_URL={scheme}://{user}:{s}@db:5432/users", secret, (secret,)
    )


@st.composite
def bcrypt_hashes(draw: st.DrawFn) -> Embedded:
    variant = draw(st.sampled_from(["2a", "2b", "2y"]))
    cost = draw(st.integers(4, 31))
    before, after = draw(surroundings), draw(surroundings)
    body = draw(st.text(bcrypt_alphabet, min_size=53, max_size=53))
    return Embedded(lambda s: f"{before}${variant}${cost:02d}${s}{after}", body, (body,))


@st.composite
def bearer_tokens(draw: st.DrawFn) -> Embedded:
    if draw(st.booleans()):
        token = draw(st.from_regex(r"[A-Za-z0-9._~+/-]{16,64}", fullmatch=True))
        return Embedded(lambda s: f"Authorization: Bearer {s}", token, (token,))
    claims = draw(st.dictionaries(st.text(max_size=8), st.text(max_size=16), max_size=3))
    key = draw(st.binary(min_size=32, max_size=32))
    token = jwt.encode({**claims, "sub": "s"}, key, algorithm="HS256")
    shape = draw(st.sampled_from(["Authorization: Bearer {}", "token {} refused", "{}"]))
    return Embedded(shape.format, token, (token,))


embedded_secrets = st.one_of(
    json_fields(), key_values(), database_urls(), bcrypt_hashes(), bearer_tokens()
)


def _raise(exc: BaseException, cause: BaseException | None = None) -> None:
    if cause is None:
        raise exc
    try:
        raise cause
    except BaseException as inner:
        raise exc from inner


def _log_with_exception(log: logging.Logger, level: int, exc: BaseException, cause: Any) -> None:
    try:
        _raise(exc, cause)
    except BaseException:
        log.log(level, "failed", exc_info=True)


# How a secret reaches a log call.
CARRIERS: dict[str, Callable[[logging.Logger, int, str], None]] = {
    "argument": lambda log, level, text: log.log(level, "got %s from a client", text),
    "message": lambda log, level, text: log.log(level, f"got {text} done"),
    "repr": lambda log, level, text: log.log(level, "state %r", {"data": text, "n": 1}),
    "extra": lambda log, level, text: log.log(level, "sent", extra={"body": text}),
    "exception": lambda log, level, text: _log_with_exception(log, level, ValueError(text), None),
    "exception args": lambda log, level, text: _log_with_exception(
        log, level, ValueError("bad", {"detail": text}), None
    ),
    "chained cause": lambda log, level, text: _log_with_exception(
        log, level, RuntimeError("could not store"), ConnectionError(text)
    ),
    "exception repr": lambda log, level, text: log.log(level, "failed: %r", KeyError(text)),
}


@contextmanager
def worker_logging(log_format: str) -> Iterator[io.StringIO]:
    """The worker's logging, writing to a buffer where a worker writes to stdout."""
    install_log_redaction()
    root = logging.getLogger()
    handlers, level, stdout = root.handlers[:], root.level, sys.__stdout__
    stream = io.StringIO()
    sys.__stdout__ = stream  # type: ignore[misc,assignment]  # the handler's stream, read at config time
    try:
        logging.config.dictConfig(logging_config(log_format, "DEBUG", "property:1"))
        yield stream
    finally:
        sys.__stdout__ = stdout  # type: ignore[misc,assignment]
        root.handlers[:] = handlers
        root.setLevel(level)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _render(log_format: str, logger: str, level: int, carrier: str, text: str) -> str:
    with worker_logging(log_format) as stream:
        CARRIERS[carrier](logging.getLogger(logger), level, text)
    return stream.getvalue()


def _texts(log_format: str, output: str) -> list[str]:
    """The lines, and with JSON the strings each line's object holds, decoded."""
    texts = output.splitlines()
    if log_format == "json":
        for line in output.splitlines():
            texts.extend(_strings(json.loads(line)))  # every line is one JSON object
    return texts


@given(
    secret=embedded_secrets,
    log_format=st.sampled_from(["json", "text"]),
    logger=loggers,
    level=levels,
    carrier=st.sampled_from(sorted(CARRIERS)),
)
def test_no_log_line_carries_a_secret(
    secret: Embedded, log_format: str, logger: str, level: int, carrier: str
) -> None:
    texts = _texts(log_format, _render(log_format, logger, level, carrier, secret.text))
    assert texts, "the record was written"
    # The same line without the secret: a form the line holds anyway (a password of eight
    # spaces, say) proves nothing either way.
    without = _texts(log_format, _render(log_format, logger, level, carrier, secret.template("")))
    forms = [form for form in secret.forms if not any(form in text for text in without)]
    leaks = [(form, text) for form in forms for text in texts if form in text]
    assert not leaks, leaks
