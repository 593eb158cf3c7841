"""The Lambda Runtime API (``2018-06-01``) as one worker sees it, on 127.0.0.1.

Every worker gets a listener of its own, on a port the kernel picks, named in its
``AWS_LAMBDA_RUNTIME_API``. That is how a call is known to come from that worker:
``/next`` and ``/init/error`` carry no request id, and the runtime clients build their
URLs from ``host:port`` alone, so one shared listener could not tell which process asks
for work or reports a failed init, nor keep one process from answering another's
invocation. A listener costs a socket and a few objects next to a process of tens of MB,
and there are at most ``concurrency`` of them per function.

The answers, statuses and error documents are Lambda's (``session`` decides them). Only
loopback is bound; nothing here is reachable from another machine.
"""

from __future__ import annotations

import logging
from typing import Protocol

import orjson
from aiohttp import web

from wsgate.bodies import read_capped
from wsgate.workers.errors import FunctionError
from wsgate.workers.invocation import Invocation
from wsgate.workers.session import (
    ACCEPTED,
    MAX_RESPONSE_BYTES,
    Refusal,
    RuntimeSession,
    too_large,
)


__all__ = ["PREFIX", "RuntimeApi", "RuntimeHost", "WorkerStopping", "error_from_document"]

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

log = logging.getLogger("wsgate.workers")


class WorkerStopping(Exception):
    """The worker is being stopped: a waiting ``/next`` is answered 500."""


class RuntimeHost(Protocol):
    """What the Runtime API asks of the worker it serves."""

    session: RuntimeSession

    async def next_invocation(self) -> Invocation:
        """Wait for the next invocation and hand it out (``session.poll()`` accepted).

        Raises:
            WorkerStopping: the worker is being stopped.
        """
        ...

    def responded(self, body: bytes, content_type: str) -> None:
        """The runtime posted the running invocation's result (``session`` moved)."""
        ...

    def errored(self, error: FunctionError, *, exits: bool = False) -> None:
        """The running invocation failed: its error, or (``exits``: the runtime is told
        413 and exits) a response over the limit."""
        ...

    def init_failed(self, error: FunctionError) -> None:
        """The runtime posted ``/init/error``; it exits next."""
        ...


class RuntimeApi:
    """One worker's Runtime API listener: start it, give the worker its address, close it."""

    def __init__(self, host: RuntimeHost, *, function_arn: str) -> None:
        self._host = host
        self._function_arn = function_arn
        app = web.Application()
        app.router.add_get(f"{PREFIX}/invocation/next", self._next)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{PREFIX}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{PREFIX}/init/error", self._init_error)
        # A runtime polls /next with no timeout of its own: when its connection goes, so
        # does the poll (handler_cancellation), and a stop does not wait for it long.
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        self.address = ""
        """``127.0.0.1:<port>`` once started: the worker's ``AWS_LAMBDA_RUNTIME_API``."""

    async def start(self) -> str:
        """Listen on a free loopback port; the address to give the worker."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, reuse_address=True)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = f"{host}:{port}"
        return self.address

    async def close(self) -> None:
        """Stop listening and drop the runtime's connections."""
        await self._runner.cleanup()

    # --- the four calls ----------------------------------------------------------------

    async def _next(self, request: web.Request) -> web.StreamResponse:
        refusal = self._host.session.poll()
        if refusal is not None:
            return _refuse(refusal)
        try:
            invocation = await self._host.next_invocation()
        except WorkerStopping:
            return _refuse(Refusal(500, "InternalServerError", "Internal Server Error"))
        return web.Response(
            body=invocation.body,
            content_type="application/json",
            headers=invocation.headers(self._function_arn),
        )

    async def _response(self, request: web.Request) -> web.StreamResponse:
        refusal = self._host.session.answer(request.match_info["request_id"], "response")
        if refusal is not None:
            return _refuse(refusal)
        declared = request.content_length
        if declared is not None and declared > MAX_RESPONSE_BYTES:
            return self._too_large(f"{declared} bytes")
        body = await read_capped(request, MAX_RESPONSE_BYTES)
        if len(body) > MAX_RESPONSE_BYTES:
            return self._too_large(f"over {MAX_RESPONSE_BYTES} bytes")
        self._host.responded(body, request.content_type)
        return _accepted()

    def _too_large(self, size: str) -> web.Response:
        """The running invocation fails; the runtime gets 413, exits, and is replaced."""
        self._host.errored(
            FunctionError(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({size}) exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            ),
            exits=True,
        )
        return _refuse(too_large())

    async def _error(self, request: web.Request) -> web.StreamResponse:
        refusal = self._host.session.answer(request.match_info["request_id"], "error")
        if refusal is not None:
            return _refuse(refusal)
        body = await read_capped(request, MAX_RESPONSE_BYTES)
        self._host.errored(error_from_document(body, request.headers.get(ERROR_TYPE_HEADER)))
        return _accepted()

    async def _init_error(self, request: web.Request) -> web.StreamResponse:
        refusal = self._host.session.init_error()
        if refusal is not None:
            return _refuse(refusal)
        body = await read_capped(request, MAX_RESPONSE_BYTES)
        self._host.init_failed(error_from_document(body, request.headers.get(ERROR_TYPE_HEADER)))
        return _accepted()


def error_from_document(body: bytes, header_type: str | None) -> FunctionError:
    """The error a runtime posted: ``{"errorType", "errorMessage", "stackTrace"}``.

    A body that is not such a document keeps its text as the message; the type is then
    the ``Lambda-Runtime-Function-Error-Type`` header's, else ``Unhandled``.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        error_type = document.get("errorType")
        message = document.get("errorMessage")
        if not (isinstance(error_type, str) and error_type):
            error_type = header_type or "Unhandled"
        return FunctionError(error_type, message if isinstance(message, str) else "", document)
    return FunctionError(header_type or "Unhandled", body.decode("utf-8", errors="replace"))


def _accepted() -> web.Response:
    return web.Response(status=202, body=ACCEPTED, content_type="application/json")


def _refuse(refusal: Refusal) -> web.Response:
    if refusal.status >= 500:
        log.warning("Runtime API: %s %s", refusal.status, refusal.message)
    return web.Response(status=refusal.status, body=refusal.body(), content_type="application/json")
