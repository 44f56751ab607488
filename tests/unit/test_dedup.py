"""The events package's dedup helper in a real Faust app, in process (`test_context`):
at most once per eventId within the window, every id again once the window has passed."""

from __future__ import annotations

from datetime import timedelta

import faust
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from users_service_events.dedup import SeenEvents

from tests.support.waiting import eventually

WINDOW = timedelta(hours=1)
BUCKETS = 4
BUCKET = WINDOW.total_seconds() / BUCKETS
START = 1_800_000_000.0  # message timestamps, seconds (a multiple of BUCKET)

app = faust.App("dedup-in-process", store="memory://", autodiscover=False)
seen = SeenEvents(app, "dedup_in_process_seen", window=WINDOW, buckets=BUCKETS)
channel = app.channel(schema=faust.Schema(key_serializer="raw", value_serializer="raw"))
firsts: list[tuple[str, bool]] = []


@app.agent(channel)
async def handle(stream: faust.StreamT[bytes]) -> None:
    async for value in stream:
        event_id = value.decode()
        firsts.append((event_id, seen.first_delivery(event_id)))


async def deliver(deliveries: list[tuple[str, float]]) -> list[bool]:
    """Each (eventId, message timestamp) through the agent; first_delivery of each."""
    firsts.clear()
    async with handle.test_context() as agent:
        for event_id, timestamp in deliveries:
            await agent.put(event_id.encode(), key=event_id.encode(), timestamp=timestamp)

        async def all_handled() -> bool:
            return len(firsts) == len(deliveries)

        await eventually(all_handled, timeout=10, what="every delivery handled")
    return [first for _, first in firsts]


def forget_all() -> None:
    seen.table.table.data.clear()


@pytest.fixture(autouse=True)
def fresh_table() -> None:
    app.finalize()
    app.flow_control.resume()
    forget_all()


async def test_a_redelivery_is_not_a_first_delivery() -> None:
    assert await deliver([("a", START), ("b", START + 1), ("a", START + 2)]) == [True, True, False]


async def test_an_id_is_forgotten_once_the_window_has_passed() -> None:
    later = START + WINDOW.total_seconds() + 2 * BUCKET
    assert await deliver([("a", START), ("a", START + BUCKET), ("a", later)]) == [
        True,
        False,
        True,
    ]


def model(deliveries: list[tuple[str, float]]) -> list[bool]:
    """The contract, bucket by bucket: a copy is recognized while its first delivery's
    bucket is at most BUCKETS behind the copy's."""
    remembered: dict[str, int] = {}
    answers = []
    for event_id, timestamp in deliveries:
        bucket = int(timestamp // BUCKET)
        first = event_id not in remembered or bucket - remembered[event_id] > BUCKETS
        if first:
            remembered[event_id] = bucket
        answers.append(first)
    return answers


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 12 * BUCKETS - 1)),
        max_size=12,
    )
)
async def test_first_deliveries_follow_the_window(steps: list[tuple[str, int]]) -> None:
    # In time order (of buckets), as a partition delivers them; a quarter-bucket apart.
    deliveries = [
        (event_id, START + quarter * BUCKET / 4)
        for event_id, quarter in sorted(steps, key=lambda s: s[1])
    ]
    forget_all()
    assert await deliver(deliveries) == model(deliveries)
