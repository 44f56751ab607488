"""Found by the adversarial run: secrets that survive redaction in real worker log lines.

aiokafka's DEBUG FetchResponse line and aiohttp's parser errors quote raw bytes as a
`bytes` repr, where whitespace is escaped (`\\n`, `\\t`) and a JSON key may be
\\u-escaped. Each case below was seen verbatim in a worker's DEBUG log.
"""

from __future__ import annotations

import pytest

from users_service.adapters.log_redaction import redact

SECRET = "hunter2hunter2"

QUOTED_BYTES = [
    # a command {"password" :\n "…"}: only the escaped newline was redacted
    b'{"password" :\n "' + SECRET.encode() + b'"}',
    # a JSON key spelt with an escape: JSON reads it as "password"
    b'{"pass\\u0077ord":"' + SECRET.encode() + b'"}',
    b'{"\\u0070assword": "' + SECRET.encode() + b'"}',
    # a request line aiohttp refuses, quoted in its ERROR traceback
    b"GET /x?password\t=" + SECRET.encode() + b" HTTP/1.1",
]


@pytest.mark.parametrize("raw", QUOTED_BYTES, ids=repr)
def test_a_password_quoted_in_a_bytes_repr_is_redacted(raw: bytes) -> None:
    assert SECRET not in redact(repr(raw))
