"""`processed_commands`: the outcome of each command handled, so a redelivery is a no-op."""

from __future__ import annotations

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS
from users_service.domain.commands import CommandOutcome
from users_service.domain.errors import CommandAlreadyHandled


class DatabaseCommandLog(DatabaseAccess):
    """CommandLog on `processed_commands`."""

    async def outcome(self, command_id: str) -> CommandOutcome | None:
        t = schema.processed_commands
        row = await self._db.fetch_one(t.select().where(t.c.command_id == command_id))
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
        assert outcome.command_id is not None
        try:
            await self._db.execute(
                schema.processed_commands.insert().values(
                    command_id=outcome.command_id,
                    outcome=outcome.result,
                    user_id=outcome.user_id,
                    code=outcome.code,
                    processed_at=self._clock(),
                )
            )
        except UNIQUE_VIOLATIONS:
            raise CommandAlreadyHandled(outcome.command_id) from None
