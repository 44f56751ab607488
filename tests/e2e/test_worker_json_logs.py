"""`faust -A streamapp.app worker`, the command operators run, with LOG_FORMAT=json (the
image's default): every line of the worker's log is one JSON object, from the first line
to the last (issue 26, case 9: Faust's banner printed 16 lines of text)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support.worker import Worker


async def test_every_line_of_a_faust_worker_s_log_is_json(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = Worker({**worker_env, "LOG_FORMAT": "json"}, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    body = {"nombre": "Ana", "email": "ana-json@example.com", "password": "pw-json-123456"}
    status, _, _ = await worker.post_user(body)
    assert status == 201
    assert await asyncio.to_thread(worker.terminate) == 0

    lines = worker.log_text().splitlines()
    assert len(lines) > 20
    not_json = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            not_json.append((number, line))
            continue
        if not isinstance(record, dict):
            not_json.append((number, line))
    assert not_json == [], "\n".join(f"{n}: {line}" for n, line in not_json)
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    # The escape codes of a terminal's colours have no place in a JSON line.
    assert not [r for r in records if "\x1b[" in json.dumps(r, ensure_ascii=False)]
    assert "pw-json-123456" not in worker.log_text()
