"""How a failed send is described to operators (the status endpoint's lastError), and
whether it is an outage (not counted towards parking) or the message's own fault."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)
from faust.exceptions import ProducerSendError

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


def wrapped_by_faust(exc: BaseException) -> ProducerSendError:
    """What Faust's Producer.send raises for an aiokafka error: its own, `from` the cause."""
    try:
        raise ProducerSendError(f"Error while sending: {exc!r}") from exc
    except ProducerSendError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (KafkaTimeoutError(), True),
        (wrapped_by_faust(KafkaTimeoutError()), True),  # counted as the message's fault before
        (wrapped_by_faust(NotLeaderForPartitionError()), True),
        (wrapped_by_faust(MessageSizeTooLargeError()), False),
        (MessageSizeTooLargeError(), False),
    ],
)
def test_an_outage_is_told_from_the_message_s_fault_through_faust_s_wrapper(
    exc: BaseException, outage: bool
) -> None:
    assert failure(exc).outage is outage
