"""The compatibility gate: the current schema of each message against every released one,
in the direction its topic promises (users_service_events.envelope), before any release.

FULL_TRANSITIVE for the events: a consumer on any released version reads every new event,
and a new consumer reads every old one. The gate's checks are shown to fail on the
breaking changes they exist for.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from users_service_events import schemas
from users_service_events.envelope import MESSAGES

from tests.support.compatibility import directions, problems, producible
from tests.support.schema_strategies import from_schema

_FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
PAIRS = [
    (name, version, direction)
    for name, message in MESSAGES.items()
    for version in schemas.released(name)
    for direction in directions(message.compatibility)
]


def valid(instance: Any, schema: dict[str, Any]) -> bool:
    return bool(jsonschema.Draft202012Validator(schema, format_checker=_FORMATS).is_valid(instance))


def counterexample(writer: dict[str, Any], reader: dict[str, Any]) -> Any:
    """A value `writer`'s producers may send that `reader` refuses, or None."""
    try:
        return find(
            from_schema(producible(writer)),
            lambda value: not valid(value, reader),
            # The profile's example count (the breaking changes the tests make are
            # refused at the first example; `fuzz` searches longer for subtler ones).
            # Not shrunk: any counterexample will do, and shrinking one costs seconds.
            settings=settings(database=None, phases=[Phase.generate]),
        )
    except NoSuchExample:
        return None


def gate(name: str, current: dict[str, Any]) -> list[str]:
    """Everything that makes `current` incompatible with `name`'s released versions."""
    mode = MESSAGES[name].compatibility
    found: list[str] = []
    for version, old in schemas.released(name).items():
        found += [f"v{version}: {p}" for p in problems(old, current, mode)]
        for direction in directions(mode):
            writer, reader = (old, current) if direction == "old->new" else (current, old)
            bad = counterexample(writer, reader)
            if bad is not None:
                found.append(f"v{version} {direction}: {bad!r} is refused")
    return found


def test_every_message_has_its_current_version_and_no_gap_in_its_history() -> None:
    for name, message in MESSAGES.items():
        released = schemas.released(name)
        assert list(released) == list(range(1, len(released) + 1)), name
        assert message.version in (max(released), max(released) + 1), name
        current = schemas.load(name)
        assert current["$id"] == message.dataschema
        # A released schema is never edited: a change is the next version.
        if message.version in released:
            assert released[message.version] == current, f"{name} v{message.version} changed"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_the_current_schema_is_structurally_compatible_with_every_released_one(
    name: str,
) -> None:
    mode = MESSAGES[name].compatibility
    for version, old in schemas.released(name).items():
        assert problems(old, schemas.load(name), mode) == [], f"{name} v{version}"


@pytest.mark.parametrize(("name", "version", "direction"), PAIRS)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_what_one_version_writes_the_other_reads(
    name: str, version: int, direction: str, data: st.DataObject
) -> None:
    old, new = schemas.released(name)[version], schemas.load(name)
    writer, reader = (old, new) if direction == "old->new" else (new, old)
    value = data.draw(from_schema(producible(writer)))
    assert valid(value, reader)


def changed(name: str, edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(schemas.load(name))
    edit(schema)
    return schema


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = schema["properties"]["data"]
    return data


def _remove_email(schema: dict[str, Any]) -> None:
    del _data(schema)["properties"]["email"]
    _data(schema)["required"].remove("email")


def _add_required_locale(schema: dict[str, Any]) -> None:
    _data(schema)["properties"]["locale"] = {"type": "string"}
    _data(schema)["required"].append("locale")


def _created_at_as_number(schema: dict[str, Any]) -> None:
    _data(schema)["properties"]["createdAt"] = {"type": "integer"}


def _close_data(schema: dict[str, Any]) -> None:
    _data(schema)["additionalProperties"] = False


def test_the_gate_passes_an_added_optional_field() -> None:
    def add_locale(schema: dict[str, Any]) -> None:
        _data(schema)["properties"]["locale"] = {"type": "string"}

    assert gate("user.created", changed("user.created", add_locale)) == []


@pytest.mark.parametrize(
    ("edit", "structural", "instances"),
    [
        (_remove_email, "data.email: removed", "new->old"),
        (_add_required_locale, "data.locale: added as required", "old->new"),
        (_created_at_as_number, "data.createdAt: type changed", "old->new"),
        (_close_data, "data: closed", None),
    ],
    ids=["a removed field", "a new required field", "a type changed", "an object closed"],
)
def test_the_gate_fails_a_breaking_change_of_user_created(
    edit: Any, structural: str, instances: str | None
) -> None:
    found = gate("user.created", changed("user.created", edit))
    assert any(structural in p for p in found), found
    if instances is not None:  # the instances alone show it too
        assert any(f"v1 {instances}:" in p for p in found), found


def test_the_gate_fails_a_field_made_required() -> None:
    # `requestedAt` is optional in CreateUser: a service that required it would refuse
    # every command an older producer sends.
    def require_requested_at(schema: dict[str, Any]) -> None:
        schema["required"].append("requestedAt")

    found = gate("user.create", changed("user.create", require_requested_at))
    assert any("requestedAt: made required" in p for p in found), found
    assert any("v1 old->new:" in p for p in found), found


def test_the_gate_fails_a_field_made_optional_on_a_full_topic() -> None:
    # A consumer on v1 relies on `data.nombre` being there.
    found = gate(
        "user.created", changed("user.created", lambda s: _data(s)["required"].remove("nombre"))
    )
    assert any("data.nombre: made optional" in p for p in found), found
    assert any("v1 new->old:" in p for p in found), found
