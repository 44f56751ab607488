"""What `users-service erase --user ID` and `users-service erasures --since T` do."""

from __future__ import annotations

from datetime import datetime

from models.user_deleted import DeletionRecordEncoder
from streamapp.operator_commands import EXIT_PROBLEM, Output, database
from streamapp.settings import Settings
from users_service.adapters.storage.erasure import DatabaseErasure
from users_service.domain.clock import isoformat
from users_service.domain.model import is_uuid
from users_service.service_layer.erasure import ErasureService


async def erase(settings: Settings, user_id: str, out: Output) -> int:
    """Erase one user; exit 1 when no user has this id (never had, or already erased)."""
    if not is_uuid(user_id, canonical=True):
        out.report([f"{user_id!r} is not a user id"], {"erased": False, "reason": "not_a_user_id"})
        return EXIT_PROBLEM
    async with database(settings) as db:
        service = ErasureService(
            DatabaseErasure(db), DeletionRecordEncoder(), settings.user_deleted_topic
        )
        erased = await service.erase(user_id)
    if not erased:
        out.report(
            [f"no user {user_id} is stored (never was, or erased already)"],
            {"erased": False, "userId": user_id},
        )
        return EXIT_PROBLEM
    out.report(
        [
            f"user {user_id} erased; USER_DELETED queued for {settings.user_deleted_topic} "
            "(the relay of a running worker publishes it)"
        ],
        {"erased": True, "userId": user_id},
    )
    return 0


async def erasures(settings: Settings, since: datetime, out: Output) -> int:
    """The record of erasures since `since`: ids and times only."""
    async with database(settings) as db:
        found = await DatabaseErasure(db).erased_since(since)
    out.report(
        [f"{e.user_id} erased at {isoformat(e.erased_at)}" for e in found]
        + [f"{len(found)} erasure(s) since {isoformat(since)}"],
        {
            "since": isoformat(since),
            "erasures": [{"userId": e.user_id, "erasedAt": isoformat(e.erased_at)} for e in found],
        },
    )
    return 0
