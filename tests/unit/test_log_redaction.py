"""Every log record, of any logger at any level, is redacted as it is created."""

from __future__ import annotations

import logging

import pytest

from users_service.adapters.log_redaction import install_log_redaction, redact

HASH = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Sending (key=b'k' value=b'{\"password\": \"correct-horse\"}')", "correct-horse"),
        ("{'password': 'hunter2', 'x': 1}", "hunter2"),
        ('value=b\'{\\"password\\": \\"p\\\\"w\\"}\'', 'p\\\\"w'),
        ("password=hunter2 other=1", "hunter2"),
        (f"stored {HASH} for a user", HASH),
        (f'{{"passwordHash": "{HASH}"}}', HASH[7:]),
        ("DATABASE_URL=postgresql://users:s3cret@db:5432/users", "s3cret"),
    ],
)
def test_secrets_are_redacted_and_the_rest_kept(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "<redacted>" in cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "email=a@b.io passwordless login enabled; 3 users"
    assert redact(text) == text


def test_every_logger_at_every_level_goes_through_it(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aiokafka.producer").debug(
            "Sending (key=%r value=%r)", b"k", b'{"password": "Secret-123"}'
        )
        logging.getLogger("some.library").warning("login %s", "password=Secret-456")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Secret-123" not in text and "Secret-456" not in text
    assert "Sending" in text and "login" in text


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcHMiLCJzY29wZSI6Im9wczpyZWFkIn0"
    ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
)


@pytest.mark.parametrize(
    "text",
    [f"Authorization: Bearer {JWT}", f"token {JWT} rejected", f"bearer opaque-{JWT[:20]}"],
)
def test_bearer_tokens_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert JWT[:20] not in cleaned and JWT not in cleaned
    assert "<redacted>" in cleaned
