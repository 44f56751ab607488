"""Sending to Kafka through the Faust app's producer."""
