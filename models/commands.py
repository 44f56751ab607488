"""Commands other services send us: the Records are the events package's (one definition)."""

from __future__ import annotations

from users_service_events.records import CreateUser, EraseUser

__all__ = ["CreateUser", "EraseUser"]
