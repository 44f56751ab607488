"""How a secret may be shown: a URL without its password, any other secret as ***."""

from __future__ import annotations

from users_service.domain.patterns import linear

MASK = "***"
_URL_PASSWORD = linear(r"(://[^:/@]*:)[^@/]*@")


def masked_url(url: str) -> str:
    """`url` without its password (`postgresql://u:***@host/db`)."""
    return _URL_PASSWORD.sub(rf"\1{MASK}@", url)


def masked(raw: str, *, secret: bool, url: bool) -> str:
    """`raw` as an error message or a log line may show it."""
    if not secret:
        return raw
    return masked_url(raw) if url else MASK
