"""What the app reads of, or sets on, Faust's App beyond its public API.

- Faust's `App.producer` and `App.consumer` properties create one when there is none, so
  readiness, which must not, reads the attributes behind them (`_producer`, `_consumer`);
  whether the producer knows the cluster is read from the aiokafka producer inside
  Faust's (`Producer._producer.client.cluster`).
- Faust picks the transport's Consumer and Producer classes from the broker URL's driver and
  offers no setting for them: the app sets ours on `app.transport` before Faust builds them.

Upstream: none found in faust-streaming/faust; robinhood/faust#286 asked how to probe a
worker's readiness, and no API for it is in faust-streaming 0.15.3. Written for
faust-streaming 0.15.3; tests/unit/test_workaround_canaries.py holds that the attributes
exist, start as None, that aiokafka's producer has the cluster, and that
`_new_consumer`/`_new_producer` build the transport's classes.
"""

from __future__ import annotations

from typing import Any

import faust


def existing_producer(app: faust.App) -> Any:
    """The app's producer if one was made, else None (the property would make one)."""
    return app._producer


def producer_has_metadata(app: faust.App) -> bool:
    """True once Faust's producer has started and learnt the cluster's brokers."""
    producer = existing_producer(app)
    if producer is None or not producer.started:
        return False
    client = getattr(getattr(producer, "_producer", None), "client", None)
    cluster = getattr(client, "cluster", None)
    return bool(cluster is not None and cluster.brokers())


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
