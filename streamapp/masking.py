"""How a secret may be shown: a URL without its password, any other secret as ***."""

from __future__ import annotations

MASK = "***"


def masked_url(url: str) -> str:
    """`url` without its password (`postgresql://u:***@host/db`). Whatever does not read
    as `scheme://…` is masked whole, and everything up to the last `@` counts as the
    user part, so a malformed URL or a password with `/` or `@` in it still never shows."""
    scheme, separator, rest = url.partition("://")
    if not separator or "password=" in rest.lower():  # libpq's ?password= too
        return MASK
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return url  # no credentials in it
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}:{MASK}@{hosts}" if colon else url


def masked(raw: str, *, secret: bool, url: bool) -> str:
    """`raw` as an error message or a log line may show it."""
    if not secret:
        return raw
    return masked_url(raw) if url else MASK
