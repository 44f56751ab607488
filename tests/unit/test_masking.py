"""A database URL's password never shows, however the URL is written."""

from __future__ import annotations

import pytest

from streamapp.masking import MASK, masked, masked_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@127.0.0.1:6432/db", "postgresql://u:***@127.0.0.1:6432/db"),
        ("postgresql://u:pw@a:5432,b:5432/db?x=1", "postgresql://u:***@a:5432,b:5432/db?x=1"),
        ("postgresql://u:p/w@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p@w@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:///./.cache/users.sqlite3", "sqlite:///./.cache/users.sqlite3"),
        ("postgresql//u:pw@h/db", MASK),
        ("postgresql://h/db?user=u&password=pw", MASK),
    ],
)
def test_the_password_is_masked(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_a_secret_is_masked_whole_and_anything_else_shown() -> None:
    assert masked("hunter2-hunter2", secret=True, url=False) == MASK
    assert masked("kafka:9092", secret=False, url=False) == "kafka:9092"
