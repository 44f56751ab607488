"""Faust's broker credentials from the Kafka settings."""

from __future__ import annotations

from faust.types.auth import CredentialsT

from streamapp.settings import KafkaSettings, revealed
from users_service.adapters.kafka.security import kafka_credentials


def kafka_credentials_of(kafka: KafkaSettings) -> CredentialsT | None:
    """Faust's broker credentials for these settings (None for PLAINTEXT)."""
    return kafka_credentials(
        protocol=kafka.security_protocol,
        mechanism=kafka.sasl_mechanism,
        username=kafka.sasl_username,
        password=revealed(kafka.sasl_password),
        cafile=kafka.ssl_cafile,
        certfile=kafka.ssl_certfile,
        keyfile=kafka.ssl_keyfile,
    )
