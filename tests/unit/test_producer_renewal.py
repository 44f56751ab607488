"""The app's producer is replaced once its idempotence state broke (aio-libs/aiokafka#1017):
a send that failed with OutOfOrderSequenceNumber, or a sender task that ended, makes the
next send start a new aiokafka producer first. Faust's own send is faked here; the e2e test
`test_a_broker_restarted_under_sign_ups_parks_no_event` holds it against a real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber
from faust.transport.drivers.aiokafka import Producer

from streamapp.app import UsersApp
from streamapp.settings import load_settings
from streamapp.workarounds.faust_producer import IdempotentProducer


class FakeAIOKafkaProducer:
    def __init__(self) -> None:
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def producer(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[IdempotentProducer, list[FakeAIOKafkaProducer]]:
    app = UsersApp(load_settings({}, dotenv=None))
    made: list[FakeAIOKafkaProducer] = []

    def new_producer(transactional_id: str | None = None) -> FakeAIOKafkaProducer:
        made.append(FakeAIOKafkaProducer())
        return made[-1]

    async def faust_send(self: Producer, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    monkeypatch.setattr(Producer, "send", faust_send)
    faust_producer = app.producer
    assert isinstance(faust_producer, IdempotentProducer)
    monkeypatch.setattr(faust_producer, "_new_producer", new_producer)
    faust_producer._producer = new_producer()  # as on_start leaves it
    return faust_producer, made


async def failed(future: asyncio.Future[Any], exc: Exception) -> None:
    future.set_exception(exc)
    with pytest.raises(type(exc)):
        await future
    await asyncio.sleep(0)  # one turn: the future's done-callbacks run in it


async def test_a_send_failed_out_of_order_makes_the_next_send_renew_the_producer(
    producer: tuple[IdempotentProducer, list[FakeAIOKafkaProducer]],
) -> None:
    faust_producer, made = producer
    first = made[0]
    await failed(
        await faust_producer.send("t", b"k", b"v", None, None, None), OutOfOrderSequenceNumber()
    )
    assert len(made) == 1  # nothing replaced until a send needs the producer

    await faust_producer.send("t", b"k", b"v", None, None, None)
    assert len(made) == 2 and made[1].started and faust_producer._producer is made[1]
    assert first.stopped


async def test_an_outage_or_a_late_failure_of_the_old_producer_renews_nothing(
    producer: tuple[IdempotentProducer, list[FakeAIOKafkaProducer]],
) -> None:
    faust_producer, made = producer
    await failed(await faust_producer.send("t", b"k", b"v", None, None, None), KafkaTimeoutError())
    await faust_producer.send("t", b"k", b"v", None, None, None)
    assert len(made) == 1  # a timeout is Kafka away, not the producer broken

    late = await faust_producer.send("t", b"k", b"v", None, None, None)
    await failed(
        await faust_producer.send("t", b"k", b"v", None, None, None), OutOfOrderSequenceNumber()
    )
    await faust_producer.send("t", b"k", b"v", None, None, None)
    assert len(made) == 2
    await failed(late, OutOfOrderSequenceNumber())  # sent through the producer now replaced
    await faust_producer.send("t", b"k", b"v", None, None, None)
    assert len(made) == 2
