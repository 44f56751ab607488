"""Checking real Kafka messages against the AsyncAPI document's schemas."""

from __future__ import annotations

import json

import jsonschema

from tests.support.kafka import Consumed
from users_service import contracts

ASYNCAPI = contracts.load("asyncapi")


def _validate(instance: object, pointer: str) -> None:
    jsonschema.validate(
        instance,
        contracts.schema_ref(ASYNCAPI, pointer),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def assert_conforms(message: Consumed, name: str) -> None:
    """`name` is a message of components/messages: its payload and headers must validate."""
    spec = ASYNCAPI["components"]["messages"][name]
    headers = {k: v.decode() for k, v in message.headers.items()}
    if "headers" in spec:
        _validate(headers, spec["headers"]["$ref"])
    if "$ref" in spec["payload"]:
        _validate(json.loads(message.value), spec["payload"]["$ref"])
