"""Property (b) of issue 26: for any request, inside the OpenAPI document or far beyond
it, the answer is a 2xx/4xx the document lists for that operation (never a 5xx), with
the body its schema says; requests the document calls valid are taken, the ones it calls
invalid are refused; and nothing an unauthenticated client sends reaches bcrypt or the
database of a protected operation.

In process, on both real databases, through a real loopback HTTP server (aiohttp's test
server), for every kind of bearer token. Requests within the document come from
schemathesis' reading of it (its positive and negative modes); the rest from Hypothesis.
Example counts follow the Hypothesis profile (ci in `make test`, fuzz in `make fuzz`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import databases.core
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from yarl import URL

from streamapp.app import app
from tests.support.web import (
    ALL_SCOPES,
    TEST_JWT_SECRET,
    Client,
    ClientFactory,
    start_app,
    stop_app,
    web_client,
)
from users_service import contracts
from users_service.adapters.jwt_tokens import mint_token
from users_service.adapters.passwords import BcryptHasher
from users_service.domain.access import SCOPES

pytestmark = pytest.mark.property

OPENAPI = contracts.load("openapi")
SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """A small body limit, so that 413 is reached; a hashing queue deep enough that a
    sequence of sign-ups is never shed (shedding has its own test)."""
    return {"http": {"max_body_bytes": 4096}, "auth": {"hash_queue": 64}}


@pytest.fixture
async def anonymous(client: Client, aiohttp_client: ClientFactory) -> Client:
    """A client on the same app that sends no Authorization of its own."""
    return await web_client(aiohttp_client, token=None)


# -- what the document says about an answer ---------------------------------------------


def template_of(path: str) -> str | None:
    """The document's path template a concrete (percent-encoded) path falls under, if
    any, as aiohttp's router matches it: on the path decoded but for %2F, a parameter
    being a segment without braces (`[^{}/]+`)."""
    segments = URL(path, encoded=True).path_safe.split("/")
    templates: list[str] = list(OPENAPI["paths"])
    for template in templates:
        parts = template.split("/")
        if len(parts) == len(segments) and all(
            p == s or (p.startswith("{") and p.endswith("}") and fits_parameter(s))
            for p, s in zip(parts, segments, strict=True)
        ):
            return template
    return None


def fits_parameter(segment: str) -> bool:
    return bool(segment) and not set(segment) & set("{}")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        resolved: dict[str, Any] = OPENAPI["components"][section][name]
        return resolved
    return node


ERROR = {"$ref": "#/components/schemas/Error", "components": OPENAPI["components"]}


def check_schema(body: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(
        body,
        {**schema, "components": OPENAPI["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def refused_by_the_http_parser(resp: Any, raw: bytes) -> bool:
    """aiohttp's HTTP parser answers what it cannot parse (a method it does not know, a
    line or a header over 8 KiB) before any route, in plain text; the document's
    description says so. Never a 5xx."""
    return resp.status == 400 and resp.content_type == "text/plain" and not raw.startswith(b"{")


async def documented_answer(method: str, path: str, resp: Any) -> tuple[int, Any]:
    """Assert the answer is one the document gives for this request; return it."""
    status = resp.status
    raw = await resp.read()
    # Kafka is off in process: /readyz says 503 not_ready, which is what it is for.
    readiness = resp.url.raw_path == "/readyz" and method in ("GET", "HEAD")
    assert status < 500 or (readiness and status == 503), (method, path, status, raw[:300])
    if refused_by_the_http_parser(resp, raw):
        return status, None
    # The path as sent: the client resolves dot segments ("/users/v1/users/." is
    # "/users/v1/users/").
    path = resp.url.raw_path
    template = template_of(path)
    operation = OPENAPI["paths"].get(template or "", {}).get(method.lower())
    body = None
    if method == "HEAD":
        assert not raw  # HEAD answers carry no body
        return status, None
    if operation is None:
        # Outside the document: a route that does not exist (404) or a method the route
        # does not have (405 naming the ones it has); the API's error shape either way.
        assert status == (405 if template else 404), (method, path, status, raw[:300])
        body = json.loads(raw)
        jsonschema.validate(body, ERROR)
        if status == 405:
            assert resp.headers.get("Allow"), "405 without Allow"
        return status, body
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {template} answered an undocumented {status}"
    content = resolve(responses[str(status)]).get("content", {})
    if "application/json" in content:
        assert resp.content_type == "application/json", resp.content_type
        body = json.loads(raw)
        check_schema(body, content["application/json"]["schema"])
    else:
        assert resp.content_type in content, (resp.content_type, list(content))
    for name in resolve(responses[str(status)]).get("headers", {}):
        assert name in resp.headers, f"{status} without its documented {name} header"
    return status, body


# -- the token matrix ---------------------------------------------------------------------

TOKENS: dict[str, Callable[[], str | None]] = {
    "none": lambda: None,
    "every scope": lambda: f"Bearer {ALL_SCOPES}",
    "no scope": lambda: f"Bearer {mint_token(TEST_JWT_SECRET, scopes=[])}",
    "another secret": lambda: (
        f"Bearer {mint_token('another-secret-of-at-least-32-bytes!', scopes=list(SCOPES))}"
    ),
    "expired": lambda: f"Bearer {mint_token(TEST_JWT_SECRET, scopes=list(SCOPES), ttl=-60)}",
    "basic": lambda: "Basic dXNlcjpwYXNz",
}
# What aiohttp's client lets through in a header value: visible Latin-1 (it refuses
# control characters itself; the raw-socket sample sends those).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)
    | st.characters(min_codepoint=0xA0, max_codepoint=0xFF),
    max_size=40,
)
authorizations = st.sampled_from(sorted(TOKENS)).map(lambda kind: TOKENS[kind]()) | header_text.map(
    lambda t: f"Bearer {t}"
)


# -- requests beyond the document ---------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
near_bodies = st.fixed_dictionaries(
    {},
    optional={
        "nombre": st.text(max_size=110) | json_values,
        "email": st.emails() | st.text(max_size=30) | json_values,
        "password": st.text(max_size=80) | json_values,
        "pass\\u0077ord": st.text(),
        "extra": json_values,
    },
)


def encoded(value: Any, encoding: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")


bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=600),
    st.builds(encoded, near_bodies | json_values, st.sampled_from(["utf-8", "utf-16", "utf-32"])),
    # Duplicate and escaped keys, as raw text (json.dumps cannot write duplicates).
    st.builds(
        lambda k, v: f'{{"{k}": {json.dumps(v)}, "{k}": {json.dumps(v)}}}'.encode(),
        st.sampled_from(["nombre", "email", "password", "pass\\u0077ord", "x"]),
        json_values,
    ),
    st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),  # depth
    st.integers(4000, 5000).map(lambda n: b'{"nombre": "' + b"x" * n + b'"}'),  # near the limit
    st.just(b'{"nombre": "A\x00", "email": "a@b.io", "password": "12345678"}'),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
        "application/problem+json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "*/*",
        "application/",
    ]
) | header_text.filter(lambda t: t.strip() == t and t)
token_chars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
methods = st.sampled_from(
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
) | st.text(alphabet=token_chars, min_size=1, max_size=10)
segments = st.text(max_size=30).map(lambda t: quote(t, safe=""))
paths = st.one_of(
    st.sampled_from(
        [p.replace("{userId}", str(uuid.uuid4())) for p in OPENAPI["paths"]]
        + ["/users/v1/users/", "/users/v1", "/users", "/users//v1/users", "/users/v1/users/."]
    ),
    segments.map(lambda s: f"/users/v1/users/{s}" if s else "/users/v1/users/x"),
    st.lists(segments, min_size=1, max_size=6).map(lambda ss: "/x/" + "/".join(ss)),
    st.integers(100, 7000).map(lambda n: "/users/v1/users/" + "a" * n),
)
queries = st.one_of(
    st.just(""),
    st.dictionaries(
        st.sampled_from(["limit", "cursor", "x"]) | st.text(max_size=8),
        st.text(max_size=30) | st.integers().map(str),
        max_size=4,
    ).map(lambda q: "&".join(f"{quote(k)}={quote(v)}" for k, v in q.items())),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="#"), max_size=60).map(
        lambda t: quote(t, safe="=&%+")
    ),
)
header_names = st.sampled_from(
    ["Idempotency-Key", "X-Request-ID", "Accept", "Accept-Charset", "Origin", "Cookie", "X-A"]
) | st.text(alphabet=token_chars, min_size=1, max_size=20)
extra_headers = st.dictionaries(
    header_names,
    header_text | st.integers(1000, 8000).map(lambda n: "v" * n),
    max_size=4,
) | st.fixed_dictionaries(
    # br and zstd (no decoder installed) are refused by the parser: the raw-socket sample.
    {"Content-Encoding": st.sampled_from(["gzip", "deflate", "identity", "x"])}
)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


requests = st.builds(
    lambda method, path, query, headers, auth, ctype, body: Request(
        method,
        path,
        query,
        {
            **headers,
            **({"Authorization": auth} if auth is not None else {}),
            **({"Content-Type": ctype} if ctype is not None else {}),
        },
        body,
    ),
    methods,
    paths,
    queries,
    extra_headers,
    st.none() | authorizations,
    content_types,
    bodies,
)


async def send(client: Client, request: Request) -> Any:
    return await client.request(
        request.method,
        URL(request.target(), encoded=True),
        headers=request.headers,
        data=request.body,
        allow_redirects=False,
    )


@PROPERTY
@given(request=requests)
async def test_any_request_gets_a_documented_answer_never_a_5xx(
    anonymous: Client, request: Request
) -> None:
    try:
        resp = await send(anonymous, request)
    except aiohttp.ClientResponseError as exc:
        # A body the server never reads (HEAD /readyz with a broken deflate body) is
        # still parsed after the answer: aiohttp's parser then writes its plain-text 400
        # behind the first answer, which the client refuses to read ("Data after
        # Connection: close"). The parser's, not the service's; never a 5xx.
        assert exc.status == 400, exc
        return
    await documented_answer(request.method, request.path, resp)


# -- within the document: schemathesis' positive and negative requests -------------------


def operations() -> list[tuple[str, str]]:
    return [
        (path, method.upper())
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in {"get", "post"}
    ]


def cases(mode: GenerationMode) -> st.SearchStrategy[Any]:
    return st.one_of(
        *(SCHEMA[path][method].as_strategy(generation_mode=mode) for path, method in operations())
    )


def mutations_of(case: Any) -> tuple[Any, ...]:
    data = getattr(case.meta.phase, "data", None)
    return tuple(getattr(data, "mutations", ()) or ())


async def send_case(client: Client, case: Any, authorization: str | None) -> Any:
    """Send a schemathesis case with `authorization` as its bearer, unless the case's
    negative mutation is of the Authorization header itself (then as generated)."""
    headers = {k: str(v) for k, v in (case.headers or {}).items()}
    if not any(m.parameter == "Authorization" for m in mutations_of(case)):
        headers.pop("Authorization", None)
        if authorization is not None:
            headers["Authorization"] = authorization
    kwargs: dict[str, Any] = {"headers": headers}
    query = case.query if isinstance(case.query, dict) else {}
    kwargs["params"] = {
        str(k): v if isinstance(v, str) else json.dumps(v) for k, v in query.items()
    }
    if not isinstance(case.body, type(schemathesis.core.NOT_SET)):
        if isinstance(case.body, bytes):
            kwargs["data"] = case.body
        else:
            kwargs["data"] = json.dumps(case.body).encode()
        headers.setdefault("Content-Type", case.media_type or "application/json")
    return await client.request(case.method, case.formatted_path, **kwargs)


def password_too_long_in_bytes(body: Any) -> bool:
    password = body.get("password") if isinstance(body, dict) else None
    return isinstance(password, str) and len(password.encode("utf-8", "surrogatepass")) > 72


@PROPERTY
@given(case=cases(GenerationMode.POSITIVE))
async def test_what_the_document_calls_valid_is_taken(anonymous: Client, case: Any) -> None:
    resp = await send_case(anonymous, case, f"Bearer {ALL_SCOPES}")
    status, body = await documented_answer(case.method, case.formatted_path, resp)
    if case.method == "POST":
        if status == 422 and password_too_long_in_bytes(case.body):
            # The one rule the document states in words: 72 bytes, not characters.
            assert body["error"]["fields"] == {"password": body["error"]["fields"]["password"]}
            return
        if status == 422 and body["error"]["code"] == "idempotency_key_reused":
            return  # a key generated twice with different bodies: refused, as documented
        assert status in (201, 409), (case.body, status, body)
    elif case.path == "/users/v1/users/{userId}":
        assert status in (200, 404), (case.path_parameters, status, body)
    elif case.path != "/readyz":  # 503 without Kafka, as documented
        assert status == 200, (case.formatted_path, case.query, status, body)


def mutated_only_unknown_query_parameters(case: Any) -> bool:
    mutations = mutations_of(case)
    return bool(mutations) and all(
        str(getattr(m.parameter_location, "value", "")) == "query"
        and "additionalProperties" in m.keywords
        for m in mutations
    )


IDEMPOTENCY_KEY = jsonschema.Draft202012Validator(
    OPENAPI["components"]["parameters"]["IdempotencyKey"]["schema"]
)


def only_whitespace_made_a_header_invalid(case: Any) -> bool:
    mutations = mutations_of(case)
    headers = case.headers or {}
    return bool(mutations) and all(
        m.parameter == "Idempotency-Key"
        and IDEMPOTENCY_KEY.is_valid(str(headers.get("Idempotency-Key", "")).strip(" \t"))
        for m in mutations
    )


@PROPERTY
@given(case=cases(GenerationMode.NEGATIVE), auth=st.sampled_from(sorted(TOKENS)))
async def test_what_the_document_calls_invalid_is_refused(
    anonymous: Client, case: Any, auth: str
) -> None:
    resp = await send_case(anonymous, case, TOKENS[auth]())
    status, body = await documented_answer(case.method, case.formatted_path, resp)
    public = case.formatted_path in {
        "/",
        "/livez",
        "/readyz",
        "/metrics",
        "/users/v1/openapi.json",
        "/users/v1/asyncapi.json",
    }
    if public or mutated_only_unknown_query_parameters(case):
        return  # nothing there to be invalid (unknown query parameters are ignored)
    if only_whitespace_made_a_header_invalid(case):
        return  # HTTP strips it (RFC 9110 5.5): the service is sent a valid value
    mutated = [(m.parameter, m.parameter_location, m.keywords) for m in mutations_of(case)]
    assert 400 <= status < 500, (mutated, case.headers, case.query, case.body, status, body)


# -- nothing slow for an unauthenticated client -------------------------------------------


@dataclass
class Costly:
    """Counts what a request costs: bcrypt calls, and database connections taken."""

    bcrypt: list[str] = field(default_factory=list)
    database: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.bcrypt.clear()
        self.database.clear()


@pytest.fixture
def costly(monkeypatch: pytest.MonkeyPatch) -> Iterator[Costly]:
    counts = Costly()
    # Counted where the hasher hands work to its bcrypt, whichever implementation that is
    # (pyca/bcrypt's functions are not called when libxcrypt hashes).
    hash_sync, check = BcryptHasher.hash_sync, BcryptHasher._check
    enter = databases.core.Connection.__aenter__

    def counting_hash(self: BcryptHasher, password: str) -> str:
        counts.bcrypt.append("hashpw")
        return hash_sync(self, password)

    def counting_check(self: BcryptHasher, password: str, password_hash: str) -> bool:
        counts.bcrypt.append("checkpw")
        return check(self, password, password_hash)

    async def counting_enter(self: databases.core.Connection) -> databases.core.Connection:
        counts.database.append("connection")
        return await enter(self)

    monkeypatch.setattr(BcryptHasher, "hash_sync", counting_hash)
    monkeypatch.setattr(BcryptHasher, "_check", counting_check)
    monkeypatch.setattr(databases.core.Connection, "__aenter__", counting_enter)
    yield counts


@pytest.fixture
async def sign_up_needs_a_token(
    database_url: str, aiohttp_client: ClientFactory
) -> AsyncIterator[Client]:
    wiring = await start_app(
        app, database_url, auth={"require_for_create": True}, http={"max_body_bytes": 4096}
    )
    try:
        yield await web_client(aiohttp_client, token=None)
    finally:
        await stop_app(wiring)


PROTECTED = [
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    if operation.get("security") and {} not in operation["security"]
] + [("POST", "/users/v1/users")]
unauthenticated = st.one_of(
    st.none(),
    st.sampled_from(["none", "another secret", "expired", "basic"]).map(lambda k: TOKENS[k]()),
    header_text.map(lambda t: f"Bearer {t}"),
    header_text,
)


@PROPERTY
@given(
    target=st.sampled_from(PROTECTED),
    authorization=unauthenticated,
    body=bodies,
    query=queries,
)
async def test_an_unauthenticated_request_reaches_neither_bcrypt_nor_the_database(
    sign_up_needs_a_token: Client,
    costly: Costly,
    target: tuple[str, str],
    authorization: str | None,
    body: bytes,
    query: str,
) -> None:
    method, path = target
    path = path.replace("{userId}", str(uuid.uuid4()))
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    costly.reset()
    resp = await send(sign_up_needs_a_token, Request(method, path, query, headers, body))
    status, _ = await documented_answer(method, path, resp)
    assert status == 401
    # Counted, not timed: an unauthenticated client never makes the service hash or query.
    assert costly.bcrypt == [] and costly.database == []


async def test_a_sign_up_with_a_token_is_counted_by_both_counters(
    sign_up_needs_a_token: Client, costly: Costly
) -> None:
    body = {"nombre": "Ana", "email": f"c{time.time_ns()}@example.com", "password": "12345678"}
    resp = await sign_up_needs_a_token.post(
        "/users/v1/users", json=body, headers={"Authorization": f"Bearer {ALL_SCOPES}"}
    )
    assert resp.status == 201
    # The instrument itself: without this the property above could pass counting nothing.
    assert costly.bcrypt == ["hashpw"] and costly.database


# -- what the properties found --------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_a_400(
    anonymous: Client, encoding: str
) -> None:
    # aiohttp inflates the body while the view reads it, and raised RequestPayloadError
    # into the catch-all: 500 internal_error for five bytes of "hello".
    resp = await anonymous.post(
        "/users/v1/users",
        data=b"hello",
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    status, body = await documented_answer("POST", "/users/v1/users", resp)
    assert status == 400 and body["error"]["code"] == "malformed_body", body


# -- the request line and headers as raw bytes, on a socket ---------------------------------

RAW_REQUESTS: dict[str, bytes] = {
    "an unknown method": b"0 /users/v1/users HTTP/1.1\r\nHost: x\r\n\r\n",
    "a lower-case method": b"get /livez HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /livez\r\n\r\n",
    "HTTP/2.0 in the line": b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /livez HTTP/1.1\r\n\r\n",
    "absolute form": b"GET http://x/users/v1/users HTTP/1.1\r\nHost: x\r\n\r\n",
    "asterisk form": b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    "a raw non-ASCII path": b"GET /users/v1/users/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    "dot segments": b"GET /users/v1/../v1/users/./x HTTP/1.1\r\nHost: x\r\n\r\n",
    "a NUL in the path": b"GET /users/v1/users/%00\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "a header without a colon": b"GET /livez HTTP/1.1\r\nHost: x\r\nBroken\r\n\r\n",
    "a NUL in a header": b"GET /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Authorization: Bearer a\x00b\r\n\r\n",
    "a bare CR": b"GET /livez HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
    "an obsolete line fold": b"GET /livez HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "C1 controls in a header": b"GET /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"X-Request-ID: \x85\x9f\r\n\r\n",
    "a header over 8 KiB": b"GET /livez HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
    "a request line over 8 KiB": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "a thousand headers": b"GET /livez HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: v\r\n" % n for n in range(1000))
    + b"\r\n",
    "two Content-Lengths": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{}",
    "Content-Length and chunked": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "a bad chunk size": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "a negative Content-Length": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n",
    "brotli, not installed": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
    "a websocket upgrade": b"GET /users/v1/users HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    "a latin-1 JSON body": b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json; charset=latin-1\r\nContent-Length: 17\r\n\r\n"
    b'{"nombre": "\xe9"}  ',
}


async def raw_exchange(client: Client, request: bytes) -> bytes:
    """Send `request` as it is; what the server wrote back before closing (or within a
    few seconds, for a connection it keeps open)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        received = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(3):
                while chunk := await reader.read(65536):
                    received += chunk
                    if answered_in_full(received):
                        break
        return received
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def answered_in_full(received: bytes) -> bool:
    """A head and as many body bytes as its Content-Length says (the server may keep
    the connection open after that)."""
    head, found, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:] if found else []:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def status_of(answer: bytes) -> int | None:
    line = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") else None


async def test_raw_request_lines_and_headers_never_get_a_5xx(client: Client) -> None:
    answers = {name: await raw_exchange(client, raw) for name, raw in RAW_REQUESTS.items()}
    for name, answer in answers.items():
        status = status_of(answer)
        assert status is not None and status < 500, (name, answer[:300])
        head, _, body = answer.partition(b"\r\n\r\n")
        if not body.startswith(b"{"):
            # What the parser refuses before any operation: 400 in plain text, as the
            # document's description says (an unknown method, a NUL, 8 KiB, framing...).
            assert status == 400 and b"text/plain" in head, (name, answer[:300])
    assert (await client.get("/livez")).status == 200  # and the server still serves


raw_lines = st.builds(
    lambda method, target, version, headers, body: (
        method + b" " + target + b" " + version + b"\r\nHost: x\r\n" + headers + b"\r\n" + body
    ),
    st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS"]) | st.binary(max_size=8),
    st.sampled_from([b"/users/v1/users", b"/users/v1/users/x", b"/livez", b"/"])
    | st.binary(max_size=40).map(lambda b: b"/" + b),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]) | st.binary(max_size=10),
    st.lists(
        st.tuples(st.binary(min_size=1, max_size=12), st.binary(max_size=40)).map(
            lambda kv: kv[0] + b": " + kv[1] + b"\r\n"
        ),
        max_size=4,
    ).map(lambda hs: b"".join(hs) + b"Connection: close\r\n"),
    st.binary(max_size=100),
)


# Each example may wait out a few seconds of a connection the server keeps: half as many.
@settings(PROPERTY, max_examples=max(10, settings().max_examples // 2))
@given(raw=raw_lines)
async def test_any_raw_request_gets_an_answer_below_500(client: Client, raw: bytes) -> None:
    answer = await raw_exchange(client, raw)
    status = status_of(answer)
    assert status is None or status < 500, (raw[:200], answer[:300])
