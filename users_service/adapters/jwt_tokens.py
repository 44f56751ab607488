"""Bearer JWTs (RFC 7519) with PyJWT: validated against a shared HS256 secret, or against an
identity provider's JWKS (RS256, ES256), and minted for local use.

Only the algorithms of the configured kind are accepted: `alg: none`, and an HS256 token
signed with an RSA public key (algorithm confusion), are refused by construction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import json
import logging
import socket
import threading
import time
import urllib.request
import uuid
from typing import Any

import jwt
from jwt.jwks_client import _NoRedirectHandler

from users_service.domain.access import AuthUnavailable, NotAuthenticated, Principal

log = logging.getLogger("users.auth")

ASYMMETRIC = ["RS256", "ES256"]

_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is not meant for this service (audience)"),
    (jwt.InvalidIssuerError, "the token's issuer is not trusted here"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted here"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
)


def reason_for(exc: jwt.PyJWTError) -> str:
    """What to tell the caller about a refused token (never the token itself)."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "the token is malformed"


class _ProviderFault(Exception):
    """The identity provider's answer gave no usable key set."""


# A key set is a few KiB; a provider sending more is not sending keys.
JWKS_MAX_BYTES = 1024 * 1024


class _Deadline:
    """One fetch's time limit. urllib's timeout bounds each socket operation, so a
    provider sending a byte at a time would hold the fetch (and the client's lock) for
    as long as it likes; at the deadline the fetch's socket is shut, which ends the
    blocking read wherever it is (connecting, headers or body)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False

    def remaining(self) -> float:
        return max(self._at - time.monotonic(), 0.0)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: SSLSocket.shutdown would drop
    # its SSL object under the thread reading from it.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _OnDeadline(http.client.HTTPConnection):
    """A connection given only the fetch's remaining time to connect, its socket then
    watched by the deadline (HTTPS: the mixin comes first in the MRO)."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        self.timeout = max(self._deadline.remaining(), 0.001)
        super().connect()
        self._deadline.watch(self.sock)


class _DeadlineHTTPConnection(_OnDeadline):
    pass


class _DeadlineHTTPSConnection(_OnDeadline, http.client.HTTPSConnection):
    pass


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_DeadlineHTTPConnection, deadline=self._deadline)
        return self.do_open(connection, req)  # type: ignore[arg-type]


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline, context: Any) -> None:
        super().__init__(context=context)
        self._deadline = deadline
        self._tls_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_DeadlineHTTPSConnection, deadline=self._deadline)
        return self.do_open(connection, req, context=self._tls_context)  # type: ignore[arg-type]


def _fetch_json(url: str, headers: dict[str, str], context: Any, seconds: float) -> Any:
    """The JSON at `url`, all of it (connection, headers, body) within `seconds`."""
    deadline = _Deadline(seconds)
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        opener = urllib.request.build_opener(
            _NoRedirectHandler(),
            _DeadlineHTTPHandler(deadline),
            _DeadlineHTTPSHandler(deadline, context),
        )
        chunks: list[bytes] = []
        size = 0
        try:
            with opener.open(urllib.request.Request(url, headers=headers)) as response:
                while not deadline.expired and (chunk := response.read1(64 * 1024)):
                    size += len(chunk)
                    if size > JWKS_MAX_BYTES:
                        raise ValueError(f"the key set is over {JWKS_MAX_BYTES} bytes")
                    chunks.append(chunk)
        except (OSError, http.client.HTTPException):
            if not deadline.expired:
                raise
        if deadline.expired:
            raise TimeoutError(f"the key set did not arrive within {seconds} s")
        return json.loads(b"".join(chunks))
    finally:
        timer.cancel()


class _KeySetClient(jwt.PyJWKClient):
    """PyJWKClient whose every failure to obtain the key set is one exception,
    `_ProviderFault`, told apart from a token's own faults (an unknown kid stays a
    PyJWTError: the token is refused, the provider is fine).

    PyJWT lets through what a provider's bytes can cause beyond a failed connection: a
    body that is not JSON, a reset while reading it, keys with members of the wrong type
    (KeyError, TypeError, NotImplementedError...), so the boundary takes every Exception:
    none of them is a fault of this service. After a failure the provider is not asked
    again for `fault_backoff` seconds: requests queued behind the client's lock each
    answer at once instead of each waiting out a timeout of its own.
    """

    def __init__(self, uri: str, *, fault_backoff: float, **options: Any) -> None:
        super().__init__(uri, **options)
        self._fault_backoff = fault_backoff
        self._failed_until = 0.0

    def fetch_data(self) -> Any:
        # PyJWKClient.fetch_data with a deadline for the whole fetch (see _Deadline).
        if time.monotonic() < self._failed_until:
            raise _ProviderFault("it failed moments ago; not asked again yet")
        try:
            jwk_set = self._as_jwk_set_payload(
                _fetch_json(self.uri, self.headers, self.ssl_context, self.timeout)
            )
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(jwk_set)
        except Exception as exc:
            raise self._fault(exc) from exc
        self._last_successful_fetch = time.monotonic()
        return jwk_set

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        # A kid in the cached set is answered without the client's lock, so it does not
        # wait behind a fetch another request's unknown kid started.
        cached = self._cached_key(kid)
        return cached if cached is not None else super().get_signing_key(kid)

    def _cached_key(self, kid: str) -> jwt.PyJWK | None:
        cache = self.jwk_set_cache
        entry = cache.jwk_set_with_timestamp if cache is not None else None  # read once
        if cache is None or entry is None:
            return None
        if time.monotonic() > entry.get_timestamp() + cache.lifespan:
            return None
        jwk_set = entry.get_jwk_set()
        if not isinstance(jwk_set, jwt.PyJWKSet):
            return None
        keys = [k for k in jwk_set.keys if k.public_key_use in ("sig", None) and k.key_id]
        return self.match_kid(keys, kid)

    def get_signing_keys(self, refresh: bool = False) -> list[jwt.PyJWK]:
        try:
            return super().get_signing_keys(refresh)
        except _ProviderFault:
            raise
        except Exception as exc:
            # A set without signing keys is not kept for its lifespan: asked again
            # once the backoff has passed.
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(None)
            raise self._fault(exc) from exc

    def _fault(self, exc: Exception) -> _ProviderFault:
        # Logged once per failed fetch, not once per request answered from the backoff;
        # bounded, since the text may quote what the provider sent.
        self._failed_until = time.monotonic() + self._fault_backoff
        described = f"{type(exc).__name__}: {exc}"[:200]
        log.warning("the identity provider's keys are unusable: %s", described)
        return _ProviderFault(described)


class JwtVerifier:
    """The TokenVerifier port. With neither a secret nor a JWKS URL it refuses every
    token: protected endpoints are never open by accident."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_url: str | None = None,
        audience: str = "users-service",
        issuer: str | None = None,
        leeway: float = 30.0,
        refresh_cooldown: float = 30.0,
        key_lifespan: float = 300.0,
        fetch_timeout: float = 5.0,
        fault_backoff: float = 1.0,
    ) -> None:
        self._secret = secret
        # The key set is cached for `key_lifespan` and then fetched again, so a key the
        # provider removed is refused within that time. No per-kid cache (cache_keys):
        # PyJWT's is an LRU without expiry in front of the set, trusting a removed key
        # until restart. An unknown kid fetches the set again, at most once per
        # `refresh_cooldown`: a rotation is picked up, a flood of forged kids does not
        # hammer the provider.
        self._jwks = (
            _KeySetClient(
                jwks_url,
                fault_backoff=fault_backoff,
                cache_keys=False,
                lifespan=key_lifespan,
                cooldown_duration=refresh_cooldown,
                timeout=fetch_timeout,
            )
            if jwks_url
            else None
        )
        self.key_lifespan = key_lifespan
        self._algorithms = ["HS256"] if secret else ASYMMETRIC
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway

    @property
    def configured(self) -> bool:
        """True when tokens can be judged at all."""
        return bool(self._secret or self._jwks)

    async def principal(self, token: str) -> Principal:
        """The caller a valid token names; NotAuthenticated otherwise."""
        if not self.configured:
            raise NotAuthenticated("authentication is not configured on this service")
        if not token.isascii():
            # A compact JWT is base64url and dots. Header bytes that are not UTF-8 reach
            # here as lone surrogates, which PyJWT's encode("utf-8") raises on (a 500).
            raise NotAuthenticated("the token is malformed")
        try:
            key = self._secret or await self._signing_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(reason_for(exc)) from None
        scopes = claims.get("scope", "")
        return Principal(
            subject=str(claims.get("sub", "")),
            scopes=frozenset(scopes.split()) if isinstance(scopes, str) else frozenset(),
        )

    async def _signing_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches the set again when the token's kid is not in its cache
            # (a rotated key). urllib is blocking: off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except _ProviderFault as exc:
            raise AuthUnavailable(f"the identity provider's keys are unusable: {exc}") from None
        return signing_key.key


def mint_token(
    secret: str,
    *,
    scopes: list[str],
    subject: str = "local-developer",
    audience: str = "users-service",
    issuer: str | None = None,
    ttl: float = 3600.0,
) -> str:
    """A short-lived HS256 token for local use (users-service token)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "scope": " ".join(scopes),
        "iat": now,
        "nbf": now,
        "exp": now + int(ttl),
        "jti": str(uuid.uuid4()),
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
