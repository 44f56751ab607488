"""Prometheus metrics: Faust's own sensor (corrected: streamapp.workarounds.faust_monitor),
consumer lag, and the service's metrics, read from the in-memory counts the service
layer keeps (it knows nothing of Prometheus).

One registry per app. The service's collector is registered when the app is given its
wiring, so a test that wires the app again replaces it instead of colliding with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from streamapp.workarounds.faust_monitor import CorrectedPrometheusMonitor
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.adapters.passwords import BcryptHasher
from users_service.domain.errors import StorageUnavailable
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.status import ServiceStatus, StatusReport
from users_service.service_layer.verifier import Verifier

log = logging.getLogger("users.metrics")

FAUST_PREFIX = "faust"
# Seconds; a creation is dominated by bcrypt (about 0.25 s at cost 12 on this machine).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BCRYPT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def faust_monitor(registry: CollectorRegistry) -> CorrectedPrometheusMonitor:
    """Faust's sensor, its metrics named `faust_*` in `registry`."""
    return CorrectedPrometheusMonitor(metrics=FaustMetrics.create(registry, FAUST_PREFIX))


class ConsumerLag(Collector):
    """`kafka_consumer_lag{topic,partition}`: the partition's end offset minus the offset
    this worker committed, for the partitions it holds (from Faust's monitor, which tracks
    both; the partitions it has not committed yet are left out rather than guessed)."""

    def __init__(self, monitor: Callable[[], Monitor]) -> None:
        self.monitor = monitor

    def collect(self) -> Iterable[Metric]:
        monitor = self.monitor()
        lag = GaugeMetricFamily(
            "kafka_consumer_lag",
            "End offset minus committed offset, per partition this worker holds",
            labels=["topic", "partition"],
        )
        committed = monitor.tp_committed_offsets or {}
        for tp, end in sorted((monitor.tp_end_offsets or {}).items()):
            if tp in committed:
                lag.add_metric([tp.topic, str(tp.partition)], max(0, end - committed[tp]))
        yield lag


class ServiceMetrics(Collector):
    """The service's own metrics. Counters kept by the service layer are read at each
    scrape; what lives in the database is read by `refresh()` just before it (cached by
    the status query for a second)."""

    def __init__(
        self,
        *,
        counts: OutcomeCounts,
        health: PublishHealth,
        verifier: Verifier,
        hasher: BcryptHasher,
        dead_letters: DeadLetters,
        status: ServiceStatus,
    ) -> None:
        self.counts = counts
        self.health = health
        self.verifier = verifier
        self.hasher = hasher
        self.dead_letters = dead_letters
        self.status = status
        self.report: StatusReport | None = None
        self.database_up = True
        # Not registered anywhere: this collector yields them.
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=None,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time from request to response, by route template and method",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=None,
        )
        self.bcrypt_seconds = Histogram(
            "bcrypt_seconds",
            "Time one bcrypt hash or check takes on its thread (queueing not included)",
            buckets=BCRYPT_BUCKETS,
            registry=None,
        )

    async def refresh(self) -> None:
        """Read the database's part (backlog, reconciliation); a database that does not
        answer leaves those out and sets `users_database_up` to 0."""
        try:
            self.report = await self.status.report()
            self.database_up = True
        except StorageUnavailable:
            self.report = None
            self.database_up = False

    def collect(self) -> Iterator[Metric]:
        for metric in (self.http_requests, self.http_duration, self.bcrypt_seconds):
            yield from metric.collect()
        yield from self._use_cases()
        yield from self._outbox()
        yield from self._verifier()
        yield self._gauge("users_database_up", "1 when the last read answered", self.database_up)

    def _use_cases(self) -> Iterator[Metric]:
        created = CounterMetricFamily(
            "users_created", "Users created, by channel", labels=["channel"]
        )
        for channel in ("http", "command"):
            created.add_metric([channel], self.counts.created[channel])
        yield created
        rejected = CounterMetricFamily(
            "user_create_rejected",
            "Creations refused, by code and channel",
            labels=["code", "channel"],
        )
        for (channel, code), value in sorted(self.counts.rejected.items()):
            rejected.add_metric([code, channel], value)
        yield rejected
        commands = CounterMetricFamily(
            "commands_processed", "CreateUser commands by outcome", labels=["outcome"]
        )
        for outcome in ("created", "rejected", "redelivered"):
            commands.add_metric([outcome], self.counts.commands[outcome])
        commands.add_metric(["dead_lettered"], sum(self.dead_letters.parked.values()))
        yield commands
        parked = CounterMetricFamily(
            "commands_dead_lettered", "Commands parked on the DLQ, by reason", labels=["reason"]
        )
        for reason, value in sorted(self.dead_letters.parked.items()):
            parked.add_metric([reason], value)
        yield parked
        slots = self.hasher.slots
        yield self._gauge("hash_queue_depth", "Hashes waiting for a bcrypt thread", slots.waiting)
        yield self._gauge(
            "hash_in_progress", "Hashes on the bcrypt threads (running or next)", slots.running
        )
        hasher = GaugeMetricFamily(
            "users_password_hasher_info",
            "The bcrypt implementation the start-up self-test chose (always 1)",
            labels=["implementation"],
        )
        hasher.add_metric([self.hasher.implementation], 1)
        yield hasher

    def _outbox(self) -> Iterator[Metric]:
        published = CounterMetricFamily(
            "outbox_published",
            "Events Kafka acknowledged, by path (fast: after the commit; relay: from the table)",
            labels=["path"],
        )
        for path in ("fast", "relay"):
            published.add_metric([path], self.health.published_by_path[path])
        yield published
        yield CounterMetricFamily(
            "outbox_publish_failures",
            "Events Kafka did not acknowledge (they stay in the outbox and are retried)",
            value=self.health.failures_total,
        )
        report = self.report
        if report is not None:
            yield self._gauge(
                "outbox_relay_leader",
                "1 when this worker holds the relay lease (with shards, at least one)",
                report.relay_leader,
            )
            yield self._gauge(
                "outbox_relay_shards",
                "How many outbox shards this worker publishes (1 without shards)",
                len(report.relay_shards),
            )
            yield self._gauge(
                "outbox_relay_shard_conflict",
                "1 when relays with another OUTBOX_SHARDS are in force: this worker relays nothing",
                report.relay_shard_conflict is not None,
            )
            backlog = report.backlog
            yield self._gauge("outbox_pending", "Events waiting to be published", backlog.pending)
            yield self._gauge(
                "outbox_oldest_pending_seconds",
                "Age of the oldest event waiting (0 when none waits)",
                report.age(backlog.oldest_pending_created_at) or 0.0,
            )
            yield self._gauge(
                "outbox_parked", "Events parked after too many refusals", backlog.parked
            )
            recon = report.reconciliation
            yield self._gauge(
                "users_unverified",
                "Stored users whose USER_CREATED the verifier has not seen",
                recon.unverified_users,
            )
            yield self._gauge(
                "users_unverified_oldest_seconds",
                "Age of the oldest unverified user (0 when none)",
                report.age(recon.oldest_unverified_created_at) or 0.0,
            )

    def _verifier(self) -> Iterator[Metric]:
        counts = self.verifier.counts
        events = CounterMetricFamily(
            "verifier_events",
            "user.created messages checked, by outcome (and reason for failures)",
            labels=["outcome", "reason"],
        )
        events.add_metric(["verified", ""], counts.verified)
        events.add_metric(["duplicate", ""], counts.duplicates)
        for reason, value in sorted(counts.failures.items()):
            events.add_metric(["failed", reason], value)
        yield events

    @staticmethod
    def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, documentation, value=float(value))


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(registry)


def render_for(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The registry in the format a scraper's Accept header asks for, and its content
    type: OpenMetrics (the only one that carries exemplars: the trace of a slow request
    beside the HTTP latency histogram's bucket) when asked, else Prometheus' text."""
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type
