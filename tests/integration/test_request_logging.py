"""What the access log quotes from a request is bounded, so the work of logging (and of
redacting) one request does not grow with what a client sends (issue 26, case 1)."""

from __future__ import annotations

import logging

import pytest

from tests.support.web import Client
from users_service.adapters import log_redaction
from web.log_quoting import QUOTE_MAX_CHARS


@pytest.fixture
def redacted_chars(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text handed to the redaction while the test runs."""
    sizes: list[int] = []
    real = log_redaction.redact

    def counting(text: str) -> str:
        sizes.append(len(text))
        return real(text)

    monkeypatch.setattr(log_redaction, "redact", counting)
    return sizes


async def test_a_huge_path_is_quoted_bounded_and_marked(
    client: Client, caplog: pytest.LogCaptureFixture, redacted_chars: list[int]
) -> None:
    log_redaction.install_log_redaction()
    # Within aiohttp's 8190-byte request line; ends in a marker the redaction looks for.
    path = "/" + "a" * 8000 + "pass"
    with caplog.at_level(logging.DEBUG, logger="users.http"):
        resp = await client.get(path)
    assert resp.status == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "users.http"]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("GET /aaaa") and " 404 " in line
    assert "more characters]" in line
    assert len(line) < QUOTE_MAX_CHARS + 100
    # The redaction saw the bounded line, never the 8 KB path.
    assert redacted_chars and max(redacted_chars) < QUOTE_MAX_CHARS + 100


async def test_a_short_path_is_quoted_whole(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="users.http"):
        await client.get("/users/v1/nowhere")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "users.http"]
    assert line.startswith("GET /users/v1/nowhere 404 ")
