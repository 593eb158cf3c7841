"""The Runtime API over real HTTP: what a runtime client sees, answers and refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from multidict import CIMultiDictProxy

from wsgate.workers.errors import FunctionError
from wsgate.workers.invocation import Invocation
from wsgate.workers.runtime_api import RuntimeApi, RuntimeHost, error_from_document
from wsgate.workers.session import MAX_RESPONSE_BYTES, RuntimeSession


ARN = "arn:aws:lambda:us-east-1:123456789012:function:chat"


class Host:
    """A worker stand-in: hands out queued invocations, records what the runtime posts."""

    def __init__(self) -> None:
        self.session = RuntimeSession()
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self.responses: list[tuple[bytes, str]] = []
        self.errors: list[tuple[FunctionError, bool]] = []
        self.init_errors: list[FunctionError] = []

    async def next_invocation(self) -> Invocation:
        invocation = await self.queue.get()
        self.session.hand_out(invocation.request_id)
        return invocation

    def responded(self, body: bytes, content_type: str) -> None:
        self.responses.append((body, content_type))

    def errored(self, error: FunctionError, *, exits: bool = False) -> None:
        self.errors.append((error, exits))

    def init_failed(self, error: FunctionError) -> None:
        self.init_errors.append(error)


_: type[RuntimeHost] = Host


class Api:
    def __init__(self, host: Host, session: aiohttp.ClientSession, base: str) -> None:
        self.host = host
        self.http = session
        self.base = base

    def invocation(self, request_id: str, event: object) -> Invocation:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        invocation = Invocation(request_id, orjson.dumps(event), time.monotonic() + 3, future)
        self.host.queue.put_nowait(invocation)
        return invocation

    async def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, object, CIMultiDictProxy[str]]:
        """Status, the body (JSON-decoded when it is JSON) and the headers."""
        async with self.http.request(
            method, f"{self.base}/2018-06-01/runtime{path}", data=body, headers=headers
        ) as response:
            raw = await response.read()
            try:
                decoded: object = orjson.loads(raw)
            except orjson.JSONDecodeError:
                decoded = raw
            return response.status, decoded, response.headers


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    host = Host()
    runtime_api = RuntimeApi(host, function_arn=ARN)
    address = await runtime_api.start()
    assert address.startswith("127.0.0.1:")
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(host, session, f"http://{address}")
    finally:
        await runtime_api.close()


async def test_next_hands_out_the_event_with_lambdas_headers(api: Api) -> None:
    """200, the event as the body, request id, deadline (epoch ms), ARN and trace id."""
    api.invocation("req-1", {"hello": "world"})
    status, body, headers = await api.call("GET", "/invocation/next")
    assert (status, body) == (200, {"hello": "world"})
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
    assert headers["Content-Type"] == "application/json"
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert 0 < deadline - time.time() * 1000 <= 3100
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")


async def test_next_waits_for_work(api: Api) -> None:
    """A poll is answered only once an invocation comes (a long poll)."""
    poll = asyncio.ensure_future(api.call("GET", "/invocation/next"))
    await asyncio.sleep(0.1)
    assert not poll.done()
    api.invocation("later", {})
    status, _body, headers = await asyncio.wait_for(poll, 5)
    assert (status, headers["Lambda-Runtime-Aws-Request-Id"]) == (200, "later")


async def test_response_is_202_and_reaches_the_host(api: Api) -> None:
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    status, body, _ = await api.call(
        "POST", "/invocation/req-1/response", b'{"ok": 1}', {"Content-Type": "application/json"}
    )
    assert (status, body) == (202, {"status": "OK"})
    assert api.host.responses == [(b'{"ok": 1}', "application/json")]


async def test_unknown_request_id_is_400(api: Api) -> None:
    """400 InvalidRequestID, before or during an invocation, on both answer paths."""
    for path in ("/invocation/nope/response", "/invocation/nope/error"):
        status, body, headers = await api.call("POST", path, b"{}")
        assert status == 400
        assert body == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        assert headers["Content-Type"] == "application/json"
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    status, _body, _ = await api.call("POST", "/invocation/req-2/response", b"{}")
    assert status == 400
    assert not api.host.responses and not api.host.errors


async def test_a_second_response_for_one_id_is_403(api: Api) -> None:
    """The first answer counts; another for the same id is InvalidStateTransition."""
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    assert (await api.call("POST", "/invocation/req-1/response", b"1"))[0] == 202
    for path in ("/invocation/req-1/response", "/invocation/req-1/error"):
        status, body, _ = await api.call("POST", path, b"2")
        assert status == 403
        assert isinstance(body, dict) and body["errorType"] == "InvalidStateTransition"
    assert len(api.host.responses) == 1 and api.host.errors == []


async def test_next_while_running_is_403(api: Api) -> None:
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    status, body, _ = await api.call("GET", "/invocation/next")
    assert status == 403
    assert isinstance(body, dict) and body["errorType"] == "InvalidStateTransition"


async def test_error_reaches_the_host_as_a_function_error(api: Api) -> None:
    """The runtime's error document becomes the invocation's FunctionError."""
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    document = {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-1",
        "stackTrace": ['  File "app.py", line 7\n'],
    }
    status, _, _ = await api.call("POST", "/invocation/req-1/error", orjson.dumps(document))
    assert status == 202
    [(error, exits)] = api.host.errors
    assert not exits
    assert (str(error), error.error_type, error.error_message) == (
        "boom",
        "ValueError",
        "boom",
    )
    assert error.payload == document


async def test_a_response_over_6_mb_is_413_and_fails_the_invocation(api: Api) -> None:
    """The caller gets Function.ResponseSizeTooLarge; the runtime, which exits on it, 413."""
    api.invocation("req-1", {})
    await api.call("GET", "/invocation/next")
    size = MAX_RESPONSE_BYTES + 1
    status, body, _ = await api.call("POST", "/invocation/req-1/response", b"x" * size)
    assert status == 413
    assert body == {
        "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    [(error, exits)] = api.host.errors
    assert exits
    assert error.error_type == "Function.ResponseSizeTooLarge"
    assert error.error_message == (
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
        "(6291556 bytes)."
    )


async def test_init_error_once_before_the_first_poll(api: Api) -> None:
    """202 with the type from the body; after a poll the same call is 403."""
    document = {"errorMessage": "no module", "errorType": "Runtime.ImportModuleError"}
    status, body, _ = await api.call(
        "POST",
        "/init/error",
        orjson.dumps(document),
        {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
    )
    assert (status, body) == (202, {"status": "OK"})
    [error] = api.host.init_errors
    assert (error.error_type, str(error)) == ("Runtime.ImportModuleError", "no module")
    status, _, _ = await api.call("POST", "/init/error", b"{}")
    assert status == 403


async def test_unknown_paths_are_404(api: Api) -> None:
    assert (await api.call("GET", "/restore/next"))[0] == 404


def test_error_documents_that_are_not_lambdas() -> None:
    """No JSON document: the text is the message, the header (or Unhandled) the type."""
    for body, header, expected in [
        (b"oops", "Runtime.Crash", ("Runtime.Crash", "oops")),
        (b"[1]", None, ("Unhandled", "[1]")),
        (b'{"errorMessage": "m"}', "T", ("T", "m")),
        (b'{"errorType": "E"}', None, ("E", "")),
    ]:
        error = error_from_document(body, header)
        assert (error.error_type, error.error_message) == expected
