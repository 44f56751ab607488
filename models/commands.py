"""Commands other services send us: the Record is the events package's (one definition)."""

from __future__ import annotations

from users_service_events.records import CreateUser

__all__ = ["CreateUser"]
