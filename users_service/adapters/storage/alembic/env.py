"""Alembic's environment: migrations run on the connection the runner hands over.

The runner (`users_service.adapters.storage.migrations`) opens that connection, takes
PostgreSQL's advisory lock on it, and keeps it in one transaction, so concurrent workers
migrate one after another.
"""

from __future__ import annotations

from alembic import context

from users_service.adapters.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations with `users-service migrate` (or migrations.upgrade_to_head), "
        "which opens the connection and takes the migration lock"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
