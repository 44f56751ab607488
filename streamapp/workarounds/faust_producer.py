"""Faust's aiokafka producer, idempotent.

Faust turns idempotence on only inside its transactions (exactly-once processing). This
service needs it for every send: a retried send after a lost acknowledgement (a broker
restarting, a leader moving) must not write a second copy, and the order of one key must
hold across those retries. acks=all is Faust's default already (PRODUCER_ACKS).

Upstream: no issue asks for it; the nearest, faust-streaming/faust#177, is about sends outside
the exactly-once transactions. Written for faust-streaming 0.15.3 and aiokafka 0.14.0; relies
on `Producer._settings_extra` being merged into aiokafka's producer arguments
(tests/unit/test_workaround_canaries.py holds it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Producer


class IdempotentProducer(Producer):
    """`enable_idempotence` with `acks=all` on every producer this app creates."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}
