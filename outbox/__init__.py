"""Delivering stored outbox messages to Kafka: the fast path and the relay (no Faust, no SQL)."""
