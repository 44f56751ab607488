"""`web.log_quoting.quoted`: what a client sent, as one log line may carry it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.log_quoting import QUOTE_MAX_CHARS, quoted


def test_a_plain_path_is_kept_as_it_is() -> None:
    assert quoted("/users/v1/users/ñandú") == "/users/v1/users/ñandú"


def test_line_breaks_nul_escape_and_surrogates_are_escaped() -> None:
    assert quoted("/x\n[ERROR] forged\r\x00\x1b[31m\udcff") == (
        "/x\\n[ERROR] forged\\r\\x00\\x1b[31m\\udcff"
    )


@given(st.text(max_size=QUOTE_MAX_CHARS * 2))
def test_whatever_is_sent_the_quote_is_one_printable_bounded_line(text: str) -> None:
    line = quoted(text)
    assert line.isprintable()
    # At most 10 characters an escape (\U0010ffff), plus the count of the rest.
    assert len(line) <= QUOTE_MAX_CHARS * 10 + 40
