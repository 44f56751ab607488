"""faust-streaming 0.15.3's Prometheus sensor records ~0 ms for three latencies; ours
records the real ones. Both are driven by the same fake clock."""

from __future__ import annotations

from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry

from streamapp.workarounds.faust_monitor import CorrectedPrometheusMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Response:
    status = 201


def drive(monitor_class: type[PrometheusMonitor]) -> dict[str, float]:
    """A 250 ms request and a rebalance returning after 1.5 s and ending after 4 s; the
    histograms' sums in ms."""
    registry = CollectorRegistry()
    clock = Clock()
    monitor: Any = monitor_class(metrics=FaustMetrics.create(registry, "t"))
    monitor.time = clock
    app: Any = type("App", (), {"rebalancing_count": 1})()
    state = monitor.on_web_request_start(app, None)
    clock.now += 0.25
    monitor.on_web_request_end(app, None, Response(), state)
    rebalance = monitor.on_rebalance_start(app)
    clock.now += 1.5
    monitor.on_rebalance_return(app, rebalance)
    clock.now += 2.5
    monitor.on_rebalance_end(app, rebalance)
    names = ("t_http_latency", "t_rebalance_done_consumer_latency", "t_rebalance_done_latency")
    sums: dict[str, float] = {}
    for name in names:
        found = registry.get_sample_value(f"{name}_sum")
        assert found is not None, f"no {name}_sum in the registry"  # missing is not zero
        sums[name] = found
    return sums


def test_faust_sensor_as_released_records_zero_latencies() -> None:
    # The defect this module corrects; if an upgrade fixes it, this fails and says so.
    assert drive(PrometheusMonitor) == {
        "t_http_latency": 0.0,
        "t_rebalance_done_consumer_latency": 0.0,
        "t_rebalance_done_latency": 0.0,
    }


def test_corrected_sensor_records_the_real_latencies_in_ms() -> None:
    assert drive(CorrectedPrometheusMonitor) == {
        "t_http_latency": 250.0,
        "t_rebalance_done_consumer_latency": 1500.0,
        "t_rebalance_done_latency": 4000.0,
    }
