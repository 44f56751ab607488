"""At most once per `eventId`, on top of the at-least-once delivery of every event.

An event can arrive twice: a relay's retry after a crash, an operator's replay. A
consumer that counts or charges must recognize the second copy. `SeenEvents` remembers the
ids it has seen in the consumer's own Faust Table, for a bounded window: a tumbling
windowed table whose windows expire, so memory and the changelog (retention = the window)
stay bounded however long the consumer runs. Needs the `faust` extra.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import faust


class SeenEvents:
    """The event ids this consumer has handled in the last `window` (of event time: the
    messages' timestamps), in a windowed Table named `name`.

    Call `first_delivery` while iterating the stream (inside the agent), for every event:
    the table's changelog partition is the current event's, so every copy of an event must
    come through the same partition, as it does when the stream's key is the event's key
    (or a value of the event, as after `group_by`).
    """

    def __init__(
        self,
        app: faust.App,
        name: str = "seen_events",
        *,
        window: timedelta = timedelta(days=7),
        buckets: int = 7,
        partitions: int | None = None,
    ) -> None:
        if buckets < 1 or window.total_seconds() <= 0:
            raise ValueError("window must be positive and buckets at least 1")
        self.window = window
        self.buckets = buckets
        # The window in `buckets` tumbling windows: an id is looked up in each, and
        # windows older than the whole are dropped (locally, and by the changelog's
        # retention), a bucket after they leave it.
        self._bucket = window.total_seconds() / buckets
        self.table: Any = (
            app.Table(
                name,
                default=bool,
                partitions=partitions,
                help="eventIds already handled (users_service_events.dedup)",
            )
            .tumbling(self._bucket, expires=window + timedelta(seconds=self._bucket))
            .relative_to_stream()
        )

    def first_delivery(self, event_id: str) -> bool:
        """True the first time `event_id` comes within the window (it is remembered now);
        False for a copy of an event already seen."""
        seen = self.table[event_id]
        if any(seen.delta(step * self._bucket) for step in range(self.buckets + 1)):
            return False
        self.table[event_id] = True
        return True
