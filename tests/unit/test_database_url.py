"""No TLS to PostgreSQL on loopback by default; never changed for a remote host or when
the URL says what it wants."""

from __future__ import annotations

import pytest

from users_service.adapters.storage.database import loopback_without_tls, make_database
from users_service.adapters.storage.migrations import sync_url


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("postgresql://u:p@127.0.0.1:5432/db", True),
        ("postgresql://u:p@localhost/db", True),
        ("postgresql://u:p@[::1]:5432/db", True),
        ("postgresql://u:p@db.internal:5432/db", False),
        ("postgresql://u:p@10.0.0.7/db", False),
        ("postgresql://u:p@127.0.0.1/db?ssl=true", False),
        ("postgresql://u:p@127.0.0.1/db?sslmode=require", False),
        ("sqlite:///./x.sqlite3", False),
    ],
)
def test_tls_is_left_out_only_on_loopback_when_the_url_is_silent(url: str, plain: bool) -> None:
    assert loopback_without_tls(url) is plain


def test_the_pools_and_the_migrations_follow_it() -> None:
    local = make_database("postgresql://u:p@127.0.0.1:5432/db")
    remote = make_database("postgresql://u:p@db.internal:5432/db")
    assert local._backend._options.get("ssl") is False
    assert "ssl" not in remote._backend._options
    assert "sslmode=disable" in sync_url("postgresql://u:p@127.0.0.1:5432/db")
    assert "sslmode" not in sync_url("postgresql://u:p@db.internal:5432/db")
    assert "sslmode=require" in sync_url("postgresql://u:p@127.0.0.1/db?ssl=true")
