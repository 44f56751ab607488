"""The peer for the service-overhead benchmark: the same HTTP + bcrypt + insert + Kafka
send path, written bare with aiohttp, asyncpg and aiokafka (no Faust, no `databases`, no
outbox, no validation beyond the types).

    python -m bench.bare_service --port P --database-url URL --topic T --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import bcrypt
from aiohttp import web
from aiokafka import AIOKafkaProducer

from tests.support.services import KAFKA


def build(database_url: str, topic: str, rounds: int) -> web.Application:
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["pool"] = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
        await app["pool"].execute(
            "CREATE TABLE IF NOT EXISTS bare_users (id text PRIMARY KEY, nombre text NOT NULL,"
            " email text NOT NULL UNIQUE, password_hash text NOT NULL,"
            " created_at timestamptz NOT NULL)"
        )
        app["producer"] = AIOKafkaProducer(bootstrap_servers=KAFKA)
        await app["producer"].start()

    async def stop(app: web.Application) -> None:
        await app["producer"].stop()
        await app["pool"].close()

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        if not all(isinstance(body.get(k), str) for k in ("nombre", "email", "password")):
            return web.json_response({"error": "invalid"}, status=422)
        password_hash = await asyncio.to_thread(
            bcrypt.hashpw, body["password"].encode(), bcrypt.gensalt(rounds)
        )
        user_id, now = str(uuid.uuid4()), datetime.now(UTC)
        try:
            await request.app["pool"].execute(
                "INSERT INTO bare_users VALUES ($1, $2, $3, $4, $5)",
                user_id,
                body["nombre"],
                body["email"].lower(),
                password_hash.decode(),
                now,
            )
        except asyncpg.UniqueViolationError:
            return web.json_response({"error": "duplicate"}, status=409)
        user = {
            "id": user_id,
            "nombre": body["nombre"],
            "email": body["email"].lower(),
            "createdAt": now.isoformat(),
        }
        event = {
            "eventType": "USER_CREATED",
            "eventId": str(uuid.uuid4()),
            "timestamp": now.isoformat(),
            "data": user,
        }
        # Enqueued, not awaited: like the service, the answer does not wait for Kafka.
        await request.app["producer"].send(topic, json.dumps(event).encode(), key=user_id.encode())
        return web.json_response(user, status=201)

    async def index(request: web.Request) -> web.Response:
        return web.json_response({"status": "OK"})

    app.router.add_post("/users/v1/users", create)
    app.router.add_get("/", index)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    web.run_app(
        build(args.database_url, args.topic, args.rounds),
        host="127.0.0.1",
        port=args.port,
        print=None,
    )
