"""Canaries: each workaround's reliance on a dependency's internals, held against the installed
version (streamapp.workarounds, users_service.adapters.storage.workarounds). One of these
failing after an upgrade says which workaround to revisit: what it relies on changed, or
the upstream bug it works around was fixed."""

from __future__ import annotations

import asyncio
import inspect
import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp.web
import databases
import faust
import mode
import pytest
from aiokafka import AIOKafkaConsumer
from faust.cli.base import AppCommand
from faust.sensors.prometheus import PrometheusMonitor
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Producer
from faust.web.drivers.aiohttp import Web
from users_service_events.records import field_names

from streamapp.app import UsersApp
from streamapp.settings import load_settings
from streamapp.workarounds import faust_worker_command
from streamapp.workarounds.faust_app import existing_consumer, existing_producer
from streamapp.workarounds.faust_consumer import RewindingConsumer, RewindingConsumerThread
from streamapp.workarounds.faust_producer import IdempotentProducer, sender_failure
from streamapp.workarounds.faust_web import set_keepalive_timeout
from streamapp.workarounds.faust_worker import UsersWorker
from users_service.adapters.storage.workarounds import forget_task_connection, query_lock

WRITTEN_FOR = {
    "faust-streaming": "0.15.3",
    "mode-streaming": "0.7.1",
    "aiokafka": "0.14.0",
    "aiohttp": "3.14.5",
    "databases": "0.9.0",
}


@pytest.mark.parametrize(("distribution", "pinned"), sorted(WRITTEN_FOR.items()))
def test_the_workarounds_were_written_for_the_installed_versions(
    distribution: str, pinned: str
) -> None:
    """On an upgrade: read the workarounds of this distribution, run the canaries below,
    then move the pin here with the one in pyproject.toml."""
    assert version(distribution) == pinned


def fresh_app() -> UsersApp:
    return UsersApp(load_settings({}, dotenv=None))


def test_aiokafka_still_skips_partitions_committed_at_zero() -> None:
    """aio-libs/aiokafka#1003: when this fails, aiokafka seeks offset 0 too and
    faust_consumer may go."""
    source = inspect.getsource(AIOKafkaConsumer.seek_to_committed)
    assert "offset > 0" in source


def test_faust_builds_the_rewinding_consumer_and_its_thread() -> None:
    for cls, name in [
        (AIOKafkaConsumerThread, "seek_to_committed"),
        (AIOKafkaConsumerThread, "_ensure_consumer"),
        (AIOKafkaConsumerThread, "call_thread"),
        (Consumer, "_new_consumer_thread"),
    ]:
        assert callable(getattr(cls, name, None)), f"{cls.__name__}.{name}"
    consumer = fresh_app()._new_consumer()
    assert isinstance(consumer, RewindingConsumer)
    assert isinstance(consumer._thread, RewindingConsumerThread)


def test_faust_hands_settings_extra_to_aiokafka_s_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = fresh_app()._new_producer()
    assert isinstance(producer, IdempotentProducer)
    given: dict[str, Any] = {}

    def record(**kwargs: Any) -> object:
        given.update(kwargs)
        return object()

    monkeypatch.setattr(IdempotentProducer, "_producer_type", property(lambda _: record))
    producer._new_producer()
    assert given["enable_idempotence"] is True and given["acks"] == "all"


def test_the_app_s_producer_and_consumer_are_none_until_made() -> None:
    app = fresh_app()
    assert existing_producer(app) is None and existing_consumer(app) is None
    made = app.producer  # the property makes one: why readiness reads the attribute
    assert existing_producer(app) is made


async def test_aiokafka_s_producer_inside_faust_s_knows_the_cluster() -> None:
    producer = fresh_app()._new_producer()
    aiokafka_producer = producer._new_producer()
    try:
        assert aiokafka_producer.client.cluster.brokers() == set()  # not bootstrapped yet
    finally:
        await aiokafka_producer.client.close()
    assert "self._producer" in inspect.getsource(Producer)


async def test_aiohttp_hands_a_runner_s_kwargs_to_its_server() -> None:
    assert callable(getattr(Web, "_new_transport_tcp", None))
    web = Web(fresh_app())
    assert isinstance(web._runner, aiohttp.web.AppRunner)
    runner = aiohttp.web.AppRunner(aiohttp.web.Application())
    holder = type("FaustWeb", (), {"_runner": runner})()
    set_keepalive_timeout(holder, 7.0)
    await runner.setup()
    try:
        assert runner.server is not None
        assert runner.server._kwargs["keepalive_timeout"] == 7.0
    finally:
        await runner.cleanup()


def test_faust_s_prometheus_sensor_still_measures_from_time_end() -> None:
    """When this fails, Faust observes the real latencies and faust_monitor may go."""
    assert 'ms_since(state["time_end"])' in inspect.getsource(PrometheusMonitor.on_web_request_end)
    assert callable(getattr(PrometheusMonitor, "_clear_partition_related_metrics", None))
    assert "self._metrics" in inspect.getsource(PrometheusMonitor.__init__)


def test_the_worker_s_hooks_exist_in_faust_and_mode() -> None:
    for name in ("_schedule_shutdown", "_setup_logging", "on_setup_root_logger"):
        assert callable(getattr(faust.Worker, name, None)), name
        assert getattr(UsersWorker, name) is not getattr(faust.Worker, name)
    source = inspect.getsource(mode.Worker)
    for name in ("self.logging_config", "self.loglevel"):
        assert name in source, name
    # With the spinner gone, Faust adds no spinner handler (nor sets its level to DEBUG).
    worker = object.__new__(faust.Worker)
    worker.spinner = None
    logger = logging.getLogger("canary.spinner")
    handlers = list(logger.handlers)
    faust.Worker.on_setup_root_logger(worker, logger, logging.WARN)
    assert logger.handlers == handlers


def test_defining_a_command_class_registers_it_as_faust_s_worker_command() -> None:
    from faust.cli.faust import cli

    assert callable(getattr(AppCommand, "__init_subclass__", None))
    command = cli.commands["worker"]
    assert command.help == faust_worker_command.worker.__doc__
    assert {p.name for p in command.params} >= {"loglevel", "web_bind", "web_port"}


def test_a_record_s_options_name_its_fields() -> None:
    class Probe(faust.Record):
        a: str
        b: int = 0

    assert field_names(Probe) == {"a", "b"}


async def test_databases_queries_hold_the_connection_s_query_lock(tmp_path: Path) -> None:
    db = databases.Database(f"sqlite:///{tmp_path / 'canary.sqlite3'}")
    await db.connect()
    try:
        async with db.connection() as connection:
            lock = query_lock(connection)
            assert isinstance(lock, asyncio.Lock)
            seen: list[bool] = []
            raw = connection._connection
            original = raw.fetch_val

            async def spy(*args: Any, **kwargs: Any) -> Any:
                seen.append(lock.locked())
                return await original(*args, **kwargs)

            raw.fetch_val = spy  # type: ignore[method-assign]
            assert await connection.fetch_val("SELECT 1") == 1
            assert seen == [True]
    finally:
        await db.disconnect()


async def test_databases_keeps_one_connection_per_task_until_forgotten(tmp_path: Path) -> None:
    db = databases.Database(f"sqlite:///{tmp_path / 'canary.sqlite3'}")
    first = db.connection()
    assert db.connection() is first
    forget_task_connection(db)
    assert db.connection() is not first


async def test_aiokafka_s_sender_still_ends_on_out_of_order_and_is_where_renewal_looks() -> None:
    """aio-libs/aiokafka#1017: when aiokafka recovers from OutOfOrderSequenceNumber itself,
    this fails and faust_producer's renewal may go."""
    from aiokafka.producer.sender import Sender

    assert "OutOfOrderSequenceNumber" in inspect.getsource(Sender._sender_routine)
    aiokafka_producer = fresh_app()._new_producer()._new_producer()
    try:
        assert sender_failure(aiokafka_producer) is None
        assert aiokafka_producer._sender.sender_task is None  # not started
    finally:
        await aiokafka_producer.client.close()
