"""Validation of a registration request: one place for the rules, used by every edge."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from users_service.domain.errors import InvalidInput
from users_service.domain.patterns import linear

NOMBRE_MAX_CHARS = 100
EMAIL_MAX_CHARS = 254
PASSWORD_MIN_CHARS = 8
# bcrypt only reads the first 72 bytes; a longer password would be silently truncated.
PASSWORD_MAX_BYTES = 72

FIELDS = ("nombre", "email", "password")

# Deliberately pragmatic (the WHATWG "valid email address" shape, ASCII only):
# full RFC 5322 accepts addresses no mail system delivers to.
_EMAIL = linear(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


# Characters a nombre may not hold, as fixed ranges of code points rather than looked up
# in unicodedata: the Unicode version changes with Python, and the rule the OpenAPI
# document states must not. Cc, Cf, Co, Cs, Zl and Zp of Unicode 14.0, and the 66
# noncharacters; unassigned code points are not refused, since what is unassigned
# depends on that version. The document's pattern is built from this table (a test
# compares them).
NOMBRE_FORBIDDEN: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xF8FF),
    (0xFDD0, 0xFDEF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0xFFFE, 0xFFFF),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    *((plane + 0xFFFE, plane + 0xFFFF) for plane in range(0x10000, 0xE0000, 0x10000)),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xEFFFE, 0x10FFFF),
)
# The space separators (Zs): the only whitespace left once those are refused, and what
# trimming takes from either end of a nombre.
NOMBRE_SPACES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x0020),
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)


SURROGATES = (0xD800, 0xDFFF)


def character_class(ranges: tuple[tuple[int, int], ...], *, negated: bool = False) -> str:
    """A regex character class of `ranges` that ECMA-262 (with its u flag, as JSON Schema
    validators compile) and Python's `re` read alike: BMP code points as \\uXXXX escapes
    (which both know), others as the characters themselves (the two spell astral escapes
    differently). Lone surrogates are left out: only a JSON escape can write one, most
    languages' strings cannot hold one, and a pattern naming them is refused by such
    tools (schemathesis' engine read the whole `not` as `not: {}`). The document says in
    words that they are refused."""

    def one(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else chr(cp)

    low, high = SURROGATES
    kept: list[tuple[int, int]] = []
    for lo, hi in ranges:
        kept += [(a, b) for a, b in ((lo, min(hi, low - 1)), (max(lo, high + 1), hi)) if a <= b]
    parts = "".join(one(lo) if lo == hi else f"{one(lo)}-{one(hi)}" for lo, hi in kept)
    return f"[{'^' if negated else ''}{parts}]"


# A bcrypt hash as bcrypt writes it: $2a$, $2b$ or $2y$, a two-digit cost, 53 characters.
_BCRYPT_HASH = linear(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True)
class Registration:
    """A validated registration: `nombre` trimmed of spaces, `email` trimmed and lower-cased, and
    either the password or (from a command) a bcrypt hash a producer made of it."""

    nombre: str
    email: str
    password: str | None = None
    password_hash: str | None = None

    def __repr__(self) -> str:  # keep the password and the hash out of tracebacks and logs
        return f"Registration(nombre={self.nombre!r}, email={self.email!r}, password='***')"


def normalize_email(email: str) -> str:
    """The stored form of an email: trimmed and lower-cased, so uniqueness ignores case."""
    return email.strip().lower()


_FORBIDDEN_STARTS = tuple(lo for lo, _ in NOMBRE_FORBIDDEN)


def _forbidden(ch: str) -> bool:
    at = bisect.bisect_right(_FORBIDDEN_STARTS, ord(ch)) - 1
    return at >= 0 and ord(ch) <= NOMBRE_FORBIDDEN[at][1]


# Lengths are of the value as sent, before trimming: what the document's maxLength
# means to every JSON Schema tool (a tab and 100 letters was taken as 100 letters).
def _check_nombre(value: str) -> str | None:
    if len(value) > NOMBRE_MAX_CHARS:
        return f"must be at most {NOMBRE_MAX_CHARS} characters"
    if any(_forbidden(ch) for ch in value):
        return "must not contain control or invisible characters"
    if not value.strip():
        return "must not be empty"
    return None


def _check_email(value: str) -> str | None:
    if len(value) > EMAIL_MAX_CHARS:
        return f"must be at most {EMAIL_MAX_CHARS} characters"
    email = value.strip()
    if not email:
        return "must not be empty"
    if not email.isascii():
        # Internationalized addresses (RFC 6531) are not delivered by every mail system.
        return "must be ASCII: internationalized addresses are not supported (use punycode)"
    if not _EMAIL.match(email):
        return "must be a valid email address"
    return None


def _check_password(value: str) -> str | None:
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        # JSON can escape a lone surrogate; no encoding can store it (bcrypt wants bytes).
        return "must be valid Unicode text (it contains a lone surrogate)"
    if len(value) < PASSWORD_MIN_CHARS:
        return f"must be at least {PASSWORD_MIN_CHARS} characters"
    if len(value.encode("utf-8")) > PASSWORD_MAX_BYTES:
        return f"must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt ignores the rest)"
    if "\x00" in value:
        return "must not contain NUL characters"
    return None


def is_email(value: str) -> bool:
    """True for what registration takes as an email (before trimming and lower-casing)."""
    return _check_email(value) is None


_CHECKS = {"nombre": _check_nombre, "email": _check_email, "password": _check_password}


def _check_password_hash(value: Any, min_rounds: int) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    # The whole value: `$` alone would let a trailing newline through (61 characters).
    match = _BCRYPT_HASH.fullmatch(value)
    if match is None:
        return "must be a bcrypt hash ($2b$, a two-digit cost, 53 characters)"
    if int(match.group(1)) < min_rounds:
        return f"its cost is {int(match.group(1))}; at least {min_rounds} is required"
    return None


def validate_command_registration(
    body: Any, *, accept_plaintext: bool, min_rounds: int
) -> Registration:
    """A CreateUser's registration: `nombre`, `email`, and `passwordHash` (a bcrypt hash
    of at least `min_rounds`) or, when `accept_plaintext`, `password`."""
    if isinstance(body, Mapping) and "passwordHash" in body:
        given = {k: v for k, v in body.items() if k != "passwordHash"}
        problems: dict[str, str] = {}
        if "password" in given:
            problems["password"] = "send password or passwordHash, not both"
            given.pop("password")
        try:
            registration = validate_registration({**given, "password": "x" * PASSWORD_MIN_CHARS})
        except InvalidInput as exc:
            problems.update(exc.fields)
            registration = None
        problem = _check_password_hash(body["passwordHash"], min_rounds)
        if problem:
            problems["passwordHash"] = problem
        if problems or registration is None:
            raise InvalidInput(problems)
        return Registration(
            registration.nombre, registration.email, password_hash=body["passwordHash"]
        )
    if not accept_plaintext and isinstance(body, Mapping) and "password" in body:
        problems = {
            "password": "plaintext passwords are not accepted here: send passwordHash, "
            "a bcrypt hash"
        }
        try:
            validate_registration(body)
        except InvalidInput as exc:
            problems = {**exc.fields, **problems}
        raise InvalidInput(problems)
    return validate_registration(body)


def validate_registration(body: Any) -> Registration:
    """Check a decoded JSON body; raise InvalidInput naming every bad field."""
    if not isinstance(body, Mapping):
        raise InvalidInput({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    for name in body:
        if name not in _CHECKS:
            errors[str(name)] = "unknown field"
    for name, check in _CHECKS.items():
        if name not in body:
            errors[name] = "is required"
            continue
        value = body[name]
        if not isinstance(value, str):
            errors[name] = "must be a string"
            continue
        problem = check(value)
        if problem:
            errors[name] = problem
    if errors:
        raise InvalidInput(errors)
    return Registration(
        nombre=body["nombre"].strip(),
        email=normalize_email(body["email"]),
        password=body["password"],
    )
