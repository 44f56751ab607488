"""Delivering stored outbox messages: the fast path after commit and the relay."""
