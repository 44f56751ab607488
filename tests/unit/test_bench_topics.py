"""`make bench` deletes the topics of its earlier runs, and only those."""

from __future__ import annotations

import pytest

from bench.harness import is_bench_topic


@pytest.mark.parametrize(
    "name",
    [
        "user.created.bench-3f2a9c01de",
        "user.create.dlq.bench-3f2a9c01de",
        "bench-3f2a9c01de-__assignor-__leader",
        "bare.bench-1764420000000000000",
    ],
)
def test_a_benchmark_runs_topic_is_deleted(name: str) -> None:
    assert is_bench_topic(name)


@pytest.mark.parametrize(
    "name",
    ["user.created", "user.create", "user.create.dlq", "user.created.test-ab12", "benchmarks"],
)
def test_a_topic_of_the_service_or_the_tests_is_kept(name: str) -> None:
    assert not is_bench_topic(name)
