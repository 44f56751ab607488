"""Whether the running test failed, for fixtures that print their logs only then."""

from __future__ import annotations

import pytest

# Set by tests/conftest.py's pytest_runtest_makereport when a test's call fails.
FAILED = pytest.StashKey[bool]()
