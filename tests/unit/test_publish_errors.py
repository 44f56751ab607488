"""How a failed send is described to operators (the status endpoint's lastError)."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError

from users_service.adapters.kafka.publisher import failure


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # aiokafka's own message starts with the class name: it must not appear twice.
        (KafkaConnectionError("Unable to bootstrap"), "KafkaConnectionError: Unable to bootstrap"),
        (KafkaTimeoutError(), "KafkaTimeoutError"),
        (
            NotLeaderForPartitionError(),
            "NotLeaderForPartitionError: [Error 6] NotLeaderForPartitionError",
        ),
        (
            OSError(111, "Connect call failed"),
            "ConnectionRefusedError: [Errno 111] Connect call failed",
        ),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_the_error_names_its_exception_once(exc: BaseException, expected: str) -> None:
    assert failure(exc).error == expected
