"""The last resort of a bounded shutdown: past SHUTDOWN_GRACE the process ends, even when
its event loop is stuck (here: blocked outright)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.services import ROOT

STUCK = """
import threading
from streamapp.lifecycle.shutdown import ShutdownWatchdog
ShutdownWatchdog(0.5).arm()
threading.Event().wait()  # blocked for good: a loop that never returns
"""


def test_a_stuck_shutdown_ends_after_the_grace_with_a_distinct_status() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STUCK], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    took = time.monotonic() - started
    assert done.returncode == 70
    assert "SHUTDOWN_GRACE=0.5s" in done.stderr
    assert took < 15  # the process would otherwise never end (subprocess.run's 20 s)
