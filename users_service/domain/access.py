"""Who may do what: the caller a bearer token names, and the scopes it grants."""

from __future__ import annotations

from dataclasses import dataclass

from users_service.domain.errors import UsersError

USERS_READ = "users:read"
USERS_WRITE = "users:write"
OPS_READ = "ops:read"
# Erasure (GDPR Art. 17) is irreversible: a scope of its own, granted to few callers.
USERS_ERASE = "users:erase"
SCOPES = (USERS_READ, USERS_WRITE, OPS_READ, USERS_ERASE)


@dataclass(frozen=True)
class Principal:
    """The caller, as a valid token describes it."""

    subject: str
    scopes: frozenset[str]


class NotAuthenticated(UsersError):
    """No token, or one that is not valid here; `reason` says which, for the caller."""

    code = "unauthenticated"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthUnavailable(UsersError):
    """The identity provider's keys could not be fetched; the token was not judged."""

    code = "auth_unavailable"
