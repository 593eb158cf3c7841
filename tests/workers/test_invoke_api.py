"""The Lambda Invoke API and its ``Event`` queues, over pools that are fakes: real
sockets and a real boto3 client, no worker processes (tests/e2e/test_invoke.py has them).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import botocore.config
import orjson
import pytest

from tests.server_support import aws_client
from wsgate.integrations.base import Event, InvokeContext
from wsgate.workers.errors import FunctionError, FunctionThrottled
from wsgate.workers.invoke_api import (
    ENDPOINT_VARIABLE,
    MAX_EVENT_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    InvokeApi,
    InvokeError,
    resolve_function,
)
from wsgate.workers.invoke_events import EventQueue, QueuedEvent
from wsgate.workers.spec import FunctionSpec


HANG = object()
"""An outcome: the invocation never ends (until cancelled)."""

Behaviour = Callable[[object, int], object]


class FakePool:
    """A function's pool whose invocations end as ``behaviour(event, call number)`` says:
    a result, an exception, or ``HANG``."""

    def __init__(
        self, name: str, behaviour: Behaviour, *, timeout: float = 2.0, concurrency: int = 2
    ) -> None:
        self.name = name
        self.spec = FunctionSpec(
            name=name,
            runtime="python3.12",
            code=Path("/nowhere"),
            handler="app.handler",
            timeout=timeout,
            memory_size=128,
            environment={},
            concurrency=concurrency,
            idle_timeout=300,
        )
        self.behaviour = behaviour
        self.calls: list[tuple[object, InvokeContext]] = []
        self.client_contexts: list[str | None] = []
        self.futures: list[asyncio.Future[object]] = []
        self.running = 0
        self.most_running = 0

    def invoke(
        self, event: Event, context: InvokeContext, *, client_context: str | None = None
    ) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.calls.append((event, context))
        self.client_contexts.append(client_context)
        self.futures.append(future)
        outcome = self.behaviour(event, len(self.calls))
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        elif outcome is HANG:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            future.add_done_callback(self._ended)
        else:
            future.set_result(outcome)
        return future

    def _ended(self, _future: asyncio.Future[object]) -> None:
        self.running -= 1


def echo(event: object, _call: int) -> object:
    return {"got": event}


def client(url: str) -> Any:
    return aws_client("lambda", url, config=botocore.config.Config(retries={"max_attempts": 1}))


class Api:
    def __init__(self, api: InvokeApi) -> None:
        self.api = api
        assert api.url is not None
        self.client = client(api.url)

    async def invoke(self, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await asyncio.to_thread(self.client.invoke, **kwargs)
        answer["body"] = answer.pop("Payload").read()
        return answer

    async def error(self, **kwargs: Any) -> Any:
        try:
            await asyncio.to_thread(self.client.invoke, **kwargs)
        except self.client.exceptions.ClientError as error:
            return error
        raise AssertionError("no error")


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., Any]]:
    apis: list[InvokeApi] = []

    async def start(*pools: FakePool, **settings: Any) -> Api:
        api = InvokeApi(
            {pool.name: pool for pool in pools},
            region="us-east-1",
            account_id="123456789012",
            **settings,
        )
        await api.start(set_environment=False)
        apis.append(api)
        return Api(api)

    yield start
    for api in apis:
        await api.aclose(1.0)


# --- names ------------------------------------------------------------------------------

NAMES = {"chat": object()}


@pytest.mark.parametrize(
    ("reference", "qualifier"),
    [
        ("chat", None),
        ("chat:$LATEST", None),
        ("chat", "$LATEST"),
        ("123456789012:function:chat", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:chat:$LATEST", "$LATEST"),
    ],
)
def test_a_function_is_named_by_name_partial_arn_or_arn(
    reference: str, qualifier: str | None
) -> None:
    assert (
        resolve_function(reference, qualifier, NAMES, region="us-east-1", account_id="123456789012")
        == "chat"
    )


@pytest.mark.parametrize(
    ("reference", "qualifier", "arn"),
    [
        ("chta", None, "arn:aws:lambda:us-east-1:123456789012:function:chta"),
        ("chat:1", None, "arn:aws:lambda:us-east-1:123456789012:function:chat:1"),
        ("chat", "prod", "arn:aws:lambda:us-east-1:123456789012:function:chat:prod"),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:chat",
            None,
            "arn:aws:lambda:eu-west-1:123456789012:function:chat",
        ),
        ("111122223333:function:chat", None, "arn:aws:lambda:us-east-1:111122223333:function:chat"),
    ],
)
def test_another_function_version_region_or_account_is_not_found(
    reference: str, qualifier: str | None, arn: str
) -> None:
    with pytest.raises(InvokeError) as raised:
        resolve_function(reference, qualifier, NAMES, region="us-east-1", account_id="123456789012")
    assert (raised.value.status, raised.value.code) == (404, "ResourceNotFoundException")
    assert raised.value.message == f"Function not found: {arn}"


def test_qualifiers_that_disagree_are_refused() -> None:
    with pytest.raises(InvokeError) as raised:
        resolve_function("chat:$LATEST", "1", NAMES, region="us-east-1", account_id="123456789012")
    assert (raised.value.status, raised.value.code) == (400, "InvalidParameterValueException")


# --- RequestResponse ------------------------------------------------------------------


async def test_request_response_answers_the_result(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="chat", Payload=b'{"a": [1, 2]}')
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert orjson.loads(answer["body"]) == {"got": {"a": [1, 2]}}
    assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    # The request id is the function's aws_request_id.
    ((_event, context),) = pool.calls
    assert context.request_id == answer["ResponseMetadata"]["RequestId"]


async def test_an_empty_payload_is_an_empty_object(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="chat")
    assert orjson.loads(answer["body"]) == {"got": {}}


async def test_a_function_error_is_200_with_function_error(start: Callable[..., Any]) -> None:
    """The runtime's document when it posted one, else Lambda's own."""
    posted = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["line"]}

    def fail(_event: object, call: int) -> object:
        if call == 1:
            return FunctionError("ValueError", "boom", posted)
        return FunctionError("Runtime.ExitError", "Runtime exited with error: exit status 1")

    api: Api = await start(FakePool("chat", fail))
    answer = await api.invoke(FunctionName="chat", Payload=b"{}")
    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    assert orjson.loads(answer["body"]) == posted
    answer = await api.invoke(FunctionName="chat", Payload=b"{}")
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert orjson.loads(answer["body"]) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 1",
    }


async def test_a_timeout_is_a_function_error_and_cancels_the_invocation(
    start: Callable[..., Any],
) -> None:
    pool = FakePool("slow", lambda _e, _c: HANG, timeout=0.2)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="slow", Payload=b"{}")
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert answer["FunctionError"] == "Unhandled"
    assert orjson.loads(answer["body"]) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 0.20 seconds",
    }
    assert pool.futures[0].cancelled()  # which kills the worker running it


async def test_a_throttled_invocation_is_429(start: Callable[..., Any]) -> None:
    api: Api = await start(FakePool("busy", lambda _e, _c: FunctionThrottled("Rate Exceeded.")))
    error = await api.error(FunctionName="busy", Payload=b"{}")
    assert isinstance(error, api.client.exceptions.TooManyRequestsException)
    assert error.response["Error"] == {
        "Code": "TooManyRequestsException",
        "Message": "Rate Exceeded.",
    }
    assert error.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert error.response["retryAfterSeconds"] == "1"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429


async def test_log_tail(start: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    """``Tail``: the base64 of the invocation's lines of the ``wsgate.function`` log."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    logger = logging.getLogger("wsgate.function")

    def logs(_event: object, _call: int) -> object:
        request_id = pool.calls[-1][1].request_id
        logger.info("%s %s %s", "chat", request_id, f"START RequestId: {request_id}")
        logger.info("%s %s %s", "chat", "someone-else", "not mine")
        logger.info("%s %s %s", "chat", request_id, "x" * 5000)
        logger.info("%s %s %s", "chat", request_id, "the end")
        return None

    pool = FakePool("chat", logs)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="chat", LogType="Tail")
    tail = base64.b64decode(answer["LogResult"])
    assert len(tail) == 4096 and tail.endswith(b"x\nthe end\n")
    assert b"not mine" not in tail
    assert orjson.loads(answer["body"]) is None
    assert "LogResult" not in await api.invoke(FunctionName="chat")


# --- errors -------------------------------------------------------------------------------


async def test_unknown_function_is_resource_not_found(start: Callable[..., Any]) -> None:
    api: Api = await start(FakePool("chat", echo))
    error = await api.error(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:nope")
    assert isinstance(error, api.client.exceptions.ResourceNotFoundException)
    assert error.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"
    )
    assert error.response["Type"] == "User"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_a_payload_that_is_not_json_is_refused(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    error = await api.error(FunctionName="chat", Payload=b"{nope")
    assert isinstance(error, api.client.exceptions.InvalidRequestContentException)
    assert error.response["Error"]["Message"].startswith("Could not parse request body into json")
    assert pool.calls == []


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_the_client_context_goes_to_a_synchronous_invocation(
    start: Callable[..., Any],
) -> None:
    """As ASCII JSON text (non-ASCII escaped, for the header); an ``Event`` drops it."""
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    context = '{"custom": {"who": "zoë"}, "env": {"locale": "fr"}}'
    await api.invoke(FunctionName="chat", ClientContext=b64(context))
    assert pool.client_contexts == ['{"custom":{"who":"zo\\u00eb"},"env":{"locale":"fr"}}']
    await api.invoke(FunctionName="chat", InvocationType="Event", ClientContext=b64(context))
    for _ in range(100):
        if len(pool.calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert pool.client_contexts[1:] == [None]
    await api.invoke(FunctionName="chat")
    assert pool.client_contexts[2:] == [None]


@pytest.mark.parametrize(
    "context",
    [
        "not base64!",
        b64("not json"),
        b64("[1, 2]"),
        b64('{"custom": "' + "x" * 2700 + '"}'),  # 3,624 characters of base64
    ],
)
async def test_a_bad_client_context_is_refused(start: Callable[..., Any], context: str) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    error = await api.error(FunctionName="chat", ClientContext=context)
    assert isinstance(error, api.client.exceptions.InvalidRequestContentException)
    assert error.response["Error"]["Message"].startswith("Client context must be")
    assert pool.calls == []


async def test_too_large_payloads_are_413(start: Callable[..., Any]) -> None:
    """6 MB for RequestResponse, 256 KB for Event, each size itself allowed."""
    pool = FakePool("chat", lambda _e, _c: None)
    api: Api = await start(pool)
    exactly = b'"' + b"x" * (MAX_SYNC_PAYLOAD - 2) + b'"'
    assert (await api.invoke(FunctionName="chat", Payload=exactly))["StatusCode"] == 200
    error = await api.error(FunctionName="chat", Payload=exactly + b" ")
    assert isinstance(error, api.client.exceptions.RequestTooLargeException)
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    event = b'"' + b"x" * (MAX_EVENT_PAYLOAD - 2) + b'"'
    answer = await api.invoke(FunctionName="chat", InvocationType="Event", Payload=event)
    assert answer["StatusCode"] == 202
    error = await api.error(FunctionName="chat", InvocationType="Event", Payload=event + b" ")
    assert isinstance(error, api.client.exceptions.RequestTooLargeException)
    assert error.response["Error"]["Message"] == (
        "262145 byte payload is too large for the Event invocation type (limit 262144 bytes)"
    )


async def test_a_bad_invocation_type_is_refused(start: Callable[..., Any]) -> None:
    api: Api = await start(FakePool("chat", echo))
    error = await api.error(FunctionName="chat", InvocationType="Later")
    assert isinstance(error, api.client.exceptions.InvalidParameterValueException)


async def test_dry_run_is_204_and_runs_nothing(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="chat", InvocationType="DryRun")
    assert answer["StatusCode"] == 204 and answer["body"] == b""
    assert pool.calls == []
    error = await api.error(FunctionName="nope", InvocationType="DryRun")
    assert isinstance(error, api.client.exceptions.ResourceNotFoundException)


# --- Event --------------------------------------------------------------------------------


async def test_an_event_is_accepted_then_run(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", echo)
    api: Api = await start(pool)
    answer = await api.invoke(FunctionName="chat", InvocationType="Event", Payload=b"[1]")
    assert (answer["StatusCode"], answer["body"]) == (202, b"")
    for _ in range(100):
        if pool.calls:
            break
        await asyncio.sleep(0.01)
    assert [event for event, _ in pool.calls] == [[1]]
    assert pool.calls[0][1].request_id == answer["ResponseMetadata"]["RequestId"]


async def test_a_full_event_queue_is_429(start: Callable[..., Any]) -> None:
    pool = FakePool("chat", lambda _e, _c: HANG, timeout=30, concurrency=1)
    api: Api = await start(pool, events_limit=2)
    for _ in range(2):
        await api.invoke(FunctionName="chat", InvocationType="Event", Payload=b"{}")
    error = await api.error(FunctionName="chat", InvocationType="Event", Payload=b"{}")
    assert isinstance(error, api.client.exceptions.TooManyRequestsException)
    assert len(pool.calls) == 1  # one at a time: the function's concurrency


async def queue_settles(queue: EventQueue) -> None:
    for _ in range(500):
        if not len(queue):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the queue did not empty")


async def test_function_errors_are_retried_twice_then_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = FakePool("chat", lambda _e, _c: FunctionError("ValueError", "boom"))
    queue = EventQueue(pool, retry_delays=(0.05, 0.1))
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert queue.put(QueuedEvent("r-1", {}))
    await queue_settles(queue)
    assert len(pool.calls) == 3
    assert {context.request_id for _, context in pool.calls} == {"r-1"}
    assert loop.time() - began >= 0.15
    assert (queue.completed, queue.failed) == (0, 1)
    assert "Event invocation r-1 dropped after 3 attempts: ValueError: boom" in caplog.text


async def test_a_retry_that_succeeds_ends_it() -> None:
    def flaky(_event: object, call: int) -> object:
        return FunctionError("Runtime.ExitError", "crashed") if call == 1 else "ok"

    pool = FakePool("chat", flaky)
    queue = EventQueue(pool, retry_delays=(0.01, 0.01))
    queue.put(QueuedEvent("r-1", {}))
    await queue_settles(queue)
    assert len(pool.calls) == 2
    assert (queue.completed, queue.failed) == (1, 0)


async def test_a_timeout_is_retried() -> None:
    def slow_once(_event: object, call: int) -> object:
        return HANG if call == 1 else "ok"

    pool = FakePool("chat", slow_once, timeout=0.05)
    queue = EventQueue(pool, retry_delays=(0.01, 0.01))
    queue.put(QueuedEvent("r-1", {}))
    await queue_settles(queue)
    assert pool.futures[0].cancelled()
    assert (len(pool.calls), queue.completed) == (2, 1)


async def test_throttles_are_retried_without_counting() -> None:
    def throttled(_event: object, call: int) -> object:
        return FunctionThrottled("Rate Exceeded.") if call <= 5 else "ok"

    pool = FakePool("chat", throttled)
    queue = EventQueue(pool, retry_delays=(0.01, 0.01), throttle_delay=0.01)
    queue.put(QueuedEvent("r-1", {}))
    await queue_settles(queue)
    assert (len(pool.calls), queue.completed, queue.failed) == (6, 1, 0)


async def test_events_run_at_most_concurrency_at_once() -> None:
    pool = FakePool("chat", lambda _e, _c: HANG, timeout=30, concurrency=2)
    queue = EventQueue(pool)
    for n in range(5):
        assert queue.put(QueuedEvent(f"r-{n}", n))
    await asyncio.sleep(0.05)
    assert (len(pool.calls), pool.running, len(queue)) == (2, 2, 5)
    pool.futures[0].set_result("ok")
    await asyncio.sleep(0.05)
    assert (len(pool.calls), pool.running, len(queue)) == (3, 2, 4)
    left = await queue.close()
    assert sorted(event.request_id for event in left) == [f"r-{n}" for n in range(1, 5)]
    assert pool.running == 0  # what ran was cancelled: its worker killed


async def test_drain_runs_retries_at_once() -> None:
    def flaky(_event: object, call: int) -> object:
        return FunctionError("ValueError", "boom") if call == 1 else "ok"

    pool = FakePool("chat", flaky)
    queue = EventQueue(pool, retry_delays=(60.0, 120.0))
    queue.put(QueuedEvent("r-1", {}))
    await asyncio.sleep(0.02)
    assert len(pool.calls) == 1 and len(queue) == 1  # waiting a minute for its retry
    await asyncio.wait_for(queue.drain(), 1)
    assert (len(pool.calls), queue.completed) == (2, 1)


async def test_shutdown_drains_then_logs_what_is_dropped(
    start: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    quick = FakePool("quick", echo)
    stuck = FakePool("stuck", lambda _e, _c: HANG, timeout=30, concurrency=1)
    api: Api = await start(quick, stuck, retry_delays=(60.0, 120.0))
    quick.behaviour = lambda _e, call: FunctionError("E", "x") if call == 1 else "ok"
    await api.invoke(FunctionName="quick", InvocationType="Event", Payload=b"{}")
    ids = []
    for _ in range(2):
        answer = await api.invoke(FunctionName="stuck", InvocationType="Event", Payload=b"{}")
        ids.append(answer["ResponseMetadata"]["RequestId"])
    await asyncio.sleep(0.05)
    await api.api.aclose(0.3)
    assert len(quick.calls) == 2 and api.api.events["quick"].completed == 1
    for request_id in ids:
        assert f"stuck: Event invocation {request_id} dropped at shutdown" in caplog.text
    assert stuck.running == 0


# --- the endpoint variable ------------------------------------------------------------------


async def test_the_endpoint_variable_is_set_then_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENDPOINT_VARIABLE, "http://elsewhere")
    api = InvokeApi({}, region="us-east-1", account_id="123456789012")
    url = await api.start()
    assert os.environ[ENDPOINT_VARIABLE] == url
    await api.aclose(1.0)
    assert os.environ[ENDPOINT_VARIABLE] == "http://elsewhere"
    monkeypatch.delenv(ENDPOINT_VARIABLE)
    url = await api.start()
    assert os.environ[ENDPOINT_VARIABLE] == url
    await api.aclose(1.0)
    assert ENDPOINT_VARIABLE not in os.environ


async def test_other_paths_are_unknown_operations(start: Callable[..., Any]) -> None:
    api: Api = await start(FakePool("chat", echo))
    error = await asyncio.to_thread(lambda: _get(api.api.url or ""))
    assert error == (404, "UnknownOperationException")


def _get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{url}/2015-03-31/functions", timeout=5)
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["x-amzn-ErrorType"]
    raise AssertionError("answered")
