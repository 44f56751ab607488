"""Sending to Kafka through the Faust app's producer, and probing the broker."""
