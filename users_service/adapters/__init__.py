"""Implementations of the service layer's ports: database, Kafka, bcrypt."""
