"""Whether this worker takes new work, which shutdown turns off before it drains."""

from __future__ import annotations


class Lifecycle:
    """Open from start; `start_draining()` at shutdown makes new requests answer 503."""

    def __init__(self) -> None:
        self._accepting = True

    @property
    def accepting_requests(self) -> bool:
        """False once shutdown has begun."""
        return self._accepting

    def start_draining(self) -> None:
        """Refuse new work from now on; what is in flight finishes."""
        self._accepting = False
