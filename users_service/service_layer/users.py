"""The users use cases, one module each, as the views and agents reach them."""

from __future__ import annotations

from dataclasses import dataclass

from users_service.service_layer.command_handling import CreateUserHandler
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.erasure import UserErasure
from users_service.service_layer.queries import UserDirectory
from users_service.service_layer.registration import UserRegistration


@dataclass(frozen=True)
class UsersService:
    """Registration (HTTP), CreateUser handling (Kafka), the reads and erasure (HTTP and
    EraseUser commands), with the counts they share (the metrics read them)."""

    registration: UserRegistration
    commands: CreateUserHandler
    directory: UserDirectory
    erasure: UserErasure
    counts: OutcomeCounts
