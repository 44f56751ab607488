"""What the app reads of, or sets on, Faust's App beyond its public API.

- Faust's `App.producer` and `App.consumer` properties create one when there is none, so
  readiness, which must not, reads the attributes behind them (`_producer`, `_consumer`).
- Faust picks the transport's Consumer and Producer classes from the broker URL's driver and
  offers no setting for them: the app sets ours on `app.transport` before Faust builds them.

Upstream: no issue asks for either (none found in faust-streaming/faust). Written for
faust-streaming 0.15.3; tests/unit/test_workaround_canaries.py holds that the attributes
exist, start as None, and that `_new_consumer`/`_new_producer` build the transport's classes.
"""

from __future__ import annotations

from typing import Any

import faust


def existing_producer(app: faust.App) -> Any:
    """The app's producer if one was made, else None (the property would make one)."""
    return app._producer


def existing_consumer(app: faust.App) -> Any:
    """The app's consumer if one was made, else None (the property would make one)."""
    return app._consumer


def use_transport_classes(
    app: faust.App, *, consumer: type | None = None, producer: type | None = None
) -> None:
    """Have Faust build `consumer` / `producer` for this app's transport."""
    if consumer is not None:
        app.transport.Consumer = consumer  # type: ignore[misc]
    if producer is not None:
        app.transport.Producer = producer  # type: ignore[misc]
