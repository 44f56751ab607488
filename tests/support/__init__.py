"""Helpers for tests that run against the real Kafka broker and PostgreSQL."""
