"""Kafka client security from settings: one credentials object for Faust's producer and
consumer, and the same, as aiokafka keyword arguments, for the broker probe."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import CredentialsT


def ssl_context(cafile: str | None, certfile: str | None, keyfile: str | None) -> ssl.SSLContext:
    """A client TLS context: the CA to trust (else the system's), and a client certificate
    when the broker asks for one (mutual TLS)."""
    context = ssl.create_default_context(cafile=cafile)
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    return context


def kafka_credentials(
    *,
    protocol: str,
    mechanism: str,
    username: str | None,
    password: str | None,
    cafile: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> CredentialsT | None:
    """Faust's credentials for PLAINTEXT (None), SSL, SASL_PLAINTEXT or SASL_SSL."""
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(cafile, certfile, keyfile) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        assert context is not None
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=username, password=password, mechanism=mechanism, ssl_context=context
    )


def client_options(credentials: CredentialsT | None) -> Mapping[str, Any]:
    """The aiokafka keyword arguments Faust derives from the same credentials."""
    return credentials_to_aiokafka_auth(credentials)
