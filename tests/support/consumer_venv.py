"""Another team's environment: a fresh virtualenv holding the events wheel and nothing of
the service, for running `examples/downstream` as that team would.

Both wheels are built (`python -m build`), as a release would; only the events one is
installed. The virtualenv is kept under .cache/, keyed by a hash of the wheel's content
(not its bytes: a zip records build times), so repeated runs reuse it; a fresh machine
builds it from PyPI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

from tests.support.services import ROOT

CACHE = ROOT / ".cache" / "consumer-venv"
# What the team writes beside the events package: its own pins of Faust, and the codecs
# of the compression the service may use (aiokafka reads lz4, zstd, snappy with cramjam).
# And OpenTelemetry's SDK with the exporters it may be told to use (OTEL_TRACES_EXPORTER):
# the example traces through Faust's own contrib module when OTEL_* is set.
TEAM_PINS = [
    "faust-streaming==0.15.3",
    "cramjam==2.14.0",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-exporter-zipkin-json==1.45.1",
    "opentelemetry-exporter-otlp-proto-http==1.45.1",
]
PYTHON = "python3.11"


def _build(source: Path, outdir: Path) -> Path:
    # setuptools copies sources into build/lib and packs that: a module deleted since the
    # last build would still ship.
    shutil.rmtree(source / "build", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = outdir.glob("*.whl")
    return wheel


def content_hash(wheel: Path) -> str:
    """SHA-256 over the wheel's file names and contents."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + archive.read(name) + b"\0")
    return digest.hexdigest()[:16]


@cache
def wheels() -> dict[str, Path]:
    """The events wheel and the service's, built from this tree (once per test run)."""
    outdir = ROOT / ".cache" / "wheels"
    shutil.rmtree(outdir, ignore_errors=True)
    return {
        "users-service-events": _build(ROOT / "events", outdir / "events"),
        "users-service": _build(ROOT, outdir / "service"),
    }


@cache
def consumer_python() -> Path:
    """The interpreter of a virtualenv with only the events wheel (and the team's pins)."""
    wheel = wheels()["users-service-events"]
    # Keyed by the pins too: a new pin is a new virtualenv.
    pins = hashlib.sha256("\n".join(TEAM_PINS).encode()).hexdigest()[:8]
    target = CACHE / f"{content_hash(wheel)}-{pins}"
    python, complete = target / "bin" / "python", target / ".complete"
    if complete.exists():
        return python
    # A virtualenv's scripts name its path, so it is built where it stays; `.complete`
    # says it was built to the end (an interrupted build is made again).
    shutil.rmtree(target, ignore_errors=True)
    try:
        subprocess.run([PYTHON, "-m", "venv", str(target)], check=True, timeout=120)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"users-service-events[faust] @ {wheel.as_uri()}",
                *TEAM_PINS,
            ],
            check=True,
            capture_output=True,
            timeout=900,
            env=consumer_env(dict(os.environ)),
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    complete.touch()
    return python


def consumer_tree(destination: Path) -> Path:
    """`examples/downstream` copied out of the repository (so that running it from there
    finds none of the service's packages): the directory to run it in."""
    package = destination / "examples" / "downstream"
    package.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "__init__.py", destination / "examples" / "__init__.py")
    for source in (ROOT / "examples" / "downstream").glob("*.py"):
        shutil.copy(source, package / source.name)
    return destination


def consumer_env(base: dict[str, str]) -> dict[str, str]:
    """`base` without anything that would put the service's tree on the path."""
    return {k: v for k, v in base.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
