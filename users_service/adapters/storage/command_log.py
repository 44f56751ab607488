"""`processed_commands`: the outcome of each command handled, so a redelivery is a no-op."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import databases
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess
from users_service.adapters.storage.statements import Prepared
from users_service.adapters.storage.writes import (
    Immediate,
    Write,
    Writes,
    conflict_on,
    insert_every_column,
)
from users_service.domain.clock import utc_now
from users_service.domain.commands import CommandOutcome
from users_service.domain.errors import CommandAlreadyHandled


class DatabaseCommandLog(DatabaseAccess):
    """CommandLog on `processed_commands`; `writes` holds its records for the unit of work's
    commit (at once without it)."""

    def __init__(
        self,
        database: databases.Database,
        clock: Callable[[], datetime] = utc_now,
        writes: Writes | None = None,
    ) -> None:
        super().__init__(database, clock)
        self._writes = writes if writes is not None else Immediate(database)

    async def outcome(self, command_id: str) -> CommandOutcome | None:
        row = await _OUTCOME.fetch_one(self._db, command_id=command_id)
        if row is None:
            return None
        return CommandOutcome(
            command_id=row["command_id"],
            result=row["outcome"],
            user_id=row["user_id"],
            code=row["code"],
            duplicate=True,
        )

    async def record(self, outcome: CommandOutcome) -> None:
        command_id = outcome.command_id
        assert command_id is not None
        values = {
            "command_id": command_id,
            "outcome": outcome.result,
            "user_id": outcome.user_id,
            "code": outcome.code,
            "processed_at": self._clock(),
        }
        await self._writes.submit(
            Write(
                _INSERT_OUTCOME,
                values,
                conflict=conflict_on(
                    "processed_commands_pkey",
                    "processed_commands.command_id",
                    lambda: CommandAlreadyHandled(command_id),
                ),
            )
        )


# Asked for every command consumed: compiled once (statements.Prepared).
_OUTCOME = Prepared(
    schema.processed_commands.select().where(
        schema.processed_commands.c.command_id == sa.bindparam("command_id", type_=sa.String)
    )
)
_INSERT_OUTCOME = insert_every_column(schema.processed_commands)
