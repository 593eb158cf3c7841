"""Fuzzing the front door: mutated upgrade requests and mutated signed management POSTs,
over real sockets, on the plain and on the TLS listener, with invariants checked after
every case.

Each case starts from a well-formed request (an upgrade without a token, or a POST to a
connected victim signed with SigV4) and applies a few mutations: byte flips, inserted
CR/LF/NUL/control bytes, deleted bytes, duplicated or swapped header lines, added
Content-Length/Transfer-Encoding fields, another request line, CRLF turned into LF or CR,
a pipelined second request that tries to reach the victim unsigned, and the bytes split
over several writes. After each case:

1. no ``101`` was sent and no authorizer, ``$connect`` or message handler ran (the only
   tokens are those of the good client below, which marks itself);
2. the victim received nothing but the signed body (``SIGNED``, which only a request that
   still carries a valid signature can deliver) and is not closed: a signed marker posted
   after the case is the next thing it reads;
3. the connection got an answer or was closed within a bound (``request_timeout`` twice,
   plus a margin), never left hanging;
4. a good client still gets its ``101`` (with the authorizer allowing it).

``make test`` runs a small, derandomized number of examples per property; ``make fuzz``
sets ``WSGATE_FUZZ_EXAMPLES`` (examples per property and listener) and runs at random.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from tests.e2e import handlers
from tests.e2e.conftest import GatewayFactory, RunningGateway
from tests.e2e.listeners import Listener, listener_of
from tests.e2e.test_wire import AUTHORIZER


FUZZ_EXAMPLES = int(os.environ.get("WSGATE_FUZZ_EXAMPLES", "0"))
"""Examples per property and listener for ``make fuzz``; 0 is the CI run."""
CI_EXAMPLES = 75
REQUEST_TIMEOUT = 0.5
BOUND = 2 * REQUEST_TIMEOUT + 3.0
"""Seconds within which every connection must be answered or closed."""
QUIET = 0.05
"""After a complete keep-alive answer, how long to wait for another one."""

KEY = {"access_key_id": "AKIDFUZZ", "secret_access_key": "fuzz-secret"}
SIGNED_BODY = b"SIGNED"

if FUZZ_EXAMPLES:
    pytestmark = pytest.mark.timeout(0)
    FUZZ_SETTINGS = settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )
else:
    FUZZ_SETTINGS = settings(
        max_examples=CI_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


# --- the requests --------------------------------------------------------------------


def sign_post(connection_id: str, body: bytes = SIGNED_BODY) -> bytes:
    """A management POST to ``connection_id``, signed as boto3 signs it, every header
    signed."""
    url = f"http://127.0.0.1/dev/@connections/{connection_id.replace('=', '%3D')}"
    request = AWSRequest(
        "POST", url, data=body, headers={"Content-Type": "application/octet-stream"}
    )
    credentials = Credentials(KEY["access_key_id"], KEY["secret_access_key"])
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    path = urllib.parse.urlsplit(url).path
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def upgrade(target: str = "/dev") -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def smuggled(victim: str) -> list[bytes]:
    """Second requests that must never act on the victim: unsigned, forged, or an upgrade
    without a token."""
    path = f"/dev/@connections/{victim.replace('=', '%3D')}".encode()
    forged = (
        b"AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/execute-api/aws4_request, "
        b"SignedHeaders=host;x-amz-date, Signature=" + b"0" * 64
    )
    return [
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        b"DELETE " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + forged + b"\r\n"
        b"X-Amz-Date: 20260101T000000Z\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"8\r\nSMUGGLED\r\n0\r\n\r\n",
        b"POST " + path + b" HTTP/1.0\r\nContent-Length: 8\r\n\r\nSMUGGLED",
        upgrade(),
        upgrade("/dev?token=deny"),
    ]


INSERTED = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\x00",
    b"\t",
    b" ",
    b"\x0b",
    b"\x0c",
    b"\x7f",
    b":",
    b",",
    b"\xff",
    b"\x80",
    b"\r\n\r\n",
    b"\r\n ",
]
FIELDS = [
    b"Content-Length: 0",
    b"Content-Length: 8",
    b"Content-Length: 6",
    b"Content-Length: 100",
    b"Content-Length: -1",
    b"Content-Length: 6, 6",
    b"Content-Length: +6",
    b"Content-Length: 18446744073709551622",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding:\x0bchunked",
    b"transfer-encoding: Chunked",
    b"Host: evil.example",
    b"Expect: 100-continue",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Upgrade: websocket",
    b"Sec-WebSocket-Version: 8",
    b"Origin: http://evil.example",
    b"X-A: a\rb",
    b" Content-Length: 8",
    b"Content-Length : 8",
    b"Content-Length\x00: 8",
]
REQUEST_LINES = [
    b"GET /dev HTTP/1.0",
    b"GET /dev HTTP/2.0",
    b"GET  /dev HTTP/1.1",
    b"GET\t/dev HTTP/1.1",
    b"POST /dev HTTP/1.1",
    b"GET / HTTP/1.1",
    b"GET http://127.0.0.1/dev HTTP/1.1",
    b"OPTIONS * HTTP/1.1",
    b"PRI * HTTP/2.0",
    b"GET /dev",
    b"get /dev HTTP/1.1",
    b"GET /dev/@connections/x HTTP/1.1",
    b"DELETE /dev/@connections/x HTTP/1.1",
]

position = st.integers(min_value=0, max_value=1 << 16)
head_op = st.one_of(
    st.tuples(st.just("duplicate"), position, position),
    st.tuples(st.just("swap"), position, position),
    st.tuples(st.just("field"), position, st.sampled_from(FIELDS)),
    st.tuples(st.just("line"), st.sampled_from(REQUEST_LINES)),
    st.tuples(st.just("case"), position),
)
byte_op = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(
        st.just("insert"), position, st.sampled_from(INSERTED) | st.binary(min_size=1, max_size=3)
    ),
    st.tuples(st.just("delete"), position, st.integers(1, 4)),
    st.tuples(st.just("endings"), st.sampled_from([b"\n", b"\r", b"\n\r"])),
)


@dataclass(frozen=True)
class Mutation:
    head_ops: list[tuple[Any, ...]]
    byte_ops: list[tuple[Any, ...]]
    pipelined: int | None
    cuts: list[int]


mutations = st.builds(
    Mutation,
    head_ops=st.lists(head_op, max_size=3),
    byte_ops=st.lists(byte_op, max_size=3),
    pipelined=st.none() | st.integers(0, 6),
    cuts=st.lists(position, max_size=3),
)


def mutate(base: bytes, mutation: Mutation, second: list[bytes]) -> bytes:
    head, _, body = base.partition(b"\r\n\r\n")
    request_line, *fields = head.split(b"\r\n")
    for op in mutation.head_ops:
        if op[0] == "line":
            request_line = op[1]
        elif op[0] == "field":
            fields.insert(op[1] % (len(fields) + 1), op[2])
        elif fields and op[0] == "duplicate":
            fields.insert(op[2] % (len(fields) + 1), fields[op[1] % len(fields)])
        elif fields and op[0] == "swap":
            i, j = op[1] % len(fields), op[2] % len(fields)
            fields[i], fields[j] = fields[j], fields[i]
        elif fields and op[0] == "case":
            i = op[1] % len(fields)
            fields[i] = fields[i].swapcase()
    wire = b"\r\n".join([request_line, *fields]) + b"\r\n\r\n" + body
    for op in mutation.byte_ops:
        at = op[1] % (len(wire) + 1) if op[0] != "endings" else 0
        if op[0] == "flip" and at < len(wire):
            wire = wire[:at] + bytes([wire[at] ^ op[2]]) + wire[at + 1 :]
        elif op[0] == "insert":
            wire = wire[:at] + op[2] + wire[at:]
        elif op[0] == "delete":
            wire = wire[:at] + wire[at + op[2] :]
        elif op[0] == "endings":
            wire = wire.replace(b"\r\n", op[1], 1 + (len(wire) % 3))
    if mutation.pipelined is not None:
        wire += second[mutation.pipelined]
    return wire


# --- one case on the wire ------------------------------------------------------------


def _answered(data: bytes) -> bool:
    """``data`` is one or more whole responses (or holds a 101)."""
    at, count = 0, 0
    while at < len(data):
        end = data.find(b"\r\n\r\n", at)
        if end < 0:
            return False
        head = data[at:end]
        if re.match(rb"HTTP/1\.[01] 101 ", head):
            return True
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        at = end + 4 + (int(length.group(1)) if length else 0)
        count += 1
    return count > 0 and at == len(data)


async def exchange(listener: Listener, wire: bytes, cuts: list[int]) -> tuple[bytes, bool]:
    """Send ``wire`` (cut at ``cuts``); what came back, and whether the server closed.
    Fails when neither an answer nor a close came within BOUND."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    data = b""
    async with listener.connect() as (reader, writer):
        bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
        try:
            for start, stop in zip(bounds, bounds[1:], strict=False):
                writer.write(wire[start:stop])
                await writer.drain()
                if stop < len(wire):
                    await asyncio.sleep(0.005)
        except (ConnectionError, ssl.SSLError):
            pass  # refused while writing: what came back still counts
        while True:
            remaining = deadline - loop.time()
            assert remaining > 0, f"no answer and no close within {BOUND} s: {wire!r} -> {data!r}"
            wait = min(QUIET, remaining) if _answered(data) else remaining
            try:
                chunk = await asyncio.wait_for(reader.read(65536), wait)
            except TimeoutError:
                if _answered(data):
                    return data, False
                continue
            except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                return data, True
            if not chunk:
                return data, True
            data += chunk
            if re.search(rb"HTTP/1\.[01] 101 ", data):
                return data, False


# --- the properties ------------------------------------------------------------------


@pytest.fixture(params=["plain", "tls"])
async def listener(request: pytest.FixtureRequest, fuzzed: RunningGateway) -> Listener:
    return listener_of(fuzzed, request.param)


@pytest.fixture
async def fuzzed(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with the REQUEST authorizer, SigV4 on the management API, and a short
    request timeout (so an incomplete request is closed quickly)."""
    running: RunningGateway = await gateway_factory(
        authorizer=AUTHORIZER,
        management={"auth": "sigv4", "credentials": [KEY]},
        server={"request_timeout": REQUEST_TIMEOUT},
    )
    return running


@pytest.fixture
async def victim(listener: Listener) -> AsyncIterator[tuple[ClientConnection, str]]:
    async with websockets.connect(listener.ws_url("token=allow&good=1"), ssl=listener.tls) as ws:
        (event,) = handlers.events_for("$connect")
        handlers.EVENTS.clear()
        yield ws, str(event["requestContext"]["connectionId"])


def foreign_events() -> list[dict[str, Any]]:
    """Handler invocations not made by the good client or the victim's connect."""
    with handlers._lock:
        events = list(handlers.EVENTS)
    foreign = []
    for event in events:
        route = event.get("requestContext", {}).get("routeKey")
        if route == "$disconnect":
            continue
        if "good" in (event.get("queryStringParameters") or {}):
            continue
        foreign.append(event)
    return foreign


async def check_invariants(
    listener: Listener, victim: tuple[ClientConnection, str], wire: bytes, answer: bytes
) -> None:
    ws, connection_id = victim
    has_token = b"token=" in urllib.parse.unquote_to_bytes(wire)
    # (1) no 101, no handler run without a token.
    if not has_token:
        assert not re.search(rb"HTTP/1\.[01] 101 ", answer), f"101 for {wire!r}: {answer!r}"
        assert foreign_events() == [], f"handler invoked by {wire!r}: {foreign_events()!r}"
    # (2) the victim got nothing but the signed body, and is open: the marker comes next.
    data, closed = await exchange(listener, sign_post(connection_id, b"marker"), [])
    assert data.startswith(b"HTTP/1.1 200 "), f"marker refused after {wire!r}: {data!r}"
    while (message := await asyncio.wait_for(ws.recv(), 5)) != "marker":
        assert message == SIGNED_BODY.decode(), f"victim got {message!r} from {wire!r}"
    # (4) a good client still connects.
    async with websockets.connect(listener.ws_url("token=allow&good=1"), ssl=listener.tls):
        pass


def run_property(
    loop: asyncio.AbstractEventLoop, body: Callable[[Mutation], Any], test_settings: settings
) -> None:
    """Run hypothesis (blocking) with each example's coroutine on the gateway's loop."""

    @test_settings
    @given(mutations)
    def prop(mutation: Mutation) -> None:
        asyncio.run_coroutine_threadsafe(body(mutation), loop).result(BOUND * 4 + 10)

    prop()


async def test_fuzzed_upgrade_requests(
    listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    second = smuggled(victim[1])
    # The base case is refused before any handler runs (no token): 401.
    data, _ = await exchange(listener, upgrade(), [])
    assert data.startswith(b"HTTP/1.1 401 "), data

    async def one(mutation: Mutation) -> None:
        wire = mutate(upgrade(), mutation, second)
        answer, _ = await exchange(listener, wire, mutation.cuts)
        await check_invariants(listener, victim, wire, answer)

    await asyncio.to_thread(run_property, asyncio.get_running_loop(), one, FUZZ_SETTINGS)


async def test_fuzzed_signed_management_posts(
    listener: Listener, victim: tuple[ClientConnection, str]
) -> None:
    second = smuggled(victim[1])
    # The base case is delivered: the oracle is not refusing everything.
    data, _ = await exchange(listener, sign_post(victim[1]), [])
    assert data.startswith(b"HTTP/1.1 200 "), data
    assert await asyncio.wait_for(victim[0].recv(), 5) == SIGNED_BODY.decode()

    async def one(mutation: Mutation) -> None:
        wire = mutate(sign_post(victim[1]), mutation, second)  # signed now: never expired
        answer, _ = await exchange(listener, wire, mutation.cuts)
        await check_invariants(listener, victim, wire, answer)

    await asyncio.to_thread(run_property, asyncio.get_running_loop(), one, FUZZ_SETTINGS)
