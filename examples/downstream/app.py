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
* `domain_of_user`: each counted user's email domain (the domain only), by user id, so
  that a `USER_DELETED` (the user was erased, `user.deleted`) takes the user out of its
  domain's count. An erased user's id stays, marked forgotten, so a late or replayed
  USER_CREATED of it is not counted again.

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
from users_service_events.records import UserCreated, UserDeleted

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
    # A broker just restarted may list no topics: a group that joins then is assigned none,
    # and without this would look again only after Kafka's default five minutes.
    consumer_metadata_max_age_ms=30_000,
)

user_created = app.topic(
    os.environ.get("KAFKA_USER_CREATED_TOPIC", "user.created"),
    key_type=bytes,
    value_type=UserCreated,
)
user_deleted = app.topic(
    os.environ.get("KAFKA_USER_DELETED_TOPIC", "user.deleted"),
    key_type=bytes,
    value_type=UserDeleted,
)


class Forgotten(faust.Record, include_metadata=False, serializer="json"):
    """An erased user to take out of its domain's count."""

    domain: str
    userId: str


# Faust would name it after the agent's module path and the source topic, not the group:
# two apps of this code with different groups would then share one and each count the
# other's copies as duplicates.
by_domain = app.topic(
    f"{app.conf.id}-signups-by-domain-repartition",
    key_type=str,
    value_type=UserCreated,
    internal=True,
)
forgotten_by_domain = app.topic(
    f"{app.conf.id}-forgotten-by-domain-repartition",
    key_type=str,
    value_type=Forgotten,
    internal=True,
)
signups_by_domain = app.Table("signups_by_domain", default=int)
# Keyed by user id, beside user.created and user.deleted: as many partitions as they have.
domain_of_user = app.Table(
    "domain_of_user", default=str, partitions=int(os.environ.get("KAFKA_PARTITIONS", "3"))
)
FORGOTTEN = ""  # the user was erased: the domain is forgotten, the id kept as a marker
seen_events = SeenEvents(app, "seen_event_ids", window=timedelta(days=7))
# The consumer starts once the topic it reads exists and its own topics are created.
app.boot_strategy = TopicsFirst(
    app,
    reads=[user_created, user_deleted],
    creates=[
        by_domain,
        forgotten_by_domain,
        signups_by_domain.changelog_topic,
        domain_of_user.changelog_topic,
        seen_events.table.table.changelog_topic,
    ],
)
# With OTEL_* set: each event's processing is a span in the trace it carries.
setup_tracing(app)
# This worker's count of redeliveries it ignored since it started (shown, not stored).
ignored = {"duplicates": 0}


def email_domain(event: UserCreated) -> str:
    """The part after the `@`, as the service stores it (lower-case)."""
    return event.data.email.rsplit("@", 1)[1]


@app.agent(user_created)
async def remember_domains(events: faust.StreamT[UserCreated]) -> None:
    """Remember each user's domain, then count it under its domain (re-keyed by domain)."""
    async for event in events:
        if event.data.id in domain_of_user and domain_of_user[event.data.id] == FORGOTTEN:
            continue  # erased: its USER_DELETED came first (another topic, no order)
        domain_of_user[event.data.id] = email_domain(event)
        await by_domain.send(key=email_domain(event), value=event)


@app.agent(by_domain)
async def count_signups(events: faust.StreamT[UserCreated]) -> None:
    """Count each new user once under its email domain."""
    async for event in events:
        if not seen_events.first_delivery(event.eventId):
            ignored["duplicates"] += 1  # a redelivery: already counted
            continue
        signups_by_domain[email_domain(event)] += 1


@app.agent(user_deleted)
async def forget_users(events: faust.StreamT[UserDeleted]) -> None:
    """An erased user: forget its domain, and take it out of that domain's count."""
    async for event in events:
        domain = domain_of_user.get(event.data.id)
        domain_of_user[event.data.id] = FORGOTTEN
        if domain:  # None: never counted here; FORGOTTEN: a redelivered USER_DELETED
            await forgotten_by_domain.send(
                key=domain, value=Forgotten(domain=domain, userId=event.data.id)
            )


@app.agent(forgotten_by_domain)
async def uncount_signups(events: faust.StreamT[Forgotten]) -> None:
    """Take an erased user out of its domain's count; a domain counted down to 0 goes."""
    async for forgotten in events:
        left = signups_by_domain[forgotten.domain] - 1
        if left > 0:
            signups_by_domain[forgotten.domain] = left
        else:
            signups_by_domain.pop(forgotten.domain, None)


@app.page("/signups/domains")
class Domains(View):
    """`{"domains": {"example.com": 2, …}, "duplicatesIgnored": 0}`: the counts this
    worker's partitions hold."""

    async def get(self, request: Request) -> Response:
        domains: dict[str, Any] = dict(signups_by_domain.items())
        return self.json({"domains": domains, "duplicatesIgnored": ignored["duplicates"]})
