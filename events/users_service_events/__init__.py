"""The users service's Kafka contract, for the teams that consume or produce its messages.

Without Faust: `users_service_events.schemas` (the JSON Schemas, every released version)
and `users_service_events.envelope` (keys, header names, CloudEvents attributes) import
nothing beyond the standard library. With Faust (the `faust` extra):
`users_service_events.records` (the Records) and `users_service_events.dedup` (at most
once per `eventId` on top of at-least-once delivery).
"""

__version__ = "1.1.0"
