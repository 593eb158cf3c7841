"""Lambda's Invoke API for the API's functions, on a loopback listener of its own.

``boto3.client("lambda").invoke(FunctionName=..., ...)`` from any function of the API
reaches this listener with no change to the code: the gateway sets
``AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:<port>`` (:data:`ENDPOINT_VARIABLE`) in its
own environment while it runs, for its in-process handlers, and every worker inherits it
(``environment.PASS_THROUGH``). The port is bound when the gateway is built (``reserve``)
and named while the handler modules are imported (``endpoint_set``), so that a client a
module makes at import time is pointed here too. boto3 from 1.28 and the JS SDK v3
read service-specific endpoint variables.

``POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=$LATEST]``, answered
as Lambda answers it (CONTRACT-RUNTIME.md §2):

- ``RequestResponse`` (the default): 200, the function's result as the body,
  ``X-Amz-Executed-Version: $LATEST``; a function error is 200 too, with
  ``X-Amz-Function-Error: Unhandled`` and the error document as the body; with
  ``X-Amz-Log-Type: Tail``, ``X-Amz-Log-Result`` is the base64 of the invocation's last
  4 KB of log (what the ``wsgate.function`` logger records at its level).
- ``Event``: 202 once queued (``invoke_events``); ``DryRun``: 204.
- Errors, with ``x-amzn-ErrorType`` and the JSON body of botocore's lambda model:
  ``ResourceNotFoundException`` 404, ``InvalidRequestContentException`` 400 (not JSON),
  ``InvalidParameterValueException`` 400 (a bad header), ``RequestTooLargeException``
  413 (6 MB; 256 KB for ``Event``), ``TooManyRequestsException`` 429 (the function's
  line or ``Event`` queue is full).
- ``X-Amz-Client-Context`` (base64 of a JSON object) reaches a ``RequestResponse``
  invocation's runtime as ``Lambda-Runtime-Client-Context``: ``context.client_context``
  in Python, ``context.clientContext`` in Node.js. As on Lambda, ``Event`` drops it.

The function is named by its name, a partial ARN (``<account>:function:<name>``) or its
ARN (``arn:aws:lambda:<region>:<account>:function:<name>``), with ``$LATEST`` as the only
qualifier; a region or account other than the API's is another function: not found.
Requests are not authenticated: the listener is on loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import cast

import orjson
from aiohttp import web

from wsgate.core.ids import new_uuid
from wsgate.integrations.base import Event, InvokeContext
from wsgate.workers.errors import FunctionError, FunctionThrottled
from wsgate.workers.invoke_events import (
    RETRY_DELAYS,
    THROTTLE_DELAY,
    EventQueue,
    Invocable,
    QueuedEvent,
)


__all__ = [
    "ENDPOINT_VARIABLE",
    "MAX_CLIENT_CONTEXT",
    "MAX_EVENT_PAYLOAD",
    "MAX_SYNC_PAYLOAD",
    "InvokeApi",
    "InvokeError",
    "client_context",
    "resolve_function",
]

ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_LAMBDA"
"""The variable that points the AWS SDKs' Lambda clients at this listener."""
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
"""Bytes a ``RequestResponse`` (or ``DryRun``) payload may have: 6291456."""
MAX_EVENT_PAYLOAD = 256 * 1024
"""Bytes an ``Event`` payload may have: 262144."""
MAX_CLIENT_CONTEXT = 3583
"""Characters of base64 an ``X-Amz-Client-Context`` may have (Lambda's limit)."""
CLIENT_CONTEXT_HEADER = "X-Amz-Client-Context"
LOG_TAIL_BYTES = 4096
"""``X-Amz-Log-Result`` holds the last 4 KB of the invocation's log."""
_DISCARD_LIMIT = 4 * MAX_SYNC_PAYLOAD
"""A body too large is read (and dropped) up to this size, so the client sees the 413."""
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")

log = logging.getLogger("wsgate.workers")

_NAME = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


class InvokeError(Exception):
    """An answer of the Invoke API other than the function's: one of the model's errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        message_key: str = "message",
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.message_key = message_key
        """``message`` or ``Message``: the member the model names for this error."""
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def response(self, request_id: str) -> web.Response:
        """The error as Lambda sends it: ``x-amzn-ErrorType`` and ``{"Type", "message"}``."""
        kind = "Service" if self.status >= 500 else "User"
        body = {"Type": kind, self.message_key: self.message, **self.fields}
        return web.Response(
            status=self.status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"x-amzn-ErrorType": self.code, "x-amzn-RequestId": request_id, **self.headers},
        )


def resolve_function(
    reference: str,
    qualifier: str | None,
    names: Mapping[str, object],
    *,
    region: str,
    account_id: str,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """The name of the function ``reference`` (name, partial ARN or ARN) designates;
    ``aliases`` maps a deployed name to its function's name.

    Raises:
        InvokeError: ``ResourceNotFoundException`` when it is not one of ``names``,
            in this region and account, at ``$LATEST``; ``InvalidParameterValueException``
            when the ARN's qualifier and ``Qualifier`` disagree.
    """
    match = _NAME.fullmatch(reference)
    if match is None:
        raise _not_found(f"arn:aws:lambda:{region}:{account_id}:function:{reference}")
    name = match["name"]
    if aliases and name not in names:
        name = aliases.get(name, name)
    if match["qualifier"] and qualifier and match["qualifier"] != qualifier:
        raise InvokeError(
            400,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        )
    version = match["qualifier"] or qualifier
    arn = (
        f"arn:{match['partition'] or 'aws'}:lambda:{match['region'] or region}:"
        f"{match['account'] or account_id}:function:{name}"
    )
    if version:
        arn += f":{version}"
    if (
        name not in names
        or (match["region"] or region) != region
        or (match["account"] or account_id) != account_id
        or (version or "$LATEST") != "$LATEST"
    ):
        raise _not_found(arn)
    return name


def _not_found(arn: str) -> InvokeError:
    return InvokeError(
        404, "ResourceNotFoundException", f"Function not found: {arn}", message_key="Message"
    )


class _LogTail(logging.Handler):
    """Collects the ``wsgate.function`` lines of the invocations asked for with ``Tail``."""

    def __init__(self) -> None:
        super().__init__()
        self.wanted: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 3 and args[1] in self.wanted:
            self.wanted[args[1]].append(str(args[2]))

    def result(self, request_id: str) -> str:
        """``X-Amz-Log-Result``: the base64 of the last 4 KB of the lines collected."""
        text = "".join(line + "\n" for line in self.wanted.pop(request_id, []))
        return base64.b64encode(text.encode()[-LOG_TAIL_BYTES:]).decode("ascii")


class InvokeApi:
    """The Invoke API over the pools of ``functions:``; see the module's docstring."""

    def __init__(
        self,
        pools: Mapping[str, Invocable],
        *,
        region: str,
        account_id: str,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        throttle_delay: float = THROTTLE_DELAY,
        events_limit: int | None = None,
        reserve: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.pools = dict(pools)
        self.aliases = dict(aliases or {})
        """A function's deployed name → its name (``functions.<name>.deployed_name``)."""
        self.region = region
        self.account_id = account_id
        self._queue_settings = (retry_delays, throttle_delay, events_limit)
        self.events: dict[str, EventQueue] = {}
        """Each function's ``Event`` queue, made at ``start``."""
        self._former: list[tuple[str, EventQueue]] = []
        """Queues of functions a reload removed or replaced: they run what they hold and
        are closed with the API."""
        self.url: str | None = None
        """``http://127.0.0.1:<port>`` once started."""
        self._runner: web.AppRunner | None = None
        self._tail = _LogTail()
        self._variable_before: str | None = None
        self._socket: socket.socket | None = None
        """The port bound ahead of ``start`` (``reserve``), not yet listening."""
        if reserve:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.bind(("127.0.0.1", 0))
            self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    @contextmanager
    def endpoint_set(self) -> Iterator[None]:
        """``AWS_ENDPOINT_URL_LAMBDA`` names the reserved port for the duration, then is
        what it was: the gateway imports its in-process handlers within, so that a Lambda
        client a module makes at import time is pointed here, as a worker's is."""
        if self.url is None:
            yield
            return
        before = os.environ.get(ENDPOINT_VARIABLE)
        os.environ[ENDPOINT_VARIABLE] = self.url
        try:
            yield
        finally:
            _put_back(before)

    async def start(self, *, set_environment: bool = True) -> str:
        """Listen on the reserved port, else a free loopback port; point
        ``AWS_ENDPOINT_URL_LAMBDA`` at it."""
        delays, throttle_delay, limit = self._queue_settings
        self.events = {
            name: EventQueue(pool, limit=limit, retry_delays=delays, throttle_delay=throttle_delay)
            for name, pool in self.pools.items()
        }
        app = web.Application()
        app.router.add_post("/2015-03-31/functions/{name}/invocations", self._invoke)
        app.router.add_route("*", "/{path:.*}", _unknown)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        reserved, self._socket = self._socket, None
        site: web.BaseSite = (
            web.SockSite(runner, reserved)
            if reserved is not None
            else web.TCPSite(runner, "127.0.0.1", 0)
        )
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        logging.getLogger("wsgate.function").addHandler(self._tail)
        if set_environment:
            self._variable_before = os.environ.get(ENDPOINT_VARIABLE)
            os.environ[ENDPOINT_VARIABLE] = self.url
        log.info("Lambda Invoke API for %d functions on %s", len(self.pools), self.url)
        return self.url

    def set_pools(self, pools: Mapping[str, Invocable]) -> None:
        """Serve the functions of ``pools`` from now on (a reload). A function whose pool
        is the same keeps its queue; another gets a new one."""
        delays, throttle_delay, limit = self._queue_settings
        self._former = [(name, queue) for name, queue in self._former if len(queue)]
        for name in list(self.events):
            if pools.get(name) is not self.pools.get(name):
                self._former.append((name, self.events.pop(name)))
        self.pools = dict(pools)
        if self._runner is None:  # not started: start makes the queues
            return
        for name, pool in self.pools.items():
            if name not in self.events:
                self.events[name] = EventQueue(
                    pool, limit=limit, retry_delays=delays, throttle_delay=throttle_delay
                )

    async def aclose(self, timeout: float) -> None:
        """Drain the ``Event`` queues for up to ``timeout`` seconds, log what is dropped,
        then close the listener. The listener serves until the drain is over: a draining
        event may invoke again."""
        every = [*self.events.items(), *self._former]
        queues = [queue for _name, queue in every if len(queue)]
        if queues:
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(queue.drain() for queue in queues)), timeout
                )
            except TimeoutError:
                pass
        for name, queue in every:
            for event in await queue.close():
                log.error(
                    "%s: Event invocation %s dropped at shutdown (queued %.1f s ago)",
                    name,
                    event.request_id,
                    time.monotonic() - event.accepted,
                )
        logging.getLogger("wsgate.function").removeHandler(self._tail)
        if self.url is not None and os.environ.get(ENDPOINT_VARIABLE) == self.url:
            _put_back(self._variable_before)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:  # reserved, never started
            self._socket.close()
            self._socket = None

    # --- the endpoint ------------------------------------------------------------------

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        request_id = new_uuid()
        try:
            return await self._answer(request, request_id)
        except InvokeError as error:
            return error.response(request_id)

    async def _answer(self, request: web.Request, request_id: str) -> web.StreamResponse:
        name = resolve_function(
            request.match_info["name"],
            request.query.get("Qualifier"),
            self.pools,
            region=self.region,
            account_id=self.account_id,
            aliases=self.aliases,
        )
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        log_type = request.headers.get("X-Amz-Log-Type", "None")
        _check_enum("invocationType", invocation_type, INVOCATION_TYPES)
        _check_enum("logType", log_type, LOG_TYPES)
        context = client_context(request.headers.get(CLIENT_CONTEXT_HEADER))
        limit = MAX_EVENT_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        body, size = await _read_body(request, limit)
        if size > limit:
            message = (
                f"{size} byte payload is too large for the Event invocation type "
                f"(limit {MAX_EVENT_PAYLOAD} bytes)"
                if invocation_type == "Event"
                else f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the "
                "InvokeFunction operation"
            )
            raise InvokeError(413, "RequestTooLargeException", message)
        payload = _parsed(body)
        headers = {"x-amzn-RequestId": request_id}
        if invocation_type == "DryRun":
            return web.Response(status=204, headers=headers)
        if invocation_type == "Event":
            if not self.events[name].put(QueuedEvent(request_id, payload)):
                log.warning("%s: Event invocation throttled: its queue is full", name)
                raise _throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
            return web.Response(status=202, headers=headers)
        # As on Lambda, only a synchronous invocation passes the client context on.
        return await self._request_response(name, payload, request_id, log_type == "Tail", context)

    async def _request_response(
        self, name: str, payload: object, request_id: str, tail: bool, context: str | None
    ) -> web.Response:
        pool = self.pools[name]
        timeout = pool.spec.timeout
        if tail:
            self._tail.wanted[request_id] = []
        future = pool.invoke(
            cast(Event, payload),
            InvokeContext(request_id, time.monotonic() + timeout),
            client_context=context,
        )
        headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        try:
            result = await asyncio.wait_for(future, timeout)
            body = result if isinstance(result, bytes) else orjson.dumps(result)
        except FunctionThrottled:
            self._tail.wanted.pop(request_id, None)
            raise _throttled("ReservedFunctionConcurrentInvocationLimitExceeded") from None
        except FunctionError as error:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = orjson.dumps(_error_document(error, request_id))
        except TimeoutError:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = orjson.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                    f"{timeout:.2f} seconds",
                }
            )
        finally:
            if tail:
                # The worker's START/END/REPORT are logged before its answer resolves.
                headers["X-Amz-Log-Result"] = self._tail.result(request_id)
        return web.Response(status=200, body=body, content_type="application/json", headers=headers)


def client_context(header: str | None) -> str | None:
    """The JSON text a runtime gets as ``Lambda-Runtime-Client-Context``, from the base64
    JSON object of ``X-Amz-Client-Context``; None without one.

    Written again as ASCII JSON (``\\u`` escapes), which an HTTP header can carry as is.

    Raises:
        InvokeError: ``InvalidRequestContentException`` when it is longer than Lambda's
            3583 characters, not base64, or not a JSON object.
    """
    if not header:
        return None
    if len(header) > MAX_CLIENT_CONTEXT:
        raise InvokeError(
            400,
            "InvalidRequestContentException",
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes, base64-encoded.",
        )
    try:
        document = orjson.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):  # orjson's JSONDecodeError is a ValueError
        document = None
    if not isinstance(document, dict):
        raise InvokeError(
            400,
            "InvalidRequestContentException",
            "Client context must be a valid Base64-encoded JSON object.",
        )
    return json.dumps(document, separators=(",", ":"))


def _error_document(error: FunctionError, request_id: str) -> object:
    """The payload of a function error: what the runtime posted, else Lambda's own."""
    if isinstance(error.payload, dict):
        return error.payload
    message = error.error_message
    if error.error_type in ("Runtime.ExitError", "Sandbox.Timedout"):
        message = f"RequestId: {request_id} Error: {message}"
    return {"errorType": error.error_type, "errorMessage": message}


def _throttled(reason: str) -> InvokeError:
    return InvokeError(
        429,
        "TooManyRequestsException",
        "Rate Exceeded.",
        fields={"Reason": reason},
        headers={"Retry-After": "1"},
    )


def _check_enum(member: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvokeError(
            400,
            "InvalidParameterValueException",
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]",
        )


def _parsed(body: bytes) -> object:
    """The payload as JSON (an empty one is ``{}``), or ``InvalidRequestContentException``."""
    if not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvokeError(
            400,
            "InvalidRequestContentException",
            f"Could not parse request body into json: Could not parse payload into json: {error}",
        ) from None


async def _read_body(request: web.Request, limit: int) -> tuple[bytes, int]:
    """The body if at most ``limit`` bytes, and its size (read on, then dropped, past it)."""
    kept = bytearray()
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size <= limit:
            kept += chunk
        elif size > _DISCARD_LIMIT:
            break
    return bytes(kept), size


async def _unknown(request: web.Request) -> web.Response:
    return InvokeError(404, "UnknownOperationException", "Unknown operation").response(new_uuid())


def _put_back(before: str | None) -> None:
    """``AWS_ENDPOINT_URL_LAMBDA`` as it was before the Invoke API named itself there."""
    if before is None:
        os.environ.pop(ENDPOINT_VARIABLE, None)
    else:
        os.environ[ENDPOINT_VARIABLE] = before
