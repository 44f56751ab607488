"""Erasure on both real databases (docs/erasure.md): after erasing a user created by HTTP
and one created by command, no column of any table holds their names or emails, nothing
brings them back (replay, backfill, a retried request), the verifier calls their events
"erased", and an erasure racing a retried creation leaves no half."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from users_service_events import schemas

from streamapp import operator_commands as ops
from streamapp.wiring import Wiring
from tests.support.erasure import person, traces_of
from tests.support.services import ROOT
from tests.support.web import TEST_JWT_SECRET, Client, ClientFactory, web_client
from users_service.adapters.jwt_tokens import mint_token
from users_service.adapters.storage import schema
from users_service.adapters.storage.verifications import DatabaseVerificationStore
from users_service.domain.clock import utc_now
from users_service.domain.commands import CommandOutcome, parse_create_user
from users_service.domain.erasure import EraseOutcome, EraseUserCommand, parse_erase_user
from users_service.domain.errors import EmailAlreadyRegistered
from users_service.domain.model import User
from users_service.service_layer.new_user import NewUsers
from users_service.service_layer.registration import Idempotency, RegisterUser
from web.requests import body_fingerprint

_o = schema.outbox
PASSWORD = "pw-erase-1234"
PYTHONPATH = os.environ.get("PYTHONPATH", "")


def token(*scopes: str) -> str:
    return mint_token(TEST_JWT_SECRET, scopes=list(scopes), ttl=600)


async def outbox_rows(wiring: Wiring, **where: Any) -> list[Any]:
    query = sa.select(_o).where(*(_o.c[k] == v for k, v in where.items())).order_by(_o.c.id)
    return list(await wiring.database.fetch_all(query))


async def publish_all(wiring: Wiring) -> list[Any]:
    """Mark every pending row published (as the relay would), returning them."""
    rows = await outbox_rows(wiring, published_at=None)
    await wiring.database.execute(
        _o.update().where(_o.c.published_at.is_(None)).values(published_at=utc_now())
    )
    return rows


def as_published(row: Any) -> tuple[bytes, bytes, dict[str, bytes | None]]:
    headers = {k: v.encode() for k, v in json.loads(row["headers"]).items()}
    return row["message_key"].encode(), row["payload"].encode(), headers


async def register(wiring: Wiring, body: dict[str, str], key: str | None = None) -> User:
    """A sign-up as the HTTP edge hands it over (with its Idempotency-Key, if any)."""
    idempotency = Idempotency(key, body_fingerprint(body)) if key is not None else None
    return await wiring.users.registration.register(RegisterUser(body, idempotency))


async def create_by_command(wiring: Wiring, body: dict[str, Any]) -> CommandOutcome:
    return await wiring.users.commands.handle(parse_create_user(body))


def erase_command(command_id: str, user_id: str) -> EraseUserCommand:
    command = parse_erase_user({"commandId": command_id, "userId": user_id})
    assert isinstance(command, EraseUserCommand), command
    return command


async def erase_by_command(wiring: Wiring, command: EraseUserCommand) -> EraseOutcome:
    return await wiring.users.erasure.handle(command)


def output() -> tuple[ops.Output, list[str]]:
    lines: list[str] = []
    return ops.Output(as_json=True, write=lines.append), lines


async def test_erased_users_leave_nothing_in_any_table_and_nothing_brings_them_back(
    wiring: Wiring, client: Client, database_url: str
) -> None:
    by_http, by_command = person("http"), person("command")
    key = str(uuid.uuid4())
    resp = await client.post("/users/v1/users", json=by_http, headers={"Idempotency-Key": key})
    assert resp.status == 201
    http_id = (await resp.json())["id"]
    created = await create_by_command(wiring, {"commandId": str(uuid.uuid4()), **by_command})
    assert created.result == "created" and created.user_id is not None
    command_id = created.user_id
    # A second command for the same email is refused, and its rejection echoes the email.
    refused = await create_by_command(wiring, {"commandId": str(uuid.uuid4()), **by_command})
    assert refused.code == "duplicate_email"
    # Both verified, as the self-verifying consumer does after the relay published them.
    published = await publish_all(wiring)
    created_rows = [r for r in published if r["event_type"] == "USER_CREATED"]
    assert await wiring.verifier.check_batch([as_published(r) for r in created_rows]) == [
        None,
        None,
    ]
    assert traces_of(database_url, by_http, by_command)  # the scan sees them before

    resp = await client.delete(
        f"/users/v1/users/{http_id}", headers={"Authorization": f"Bearer {token('users:erase')}"}
    )
    assert resp.status == 204
    erase = erase_command(str(uuid.uuid4()), command_id)
    outcome = await erase_by_command(wiring, erase)
    assert (outcome.result, outcome.duplicate) == ("erased", False)

    assert traces_of(database_url, by_http, by_command) == []
    # USER_DELETED for each, keyed by the user id, the id and nothing personal.
    deleted = await outbox_rows(wiring, event_type="USER_DELETED")
    assert sorted(r["message_key"] for r in deleted) == sorted([http_id, command_id])
    for row in deleted:
        assert (
            row["topic"] == wiring.settings.kafka.user_deleted_topic and row["published_at"] is None
        )
        value = json.loads(row["payload"])
        jsonschema.validate(value, schemas.load("user.deleted"))
        assert value["data"] == {"id": row["message_key"]}
    # A redelivered erase command changes nothing and answers as the first time.
    again = await erase_by_command(wiring, erase)
    assert (again.result, again.duplicate) == ("erased", True)
    assert len(await outbox_rows(wiring, event_type="USER_DELETED")) == 2
    await publish_all(wiring)

    # Replay over the whole window queues nothing of theirs but USER_DELETED; backfill
    # creates nothing for them.
    out, _ = output()
    since = datetime.now(UTC) - timedelta(hours=1)
    until = datetime.now(UTC) + timedelta(hours=1)
    replayed = ops.outbox_replay(wiring.settings, since=since, until=until, user_id=None, out=out)
    assert await replayed == 0
    requeued = await outbox_rows(wiring, published_at=None)
    assert {r["event_type"] for r in requeued} == {"USER_DELETED"}
    out, lines = output()
    assert await ops.run_backfill(wiring.settings, dry_run=False, batch=10, out=out) == 0
    assert json.loads(lines[-1])["backfilled"] == 0
    assert traces_of(database_url, by_http, by_command) == []

    # Their USER_CREATED read again from Kafka (a replayed topic) are redeliveries; one the
    # verifier first reads after the erasure (it lagged) is "erased": neither a failure
    # nor an event without a user. `verify` is clean.
    failed = wiring.verifier.counts.failed
    assert await wiring.verifier.check_batch([as_published(r) for r in created_rows]) == [
        None,
        None,
    ]
    late = await register(wiring, person("late"))
    [late_row] = await outbox_rows(wiring, event_type="USER_CREATED", aggregate_id=late.id)
    assert await wiring.users.erasure.erase(late.id) is True
    assert await wiring.verifier.check_batch([as_published(late_row)]) == [None]
    assert (wiring.verifier.counts.failed, wiring.verifier.counts.erased) == (failed, 1)
    recon = await DatabaseVerificationStore(wiring.database).reconcile()
    assert (recon.unverified_users, recon.events_without_user) == (0, 0)
    out, lines = output()
    assert await ops.verify(wiring.settings, older_than=300, out=out) == 0
    assert json.loads(lines[-1])["ok"] is True

    # The record of erasures: their ids and times, nothing else.
    out, lines = output()
    assert await ops.erasures(wiring.settings, since, out) == 0
    listed = json.loads(lines[-1])["erasures"]
    assert sorted(e["userId"] for e in listed) == sorted([http_id, command_id, late.id])
    assert all(set(e) == {"userId", "erasedAt"} for e in listed)

    # The same request retried, Idempotency-Key and all: a new person with a new id.
    resp = await client.post("/users/v1/users", json=by_http, headers={"Idempotency-Key": key})
    assert resp.status == 201
    assert (await resp.json())["id"] != http_id
    again_by_command = await create_by_command(
        wiring, {"commandId": str(uuid.uuid4()), **by_command}
    )
    assert again_by_command.result == "created" and again_by_command.user_id != command_id


async def test_an_erased_users_pending_user_created_is_never_published(wiring: Wiring) -> None:
    """Kafka away: USER_CREATED still waits in the outbox when the user is erased. It is
    gone from the queue; USER_DELETED waits instead."""
    user = await register(wiring, person("pending"))
    [pending] = await outbox_rows(wiring, published_at=None)
    assert pending["event_type"] == "USER_CREATED"
    assert await wiring.users.erasure.erase(user.id) is True
    waiting = await outbox_rows(wiring, published_at=None)
    assert [(r["event_type"], r["message_key"]) for r in waiting] == [("USER_DELETED", user.id)]
    assert await wiring.users.erasure.erase(user.id) is False  # erased already: nothing more


@pytest.fixture
async def erase_clients(wiring: Wiring, aiohttp_client: ClientFactory) -> dict[str, Client]:
    return {
        "none": await web_client(aiohttp_client, token=None),
        "read": await web_client(aiohttp_client, token=token("users:read", "users:write")),
        "erase": await web_client(aiohttp_client, token=token("users:erase")),
    }


async def test_the_token_matrix_of_erasure(
    wiring: Wiring, erase_clients: dict[str, Client]
) -> None:
    user = await register(wiring, person("matrix"))
    path = f"/users/v1/users/{user.id}"
    assert (await erase_clients["none"].delete(path)).status == 401
    resp = await erase_clients["read"].delete(path)
    assert resp.status == 403 and 'scope="users:erase"' in resp.headers["WWW-Authenticate"]
    assert await wiring.users.directory.get(user.id) is not None  # refused: nothing erased
    resp = await erase_clients["erase"].delete(path)
    assert resp.status == 204 and await resp.read() == b""
    resp = await erase_clients["erase"].delete(path)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    for unknown in (str(uuid.uuid4()), "not-a-uuid", user.id.upper()):
        assert (await erase_clients["erase"].delete(f"/users/v1/users/{unknown}")).status == 404
    # users:erase does not read.
    assert (await erase_clients["erase"].get(path)).status == 403


async def test_erase_commands_are_once_per_command_id(wiring: Wiring) -> None:
    unknown = erase_command(str(uuid.uuid4()), str(uuid.uuid4()))
    first = await erase_by_command(wiring, unknown)
    assert (first.result, first.duplicate) == ("not_found", False)
    # The user id now stored would not change a recorded outcome: once per command id.
    assert (await erase_by_command(wiring, unknown)).duplicate is True
    # Two deliveries of one command at once: one erasure, one USER_DELETED.
    user = await register(wiring, person("twice"))
    command = erase_command(str(uuid.uuid4()), user.id)
    outcomes = await asyncio.gather(
        erase_by_command(wiring, command), erase_by_command(wiring, command)
    )
    assert sorted(o.result for o in outcomes) == ["erased", "erased"]
    assert len(await outbox_rows(wiring, event_type="USER_DELETED")) == 1


@pytest.fixture
def app_settings(database_url: str) -> dict[str, Any]:
    # SQLite serializes writers: a pool of one keeps its writers from failing "locked".
    return {"database": {"pool_size": 1}} if database_url.startswith("sqlite") else {}


async def test_an_erasure_racing_a_retried_creation_leaves_no_half(
    wiring: Wiring, database_url: str
) -> None:
    """The same POST retried (same Idempotency-Key) while the user it created is erased:
    whichever commits first, the result is whole. Either the user is erased and nothing of
    it is left, or the retry came after and made a new, complete user."""
    for _ in range(8):
        body = person("race")
        key = str(uuid.uuid4())
        first = await register(wiring, body, key)
        erased, retried = await asyncio.gather(
            wiring.users.erasure.erase(first.id),
            register(wiring, body, key),
            return_exceptions=True,
        )
        assert erased is True, erased
        assert not isinstance(retried, BaseException), retried
        assert await wiring.users.directory.get(first.id) is None
        keys = await wiring.database.fetch_all(
            sa.select(schema.idempotency_keys).where(schema.idempotency_keys.c.key == key)
        )
        created = await outbox_rows(wiring, event_type="USER_CREATED")
        of_first = [r for r in created if r["aggregate_id"] == first.id]
        assert of_first == []
        if retried.id == first.id:
            # Answered from the first creation before the erasure committed: erased since.
            assert keys == []
            assert await wiring.users.directory.queries.email_exists(body["email"]) is False
        else:
            # After the erasure: a new user, whole (its row, its key, its event).
            assert await wiring.users.directory.get(retried.id) is not None
            assert [k["user_id"] for k in keys] == [retried.id]
            assert [r["aggregate_id"] for r in created if r["aggregate_id"] == retried.id] == [
                retried.id
            ]
        # Either way no key points at a user that is not stored.
        dangling = await wiring.database.fetch_val(
            sa.select(sa.func.count())
            .select_from(schema.idempotency_keys)
            .where(
                ~sa.select(schema.users.c.id)
                .where(schema.users.c.id == schema.idempotency_keys.c.user_id)
                .exists()
            )
        )
        assert dangling == 0


def command_line(*args: str, database_url: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "streamapp.cli", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "PYTHONPATH": PYTHONPATH},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


async def test_users_service_erase_and_erasures(wiring: Wiring, database_url: str) -> None:
    someone = person("cli")
    user = await register(wiring, someone)
    since = "2000-01-01T00:00:00Z"
    code, out, err = command_line("erase", "--user", user.id, "--json", database_url=database_url)
    assert (code, json.loads(out)) == (0, {"erased": True, "userId": user.id}), err
    code, out, _ = command_line("erase", "--user", user.id, database_url=database_url)
    assert code == ops.EXIT_PROBLEM and "no user" in out
    code, out, _ = command_line("erase", "--user", "nobody", database_url=database_url)
    assert code == ops.EXIT_PROBLEM
    code, out, _ = command_line("erasures", "--since", since, "--json", database_url=database_url)
    assert code == 0
    [listed] = json.loads(out)["erasures"]
    assert listed["userId"] == user.id and set(listed) == {"userId", "erasedAt"}
    assert traces_of(database_url, someone) == []
    code, _, err = command_line("erasures", "--since", "yesterday", database_url=database_url)
    assert code == 2 and "ISO 8601" in err


async def test_a_duplicate_email_rejection_racing_the_erasure_of_its_user_leaves_no_email(
    wiring: Wiring, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command for an email already taken is checked, and its rejection (which echoes
    the email) written in a later transaction. The erasure of the email's user committing
    between the two must not leave the rejection naming the erased person's email."""
    someone = person("raced")
    first = await create_by_command(wiring, {"commandId": str(uuid.uuid4()), **someone})
    assert first.result == "created" and first.user_id is not None
    checked = NewUsers.ensure_email_free

    async def erased_right_after_the_check(self: NewUsers, email: str) -> None:
        try:
            await checked(self, email)
        except EmailAlreadyRegistered:
            assert first.user_id is not None
            assert await wiring.users.erasure.erase(first.user_id) is True
            raise

    monkeypatch.setattr(NewUsers, "ensure_email_free", erased_right_after_the_check)
    refused = await create_by_command(wiring, {"commandId": str(uuid.uuid4()), **someone})

    assert (refused.result, refused.code) == ("rejected", "duplicate_email")
    assert await outbox_rows(wiring, event_type="USER_CREATE_REJECTED") == []
    assert traces_of(database_url, someone) == []
