"""The bcrypt implementations: libxcrypt and pyca/bcrypt verify each other's hashes and
node's, give the same verdict on every password and hash, and the self-test chooses."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import bcrypt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from users_service.adapters import bcrypt_backends
from users_service.adapters.bcrypt_backends import (
    BcryptBackend,
    LibxcryptBcrypt,
    PycaBcrypt,
    fastest_safe_backend,
)
from users_service.adapters.libxcrypt import Libxcrypt, Unavailable, load
from users_service.adapters.passwords import BcryptHasher

NODE_VECTORS = json.loads((Path(__file__).parent / "bcrypt_node_vectors.json").read_text())
PASSWORDS = ["correct-horse", "contraseña-ñandú-日本語-🔑", "x" * 69 + "ñ!", " \\\"' tab\t"]

pyca = PycaBcrypt()
libxcrypt = LibxcryptBcrypt(load())


def test_debian_libcrypt_passes_the_self_test_and_is_chosen() -> None:
    assert fastest_safe_backend().name == "libxcrypt"
    assert BcryptHasher(rounds=4, workers=1).implementation == "libxcrypt"


@pytest.mark.parametrize("password", PASSWORDS)
def test_each_verifies_the_others_hashes(password: str) -> None:
    secret = password.encode()
    made_by_libxcrypt = libxcrypt.hash(secret, 4)
    made_by_pyca = pyca.hash(secret, 4)
    assert made_by_libxcrypt.startswith("$2b$04$")
    assert bcrypt.checkpw(secret, made_by_libxcrypt.encode())
    assert libxcrypt.check(secret, made_by_pyca)
    wrong = secret[:-1] + (b"!" if secret.endswith(b"?") else b"?")
    assert not libxcrypt.check(wrong, made_by_pyca)
    assert not pyca.check(wrong, made_by_libxcrypt)


@pytest.mark.parametrize(
    "vector", NODE_VECTORS["vectors"], ids=lambda v: f"{v['what']}-{v['rounds']}"
)
@pytest.mark.parametrize("backend", [pyca, libxcrypt], ids=lambda b: b.name)
def test_hashes_made_by_nodes_bcrypt_verify(vector: dict[str, str], backend: BcryptBackend) -> None:
    password = vector["password"].encode()
    assert backend.check(password, vector["hash"])
    assert not backend.check(password[:-1], vector["hash"])


def verdict(backend: BcryptBackend, password: bytes, password_hash: str) -> object:
    try:
        return backend.check(password, password_hash)
    except ValueError as exc:
        return ("ValueError", str(exc))


def mutations(hashed: str) -> list[str]:
    """The hash, and hashes a tampering or a sloppy store could make of it."""
    return [
        hashed,
        "$2a$" + hashed[4:],
        "$2y$" + hashed[4:],
        "$2x$" + hashed[4:],
        hashed[:4] + "03" + hashed[6:],
        hashed[:4] + "32" + hashed[6:],
        hashed[:-1],
        hashed + "x",
        hashed[:28] + ("u" if hashed[28] != "u" else "e") + hashed[29:],  # salt's spare bits
        hashed[:-1] + ("u" if hashed[-1] != "u" else "e"),  # digest's spare bits
        hashed[:20] + "!" + hashed[21:],
        hashed.upper(),
    ]


# A few to 80 bytes: NUL bytes, non-ASCII, exactly 72, more than 72.
passwords = st.binary(min_size=0, max_size=80) | st.text(max_size=40).map(str.encode)


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(made_with=passwords, checked=passwords)
def test_libxcrypt_gives_pycas_verdict_on_any_password_and_hash(
    made_with: bytes, checked: bytes
) -> None:
    source = made_with[:72]
    hashed = pyca.hash(source, 4)
    for candidate in mutations(hashed):
        for password in (source, checked, source + b"\0", source[:71]):
            assert verdict(libxcrypt, password, candidate) == verdict(pyca, password, candidate)


@pytest.mark.parametrize("password", [b"a" * 73, b"a" * 100, "ñ".encode() * 37])
def test_more_than_72_bytes_is_refused_as_pyca_refuses_it(password: bytes) -> None:
    stored = pyca.hash(password[:72], 4)
    for backend in (libxcrypt, pyca):
        with pytest.raises(ValueError, match="longer than 72 bytes"):
            backend.hash(password, 4)
        with pytest.raises(ValueError, match="longer than 72 bytes"):
            backend.check(password, stored)


def test_a_password_with_a_nul_byte_is_hashed_whole_as_pyca_hashes_it() -> None:
    # A C string would end at the NUL: libxcrypt would hash "abc" alone.
    hashed = libxcrypt.hash(b"abc\0def-password", 4)
    assert pyca.check(b"abc\0def-password", hashed)
    assert not pyca.check(b"abc", hashed)
    assert not libxcrypt.check(b"abc", hashed)
    assert libxcrypt.check(b"abc\0def-password", hashed)


def test_libxcrypt_releases_the_gil_while_it_hashes() -> None:
    # Cost 13 takes about half a second; with the GIL held the main thread would stall
    # for all of it.
    done = threading.Event()

    def work() -> None:
        libxcrypt.hash(b"gil-check-pw", 13)
        done.set()

    hashing = threading.Thread(target=work)
    gaps, last = [], time.perf_counter()
    started = last
    hashing.start()
    while not done.is_set():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    hashing.join()
    took = time.perf_counter() - started
    assert max(gaps) < took / 2, (max(gaps), took)


def test_threads_hashing_at_once_each_get_their_own_hash() -> None:
    results: dict[int, str] = {}

    def work(n: int) -> None:
        results[n] = libxcrypt.hash(f"thread-{n}-password".encode(), 6)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results.values())) == 8
    for n, hashed in results.items():
        assert pyca.check(f"thread-{n}-password".encode(), hashed)


class WrongLibrary(Libxcrypt):
    """A libcrypt whose bcrypt is broken: it answers another setting's hash."""

    def crypt(self, phrase: bytes, setting: bytes) -> bytes | None:
        answer = super().crypt(phrase, setting)
        return None if answer is None else answer[:-2] + b"AA"


def test_a_library_that_fails_the_self_test_falls_back_to_pyca(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = load()
    broken = WrongLibrary.__new__(WrongLibrary)
    broken.__dict__.update(real.__dict__)
    monkeypatch.setattr(bcrypt_backends, "load", lambda: broken)
    assert fastest_safe_backend().name == "pyca-bcrypt"


def test_a_system_without_libxcrypt_hashes_with_pyca(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Libxcrypt:
        raise Unavailable("no libcrypt.so.1 on this system")

    monkeypatch.setattr(bcrypt_backends, "load", missing)
    hasher = BcryptHasher(rounds=4, workers=1)
    assert hasher.implementation == "pyca-bcrypt"
    assert bcrypt.checkpw(b"pw-123456", hasher.hash_sync("pw-123456").encode())


def test_password_hasher_names_the_backend_and_forcing_libxcrypt_keeps_its_self_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert bcrypt_backends.backend_named("pyca").name == "pyca-bcrypt"
    assert bcrypt_backends.backend_named("libxcrypt").name == "libxcrypt"
    assert bcrypt_backends.backend_named("auto").name == "libxcrypt"  # Debian's passes
    with pytest.raises(ValueError, match="one of auto, libxcrypt, pyca, not 'bcrypt'"):
        bcrypt_backends.backend_named("bcrypt")
    real = load()
    broken = WrongLibrary.__new__(WrongLibrary)
    broken.__dict__.update(real.__dict__)
    monkeypatch.setattr(bcrypt_backends, "load", lambda: broken)
    with pytest.raises(ValueError, match="libxcrypt is unusable: the known setting"):
        bcrypt_backends.backend_named("libxcrypt")
    assert bcrypt_backends.backend_named("auto").name == "pyca-bcrypt"
