"""A real `faust worker` process of the service, started and stopped by a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.services import ROOT, free_port
from tests.support.waiting import eventually
from users_service.adapters.jwt_tokens import mint_token


class Worker:
    """`python -m faust -A streamapp.app worker` with its own port and log file."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        name: str = "worker",
        *,
        via_cli: bool = False,
        args: list[str] | None = None,
        port: int | None = None,
    ) -> None:
        # via_cli: `users-service worker` (uvloop, LOG_* settings) rather than `faust worker`.
        # port: a given WEB_PORT (workers sharing one with WEB_REUSE_PORT); else a free one.
        self.via_cli = via_cli
        self.args = list(args or [])
        self.port = port or free_port()
        self.env = {**os.environ, **env, "WEB_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, loglevel: str = "info") -> None:
        log = self.log_path.open("ab")
        if self.via_cli:
            argv = [sys.executable, "-m", "streamapp.cli", "worker", *self.args]
        else:
            argv = [sys.executable, "-m", "faust", "-A", "streamapp.app", "worker"]
            argv.append(f"--loglevel={loglevel}")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_serving(self, *, kafka: bool = True, timeout: float = 60.0) -> None:
        """Until HTTP answers, and (with `kafka`) the producer has started and the consumer
        holds its partitions: the worker has finished starting."""

        async def ready() -> bool:
            self.assert_alive()
            status = await self.verification()
            if not kafka:
                return True
            return bool(
                status["outbox"]["kafkaAvailable"] and status["worker"]["partitionsAssigned"]
            )

        await eventually(ready, timeout=timeout, interval=0.1, what=f"worker on {self.port} ready")

    def assert_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"worker exited with {code}:\n{self.log_tail()}")

    async def post_user(self, body: Any, **kwargs: Any) -> tuple[int, Any, float]:
        """POST a user; return (status, JSON body, seconds taken)."""
        started = time.monotonic()
        url = f"{self.base}/users/v1/users"
        async with aiohttp.ClientSession() as session, session.post(url, json=body, **kwargs) as r:
            return r.status, await r.json(), time.monotonic() - started

    async def erase_user(self, user_id: str) -> int:
        """DELETE a user with a `users:erase` token signed with the worker's own secret;
        return the status."""
        token = mint_token(self.env["AUTH_JWT_SECRET"], scopes=["users:erase"])
        async with (
            aiohttp.ClientSession() as session,
            session.delete(
                f"{self.base}/users/v1/users/{user_id}",
                headers={"Authorization": f"Bearer {token}"},
            ) as resp,
        ):
            return resp.status

    async def verification(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{self.base}/users/v1/events/verification",
                timeout=aiohttp.ClientTimeout(total=5),
                headers=self.operator_headers(),
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    def operator_headers(self) -> dict[str, str]:
        """A bearer token with ops:read, signed with the worker's own secret."""
        secret = self.env.get("AUTH_JWT_SECRET")
        if not secret:
            return {}
        return {"Authorization": f"Bearer {mint_token(secret, scopes=['ops:read'])}"}

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
