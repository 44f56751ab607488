"""The bcrypt ceiling: every bcrypt implementation on this machine, one thread and one per
core, measured in turns (the machine drifts); the fastest per-core rate is what the
service is judged against."""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import json
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from bench.harness import Results, Row
from users_service.adapters.bcrypt_backends import LibxcryptBcrypt
from users_service.adapters.libxcrypt import Unavailable, load

CORES = os.cpu_count() or 1
PASSWORD = b"bench-password"


@dataclass
class Implementation:
    """One bcrypt: `one(rounds, count)` and `per_core(rounds, count)` give hashes/s."""

    name: str
    note: str
    one: Callable[[int, int], float]
    per_core: Callable[[int, int], float]


def _threads(hash_once: Callable[[int], object]) -> tuple[Callable[..., float], ...]:
    """One thread hashing `count` times, and one thread per core doing so at once."""

    def one(rounds: int, count: int) -> float:
        started = time.perf_counter()
        for _ in range(count):
            hash_once(rounds)
        return count / (time.perf_counter() - started)

    def per_core(rounds: int, count: int) -> float:
        def work() -> None:
            for _ in range(count):
                hash_once(rounds)

        threads = [threading.Thread(target=work) for _ in range(CORES)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return CORES * count / (time.perf_counter() - started)

    return one, per_core


def pyca() -> Implementation:
    return Implementation(
        "pyca/bcrypt " + importlib.metadata.version("bcrypt"),
        "Rust; releases the GIL",
        *_threads(lambda rounds: bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds))),
    )


def libxcrypt() -> Implementation | None:
    try:
        backend = LibxcryptBcrypt(load())
    except Unavailable:
        return None
    return Implementation(
        "libxcrypt (libcrypt.so.1, crypt_rn)",
        "Openwall's C through ctypes, the GIL released; the service's choice when its "
        "self-test passes",
        *_threads(lambda rounds: backend.hash(PASSWORD, rounds)),
    )


def nettle() -> Implementation | None:
    """Nettle's bcrypt (3.7 and later), `nettle_blowfish_bcrypt_hash`, through ctypes."""
    name = ctypes.util.find_library("nettle")
    try:
        function = ctypes.CDLL(name or "libnettle.so.8").nettle_blowfish_bcrypt_hash
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
    function.argtypes += [ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.restype = ctypes.c_int

    def hash_once(rounds: int) -> object:
        setting = bcrypt.gensalt(rounds)
        output = ctypes.create_string_buffer(61)
        assert function(output, len(PASSWORD), PASSWORD, len(setting), setting, -1, None)
        return output.value

    return Implementation(
        f"Nettle ({name or 'libnettle.so.8'})",
        "C through ctypes, the GIL released",
        *_threads(hash_once),
    )


def stdlib_crypt() -> Implementation | None:
    """Python 3.11's `crypt` (removed in 3.13): libcrypt's crypt_r, with the GIL held."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    return Implementation(
        "Python's crypt module (crypt_r)",
        "libxcrypt, but the GIL held: threads take turns",
        *_threads(
            lambda rounds: crypt.crypt(
                "bench-password", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << rounds)
            )
        ),
    )


def node_bcrypt(peer_dir: Path) -> Implementation | None:
    """node's `bcrypt` as the NestJS peer has it (its node_modules, built by the bench):
    hashSync on one thread; async hashes on libuv's pool, one thread per core."""
    package = peer_dir / "node_modules" / "bcrypt" / "package.json"
    if not package.exists():
        return None

    def run(mode: str) -> Callable[[int, int], float]:
        def rate(rounds: int, count: int) -> float:
            out = subprocess.run(
                ["node", "bench-bcrypt.mjs", mode, str(rounds), str(count), str(CORES)],
                capture_output=True,
                text=True,
                check=True,
                cwd=peer_dir,
                env={**os.environ, "UV_THREADPOOL_SIZE": str(CORES)},
            ).stdout
            return float(out)

        return rate

    version = json.loads(package.read_text())["version"]
    return Implementation(
        f"node bcrypt {version}",
        "the NestJS peer's: OpenBSD's C, libuv's pool (UV_THREADPOOL_SIZE = cores); "
        "not callable from the service",
        run("one"),
        run("parallel"),
    )


def available(peer_dir: Path | None = None) -> list[Implementation]:
    found = [pyca(), libxcrypt(), nettle(), stdlib_crypt()]
    if peer_dir:
        found.append(node_bcrypt(peer_dir))
    return [implementation for implementation in found if implementation is not None]


@dataclass
class Ceiling:
    """Per implementation, hashes/s of each turn at one rounds, one thread and per core."""

    rounds: int
    one: dict[str, list[float]] = field(default_factory=dict)
    per_core: dict[str, list[float]] = field(default_factory=dict)

    def best(self) -> tuple[str, float]:
        """The fastest implementation per core and its best turn (noise only slows)."""
        name = max(self.per_core, key=lambda n: max(self.per_core[n]))
        return name, max(self.per_core[name])


def hashes_per_count(rounds: int, quick: bool) -> int:
    """About a second of hashing a measurement (a quarter with `quick`)."""
    return max(2, (1 << (14 - rounds)) // (4 if quick else 1))


def measure(
    implementations: list[Implementation],
    rounds: int,
    turns: int,
    quick: bool,
    into: Ceiling | None = None,
) -> Ceiling:
    """`turns` turns over every implementation, the order rotated each turn."""
    ceiling = into or Ceiling(rounds)
    count = hashes_per_count(rounds, quick)
    for turn in range(turns):
        shift = turn % len(implementations)
        for implementation in implementations[shift:] + implementations[:shift]:
            ceiling.one.setdefault(implementation.name, []).append(
                implementation.one(rounds, count)
            )
            ceiling.per_core.setdefault(implementation.name, []).append(
                implementation.per_core(rounds, count)
            )
    return ceiling


def report(results: Results, ceiling: Ceiling, implementations: list[Implementation]) -> None:
    fastest, rate = ceiling.best()
    short = os.environ.get("BENCH_SHORT") == "1"
    for implementation in implementations:
        one, per_core = ceiling.one[implementation.name], ceiling.per_core[implementation.name]
        results.add(
            Row(
                f"bcrypt rounds {ceiling.rounds}: {implementation.name}",
                f"one thread {1000 / max(one):.1f} ms per hash; {CORES} threads "
                f"{max(per_core):.1f} hashes/s (turns: {', '.join(f'{r:.1f}' for r in per_core)})",
                f"the fastest, {fastest}: {rate:.1f}/s",
                f"{max(per_core) / rate:.2f}",
                "",
                f"{implementation.note}; {hashes_per_count(ceiling.rounds, short)} hashes a "
                f"thread a measurement, {len(per_core)} turns over every implementation in "
                "rotated order, the best turn kept",
            )
        )


async def run(results: Results, tmp: Path) -> None:
    """`python -m bench bcrypt`: the table of implementations alone, at rounds 10 and 12."""
    from bench import nest_peer

    nest_peer.build()
    implementations = available(nest_peer.PEER_DIR)
    for rounds in (10, 12):
        quick = os.environ.get("BENCH_SHORT") == "1"
        report(results, measure(implementations, rounds, 2, quick), implementations)
