"""What the use cases did since the worker started, counted in memory: the metrics
endpoint reads these (the service layer knows nothing of Prometheus)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class OutcomeCounts:
    """Users created by channel ("http", "command"); rejections by (channel, code); commands
    by outcome ("created", "rejected", "redelivered": an outcome recorded before)."""

    created: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
