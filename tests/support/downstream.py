"""The downstream example (`examples/downstream`) run as another team runs it: from a
virtualenv holding the events wheel only, out of the repository's tree
(tests/support/consumer_venv.py), on its own group and port."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from tests.support.consumer_venv import consumer_env, consumer_python, consumer_tree
from tests.support.services import KAFKA, free_port

FAUST_WORKER = ["-m", "faust", "-A", "examples.downstream.app", "worker", "-l", "info"]


@contextlib.contextmanager
def running_downstream(
    worker_env: Mapping[str, str],
    tmp_path: Path,
    failed: Callable[[], bool],
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, Path]]:
    """The example's worker (its domains URL and log path); killed afterwards, its log
    printed if `failed()` says the test failed."""
    port = free_port()
    log_path = tmp_path / "downstream.log"
    env = {
        **consumer_env(dict(os.environ)),
        "KAFKA_BROKER": KAFKA,
        "KAFKA_USER_CREATED_TOPIC": worker_env["KAFKA_USER_CREATED_TOPIC"],
        "KAFKA_USER_DELETED_TOPIC": worker_env["KAFKA_USER_DELETED_TOPIC"],
        "DOWNSTREAM_GROUP_ID": f"signups-{worker_env['KAFKA_GROUP_ID']}",
        "DOWNSTREAM_WEB_PORT": str(port),
        "DOWNSTREAM_DATA_DIR": str(tmp_path / "downstream"),
        **(extra_env or {}),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(consumer_python()), *FAUST_WORKER],
            cwd=consumer_tree(tmp_path / "consumer"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}/signups/domains", log_path
    finally:
        process.kill()
        process.wait(timeout=10)
        if failed():
            print(f"\n--- log of the downstream app ---\n{log_path.read_text()[-6000:]}")
