"""A Node.js consumer (kafkajs, pinned by tests/support/kafkajs/package-lock.json) that
reads a topic as a team on Node would: proof that the values and headers the service
writes read the same outside Python. Installed once under .cache/, keyed by the lock."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.services import KAFKA, ROOT

SOURCE = ROOT / "tests" / "support" / "kafkajs"


@dataclass(frozen=True)
class NodeRead:
    key: str | None
    value: bytes
    parsed: Any  # the value as JavaScript's JSON.parse read it
    headers: dict[str, str]


@cache
def reader_dir() -> Path:
    """A directory with kafkajs installed (`npm ci`) and the reader script."""
    lock = (SOURCE / "package-lock.json").read_bytes()
    target = ROOT / ".cache" / "kafkajs" / hashlib.sha256(lock).hexdigest()[:16]
    if not (target / "node_modules" / "kafkajs" / "package.json").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(SOURCE / name, target / name)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            check=True,
            capture_output=True,
            timeout=300,
        )
    shutil.copy(SOURCE / "read.js", target / "read.js")
    return target


def read_with_kafkajs(topic: str, expect: int) -> list[NodeRead]:
    """The first `expect` messages of `topic`, as kafkajs hands them to a Node consumer."""
    done = subprocess.run(
        ["node", "read.js", KAFKA, topic, str(expect)],
        cwd=reader_dir(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [
        NodeRead(m["key"], base64.b64decode(m["value"]), m["parsed"], m["headers"])
        for m in json.loads(done.stdout)
    ]
