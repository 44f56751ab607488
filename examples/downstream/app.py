"""Sign-ups per email domain: what another team writes to consume `user.created`.

It depends on the users service's contract only: the `users-service-events` distribution
(`users_service_events`: the `UserCreated` Record and the dedup helper), never the service
itself. It has its own consumer group, reads every event through the Record, and keeps
two Faust Tables:

* `seen_event_ids` (`SeenEvents`): the `eventId`s counted in the last seven days (the
  service keeps a published event that long, so that is how late its replay can come).
  Delivery is at least once, so an event can come twice (a relay retry, a replay);
  counting it once is the consumer's job.
* `signups_by_domain`: the count per email domain, shown at `GET /signups/domains`.

The stream is re-keyed by domain (`group_by`, through a repartition topic named after
this app's group), so each domain's count lives in one partition of the tables'
changelogs, however many workers share the group.

The consumer starts only once `user.created` exists and this app's own topics are
created (`topics_ready`): started before the users service, it still counts every event
from the topic's start.

With any `OTEL_*` variable set (`OTEL_SERVICE_NAME`, `OTEL_TRACES_EXPORTER=zipkin`, …) it
traces each event it processes in the sign-up's trace (`tracing.py`).

Run it beside the service (same broker, its own port):

    KAFKA_BROKER=127.0.0.1:9092 faust -A examples.downstream.app worker --web-port 6067
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import faust
from faust.web import Request, Response, View
from users_service_events.dedup import SeenEvents
from users_service_events.records import UserCreated

from examples.downstream.topics_ready import TopicsFirst
from examples.downstream.tracing import setup_tracing

app = faust.App(
    os.environ.get("DOWNSTREAM_GROUP_ID", "signups-by-domain"),
    broker=";".join(
        f"kafka://{b.strip()}" for b in os.environ.get("KAFKA_BROKER", "127.0.0.1:9092").split(",")
    ),
    store="memory://",
    topic_replication_factor=int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")),
    datadir=os.environ.get("DOWNSTREAM_DATA_DIR", ".cache/downstream"),
    web_port=int(os.environ.get("DOWNSTREAM_WEB_PORT", "6067")),
    web_bind="127.0.0.1",
    # A new group reads the topic from its start: every user ever created is counted.
    consumer_auto_offset_reset="earliest",
)

user_created = app.topic(
    os.environ.get("KAFKA_USER_CREATED_TOPIC", "user.created"),
    key_type=bytes,
    value_type=UserCreated,
)
# Faust would name it after the agent's module path and the source topic, not the group:
# two apps of this code with different groups would then share one and each count the
# other's copies as duplicates.
by_domain = app.topic(
    f"{app.conf.id}-signups-by-domain-repartition",
    key_type=str,
    value_type=UserCreated,
    internal=True,
)
signups_by_domain = app.Table("signups_by_domain", default=int)
seen_events = SeenEvents(app, "seen_event_ids", window=timedelta(days=7))
# The consumer starts once the topic it reads exists and its own topics are created.
app.boot_strategy = TopicsFirst(
    app,
    reads=[user_created],
    creates=[by_domain, signups_by_domain.changelog_topic, seen_events.table.table.changelog_topic],
)
# With OTEL_* set: each event's processing is a span in the trace it carries.
setup_tracing(app)
# This worker's count of redeliveries it ignored since it started (shown, not stored).
ignored = {"duplicates": 0}


def email_domain(event: UserCreated) -> str:
    """The part after the `@`, as the service stores it (lower-case)."""
    return event.data.email.rsplit("@", 1)[1]


@app.agent(user_created)
async def count_signups(events: faust.StreamT[UserCreated]) -> None:
    """Count each new user once under its email domain."""
    async for event in events.group_by(email_domain, name="signups-by-domain", topic=by_domain):
        if not seen_events.first_delivery(event.eventId):
            ignored["duplicates"] += 1  # a redelivery: already counted
            continue
        signups_by_domain[email_domain(event)] += 1


@app.page("/signups/domains")
class Domains(View):
    """`{"domains": {"example.com": 2, …}, "duplicatesIgnored": 0}`: the counts this
    worker's partitions hold."""

    async def get(self, request: Request) -> Response:
        domains: dict[str, Any] = dict(signups_by_domain.items())
        return self.json({"domains": domains, "duplicatesIgnored": ignored["duplicates"]})
