"""A message on `user.create` as the dead-letter tests hand it to `DeadLetters.park`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "user.create"
    partition: int = 2
    offset: int = 41
