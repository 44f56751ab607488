"""Where the app leans on its dependencies' internals, in one place.

Each module names the upstream issue it works around (or says none was found), the version
it was written for, and what it relies on; tests/unit/test_workaround_canaries.py fails when
an upgrade changes any of that. `databases`' internals are relied on by the storage
adapters, and so are worked around beside them (users_service.adapters.storage.workarounds);
the events package reads a Record's `_options` itself, to import nothing of the service.

- faust_app: readiness reads the producer/consumer without creating them; our transport classes
- faust_consumer: a seek back to committed offsets that rewinds partitions never committed
- faust_producer: idempotent sends outside transactions
- faust_web: SO_REUSEPORT, and aiohttp's keep-alive timeout
- faust_monitor: Faust's Prometheus sensor, its zero latencies corrected
- faust_worker: drain at the stop signal, LOG_LEVEL as the floor, no spinner
- faust_worker_command: `faust worker` quiet with JSON logs, the service's defaults in --help
"""
