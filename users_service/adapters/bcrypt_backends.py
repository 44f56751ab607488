"""The bcrypt implementations the hasher can run, and the choice of the fastest safe one.

Every one is thread-safe and releases the GIL while it hashes. libxcrypt (the system's C
implementation) is faster here than pyca/bcrypt; it is used only where it is known to
give pyca/bcrypt's verdict (`$2b$` hashes of passwords a C string can carry, at most 72
bytes): everything else goes to pyca/bcrypt, so verdicts are pyca/bcrypt's by
construction. A self-test at start decides; pyca/bcrypt is the fallback."""

from __future__ import annotations

import hmac
import logging
from typing import Protocol

import bcrypt

from users_service.adapters.libxcrypt import Libxcrypt, Unavailable, load

log = logging.getLogger("users.passwords")

MAX_PASSWORD_BYTES = 72  # pyca/bcrypt refuses longer ones rather than truncate them
PREFIX = "$2b$"
HASH_CHARS = 60
_BCRYPT_BASE64 = frozenset("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class BcryptBackend(Protocol):
    name: str

    def hash(self, password: bytes, rounds: int) -> str:
        """A new `$2b$` hash of `password` at cost `rounds`."""

    def check(self, password: bytes, password_hash: str) -> bool:
        """True when `password` matches `password_hash`."""


class PycaBcrypt:
    """pyca/bcrypt (Rust): everywhere, and the reference for every verdict."""

    name = "pyca-bcrypt"

    def hash(self, password: bytes, rounds: int) -> str:
        return bcrypt.hashpw(password, bcrypt.gensalt(rounds)).decode("ascii")

    def check(self, password: bytes, password_hash: str) -> bool:
        return bcrypt.checkpw(password, password_hash.encode("ascii"))


def is_plain_2b(password_hash: str) -> bool:
    """A well-formed `$2b$NN$` + 53 characters of bcrypt's base64, cost 4 to 31."""
    return (
        len(password_hash) == HASH_CHARS
        and password_hash.startswith(PREFIX)
        and password_hash[4:6].isdigit()
        and password_hash[4:6].isascii()
        and 4 <= int(password_hash[4:6]) <= 31
        and password_hash[6] == "$"
        and all(ch in _BCRYPT_BASE64 for ch in password_hash[7:])
    )


class LibxcryptBcrypt:
    """libxcrypt's bcrypt for what it judges as pyca/bcrypt does; pyca/bcrypt otherwise
    (a NUL byte, more than 72 bytes, another prefix, a malformed hash)."""

    name = "libxcrypt"

    def __init__(self, library: Libxcrypt, fallback: PycaBcrypt | None = None) -> None:
        self.library = library
        self.fallback = fallback or PycaBcrypt()

    @staticmethod
    def _carried(password: bytes) -> bool:
        return len(password) <= MAX_PASSWORD_BYTES and b"\0" not in password

    def hash(self, password: bytes, rounds: int) -> str:
        if not self._carried(password):
            return self.fallback.hash(password, rounds)
        hashed = self.library.crypt(password, self.library.gensalt(PREFIX.encode(), rounds))
        if hashed is None:
            raise ValueError("libxcrypt refused its own setting")
        return hashed.decode("ascii")

    def check(self, password: bytes, password_hash: str) -> bool:
        if not (self._carried(password) and is_plain_2b(password_hash)):
            return self.fallback.check(password, password_hash)
        expected = password_hash.encode("ascii")
        computed = self.library.crypt(password, expected)
        if computed is None:
            return self.fallback.check(password, password_hash)
        return hmac.compare_digest(computed, expected)


# Known answers: Openwall's test vector (crypt_blowfish's own), and hashes pyca/bcrypt
# made of a non-ASCII password and of one of exactly 72 bytes.
KNOWN_SETTING = ("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.", "E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
KNOWN_HASHES = (
    ("U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
    ("contraseña-ñandú-日本", "$2b$04$LwSHMyif5uSZX7qzVqP6Ae4GXrKg2awioL0Uj1SjYmGw1Iui6uUh2"),
    ("p" * 72, "$2b$04$gDhKE3X6QHjIgKaTjnEvlOThkGCJwjD4FkqEFYOCUGRsplli3A/tm"),
)


def self_test(backend: BcryptBackend, reference: BcryptBackend) -> None:
    """Raise AssertionError unless `backend` hashes the known setting to the known
    answer, verifies the known hashes (and not a wrong password), and writes a `$2b$`
    hash `reference` verifies."""
    password, setting, digest = KNOWN_SETTING
    if isinstance(backend, LibxcryptBcrypt):
        made = backend.library.crypt(password.encode(), setting.encode())
        assert made == (setting + digest).encode(), "the known setting hashed wrongly"
    for plain, known in KNOWN_HASHES:
        assert backend.check(plain.encode(), known), "a known hash did not verify"
        wrong = plain[:-1] + ("?" if plain.endswith("!") else "!")
        assert not backend.check(wrong.encode(), known), "a wrong password verified"
    fresh = backend.hash(b"self-test-password", 4)
    assert fresh.startswith("$2b$04$") and len(fresh) == HASH_CHARS, "not a $2b$ hash"
    assert reference.check(b"self-test-password", fresh), "the reference refused its hash"
    assert backend.check(b"self-test-password", fresh), "it refused its own hash"


def fastest_safe_backend() -> BcryptBackend:
    """libxcrypt when the system has it and it passes the self-test, else pyca/bcrypt."""
    reference = PycaBcrypt()
    try:
        candidate = LibxcryptBcrypt(load(), reference)
        self_test(candidate, reference)
    except (Unavailable, AssertionError, ValueError) as exc:
        log.info("bcrypt: libxcrypt not used (%s); pyca/bcrypt hashes", exc)
        return reference
    return candidate


HASHER_CHOICES = ("auto", "libxcrypt", "pyca")


def backend_named(choice: str) -> BcryptBackend:
    """The backend PASSWORD_HASHER names: "auto" (the fastest safe one), "pyca"
    (pyca/bcrypt whatever the system has), or "libxcrypt" (which must pass its self-test:
    forcing it never skips the test). ValueError for another name or a failed libxcrypt."""
    if choice == "auto":
        return fastest_safe_backend()
    if choice == "pyca":
        return PycaBcrypt()
    if choice == "libxcrypt":
        reference = PycaBcrypt()
        try:
            candidate = LibxcryptBcrypt(load(), reference)
            self_test(candidate, reference)
        except (Unavailable, AssertionError) as exc:
            raise ValueError(
                f"PASSWORD_HASHER=libxcrypt, but libxcrypt is unusable: {exc}"
            ) from exc
        return candidate
    raise ValueError(f"PASSWORD_HASHER must be one of {', '.join(HASHER_CHOICES)}, not {choice!r}")
