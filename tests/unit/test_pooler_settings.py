"""The pooler setting, the connection budget, and multi-host URLs as each driver gets them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.settings import SettingsError, load_settings
from users_service.adapters.storage.database import (
    asyncpg_connect_options,
    hosts_of,
    loopback_without_tls,
    make_database,
    single_host_url,
)
from users_service.adapters.storage.migrations import sync_url

LOOPBACK = st.sampled_from(["127.0.0.1", "localhost", "[::1]"])
REMOTE = st.sampled_from(["db-a.internal", "10.0.0.7", "pg.example.com"])
PORTS = st.integers(1, 65535)


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(env, dotenv=None)


def test_the_budget_is_the_sum_of_the_three_pools_and_the_defaults_make_fourteen() -> None:
    assert settings().database_connections == 14
    assert settings(OUTBOX_SHARDS="4").database_connections == 16


@given(st.integers(1, 1000), st.integers(0, 1000), st.integers(1, 1000), st.integers(1, 256))
def test_every_pool_size_is_a_setting(main: int, relay: int, verifier: int, shards: int) -> None:
    s = settings(
        DATABASE_POOL_SIZE=str(main),
        DATABASE_RELAY_POOL_SIZE=str(relay),
        DATABASE_VERIFIER_POOL_SIZE=str(verifier),
        OUTBOX_SHARDS=str(shards),
    )
    auto = 2 if shards == 1 else 4
    assert s.relay_pool_size == (relay or auto)
    assert s.database_connections == main + (relay or auto) + verifier


@pytest.mark.parametrize("value", ["transaction", "TRANSACTION", "session", "none"])
def test_the_pooler_setting_takes_its_values(value: str) -> None:
    assert settings(DATABASE_POOLER=value).database.pooler == value.lower()


def test_a_wrong_pooler_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="DATABASE_POOLER"):
        settings(DATABASE_POOLER="statement")


def test_the_migration_url_defaults_to_the_database_url_and_its_password_never_shows() -> None:
    url = "postgresql://u:p@127.0.0.1:6432/db"
    assert settings(DATABASE_URL=url).database.migration_target == url
    direct = "postgresql://u:p@127.0.0.1:5432/db"
    assert (
        settings(DATABASE_URL=url, DATABASE_MIGRATION_URL=direct).database.migration_target
        == direct
    )
    with pytest.raises(SettingsError) as raised:
        settings(DATABASE_MIGRATION_URL="mysql://u:s3cret@h/db")
    assert "s3cret" not in str(raised.value)


def test_only_a_transaction_pooler_turns_the_statement_cache_off() -> None:
    url = "postgresql://u:p@127.0.0.1:6432/db"
    pooled = make_database(url, pooler="transaction")._backend._options  # type: ignore[attr-defined]
    direct = make_database(url)._backend._options  # type: ignore[attr-defined]
    prepared = make_database(url, pooler="transaction-prepared")._backend._options  # type: ignore[attr-defined]
    assert pooled["statement_cache_size"] == 0
    assert "statement_cache_size" not in direct
    assert "statement_cache_size" not in prepared


def multi_host_url(hosts: list[tuple[str, int]], query: str) -> str:
    netloc = ",".join(f"{h}:{p}" for h, p in hosts)
    return f"postgresql://users:pw@{netloc}/users{query}"


@given(
    st.lists(st.tuples(st.one_of(LOOPBACK, REMOTE), PORTS), min_size=1, max_size=4),
    st.sampled_from(["", "?target_session_attrs=read-write", "?ssl=true&max_size=3"]),
)
def test_a_multi_host_url_reaches_each_driver_whole(
    hosts: list[tuple[str, int]], query: str
) -> None:
    url = multi_host_url(hosts, query)
    assert hosts_of(url) == [h for h, _ in hosts]
    # asyncpg reads the whole URL (every host, target_session_attrs) from its dsn, without
    # the parameters `databases` reads itself (asyncpg would send them as server settings).
    dsn = asyncpg_connect_options(url)["dsn"]
    assert urlsplit(dsn).netloc == urlsplit(url).netloc
    assert not {"ssl", "max_size"} & set(parse_qs(urlsplit(dsn).query))
    assert ("target_session_attrs=read-write" in dsn) == ("target_session_attrs" in query)
    # `databases` parses only the first host.
    first = urlsplit(single_host_url(url))
    assert (first.hostname, first.port) == (hosts[0][0].strip("[]").lower(), hosts[0][1])
    # psycopg (migrations) gets every host as SQLAlchemy spells them.
    sync = parse_qs(urlsplit(sync_url(url)).query)
    if len(hosts) > 1:
        assert sync["host"] == [f"{h}:{p}" for h, p in hosts]
    # No TLS only when every host is on loopback and the URL says nothing of TLS.
    all_loopback = all(h in {"127.0.0.1", "localhost", "[::1]"} for h, _ in hosts)
    assert loopback_without_tls(url) is (all_loopback and "ssl" not in query)
