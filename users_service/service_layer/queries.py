"""The read use cases: a page of users, one user."""

from __future__ import annotations

from dataclasses import dataclass

from users_service.domain.model import User
from users_service.service_layer.ports import UserQueries


@dataclass(frozen=True)
class UserDirectory:
    """Stored users, as the views list and show them."""

    queries: UserQueries

    async def list_users(self, after: str | None, limit: int) -> tuple[list[User], str | None]:
        """A page of users by id, and the id to continue after (None on the last page)."""
        users = await self.queries.page(after, limit + 1)
        if len(users) > limit:
            return users[:limit], users[limit - 1].id
        return users, None

    async def get(self, user_id: str) -> User | None:
        """The stored user with this id, or None."""
        return await self.queries.get(user_id)
