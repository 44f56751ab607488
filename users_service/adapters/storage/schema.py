"""Table definitions (SQLAlchemy Core) shared by PostgreSQL and SQLite.

Today's tables, for queries and for comparing with the migrations' result; the migrations
themselves (`alembic/versions/`) never import them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

UtcDateTime = sa.DateTime(timezone=True)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("nombre", sa.String(100), nullable=False),
    # Stored normalized (trimmed, lower-cased): uniqueness is case-insensitive.
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("password_hash", sa.String(60), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("email", name="users_email_key"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    # Insertion order is publication order: per-key order follows from it.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("aggregate_type", sa.String(50), nullable=False),
    sa.Column("aggregate_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(50), nullable=False),
    sa.Column("topic", sa.String(249), nullable=False),
    sa.Column("message_key", sa.String(255), nullable=False),
    # sharding.key_hash(message_key): the shard is this modulo OUTBOX_SHARDS.
    sa.Column("key_hash", sa.Integer, nullable=False, server_default="0"),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    # The W3C trace context the message was created in (none while tracing is off): the
    # relay publishes it, however late, so the event stays in its creator's trace.
    sa.Column("traceparent", sa.String(55), nullable=True),
    sa.Column("tracestate", sa.String(512), nullable=True),
    # A fast-path claim: the creating worker publishes the row itself until then.
    sa.Column("claimed_by", sa.String(100), nullable=True),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
    # Set when a row failed OUTBOX_MAX_ATTEMPTS times for reasons of its own (not an outage).
    sa.Column("parked_at", UtcDateTime, nullable=True),
)
sa.Index(
    "outbox_pending_idx",
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)
sa.Index("outbox_published_at_idx", outbox.c.published_at)
sa.Index("outbox_key_idx", outbox.c.topic, outbox.c.message_key)
# The relay's "is an older message of this key still claimed?" check reads only these.
sa.Index(
    "outbox_claimed_idx",
    outbox.c.topic,
    outbox.c.message_key,
    postgresql_where=sa.and_(outbox.c.claimed_until.is_not(None), outbox.c.published_at.is_(None)),
    sqlite_where=sa.and_(outbox.c.claimed_until.is_not(None), outbox.c.published_at.is_(None)),
)

# Commands already handled, with their outcome: what makes a redelivered command a no-op.
processed_commands = sa.Table(
    "processed_commands",
    metadata,
    sa.Column("command_id", sa.String(36), primary_key=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=True),
    sa.Column("code", sa.String(50), nullable=True),
    sa.Column("processed_at", UtcDateTime, nullable=False),
)

# Idempotency-Key of a POST that created a user: a retry with the key gets the same answer.
# No password-derived value is stored: the body's fingerprint leaves the password out, and
# a retry's password is checked against the user's bcrypt hash instead.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)

# One row per relay role; whoever holds an unexpired lease is the only publisher.
relay_leases = sa.Table(
    "outbox_relay_leases",
    metadata,
    # "outbox-relay", "outbox-relay:<shard>/<shards>", or "relay-member:<holder>" (a
    # relay's heartbeat, by which the others count the live relays).
    sa.Column("name", sa.String(150), primary_key=True),
    sa.Column("holder", sa.String(100), nullable=True),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    # The fencing token: incremented each time the lease changes hands.
    sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
)

# What the self-verifying consumer saw, so reconciliation survives restarts.
event_verifications = sa.Table(
    "event_verifications",
    metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("aggregate_id", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("verified_at", UtcDateTime, nullable=False),
)
sa.Index("event_verifications_aggregate_idx", event_verifications.c.aggregate_id)

# Who was erased and when (GDPR Art. 17): the id and the time only, never a name or email.
erased_users = sa.Table(
    "erased_users",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("erased_at", UtcDateTime, nullable=False),
)
sa.Index("erased_users_erased_at_idx", erased_users.c.erased_at)
