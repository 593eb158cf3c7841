"""boto3 management calls from in-process handlers, answered without HTTP.

A handler's ``boto3.client("apigatewaymanagementapi", endpoint_url=...)`` call to a
gateway listening in this process is served by ``server.management.perform`` directly: a
botocore ``before-call`` handler returns the response botocore would have parsed, the way
botocore's Stubber does. The answer goes through botocore's own parser, so return values
and exceptions are those of the HTTP path. Calls to any other URL, and calls botocore
would refuse to sign, go over HTTP as before. A handler thread's POST to an open
connection does not even wait for the loop: its frame is queued there and the 200 comes
back at once.

botocore is never imported here: the handler is added to ``botocore.handlers`` when that
module is (or already was) imported, so a gateway whose handlers never use boto3 pays
nothing for it.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.abc
import importlib.machinery
import ipaddress
import sys
import threading
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from aiohttp.http import SERVER_SOFTWARE

from wsgate.core.http1 import wire_headers
from wsgate.integrations.eager import Resumed
from wsgate.server.gateway import Gateway
from wsgate.server.management import Reply, perform, post_from_thread


__all__ = [
    "add_listener",
    "install_hook",
    "listener_hosts",
    "remove_gateway",
    "served_count",
]

_EVENT = "before-call.apigatewaymanagementapi"
_BOTOCORE_HANDLERS = "botocore.handlers"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK_OF_WILDCARD = {4: "127.0.0.1", 6: "::1"}
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})
_UNKNOWN = object()
_DEFAULT_READ_TIMEOUT = 60.0  # botocore's


# --- where the gateways of this process listen ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Local:
    """A gateway reachable at some URLs, and the loop that runs it."""

    gateway: Gateway
    loop: asyncio.AbstractEventLoop


_listeners: dict[tuple[str, str, int], _Local] = {}
"""(scheme, host, port) → gateway. Replaced, never mutated, so threads read it unlocked."""
_table_lock = threading.Lock()


def listener_hosts(
    addresses: Iterable[str], bind_host: str, domain_name: str | None
) -> frozenset[str]:
    """The URL hosts (lower case, IPv6 without brackets) that reach a listener.

    Args:
        addresses: the addresses its sockets are bound to, as ``getsockname`` gives them.
        bind_host: ``server.host``; a name (not a wildcard) counts as well.
        domain_name: ``server.domain_name`` as configured (``host`` or ``host:port``).

    A loopback or wildcard socket is reached by ``localhost`` and the loopback address of
    its family; any other address only by itself.
    """
    hosts: set[str] = set()
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_unspecified:
            hosts.update(("localhost", _LOOPBACK_OF_WILDCARD[ip.version]))
        elif ip.is_loopback:
            hosts.update(("localhost", ip.compressed))
        else:
            hosts.add(ip.compressed)
    if bind_host.lower() not in _WILDCARD_HOSTS:
        hosts.add(bind_host.lower().strip("[]"))
    if domain_name:
        domain_host = urlsplit(f"//{domain_name}").hostname
        if domain_host:
            hosts.add(domain_host)
    return frozenset(hosts)


def add_listener(gateway: Gateway, scheme: str, port: int, addresses: Sequence[str]) -> None:
    """Serve boto3 calls to ``scheme://{host}:{port}`` in process; call on the gateway's loop.

    The hosts are those of ``listener_hosts`` for the gateway's ``server`` settings.
    """
    server = gateway.config.server
    local = _Local(gateway, asyncio.get_running_loop())
    keys = {
        (scheme, host, port): local
        for host in listener_hosts(addresses, server.host, server.domain_name)
    }
    global _listeners
    with _table_lock:
        _listeners = {**_listeners, **keys}


def remove_gateway(gateway: Gateway) -> None:
    """Stop serving ``gateway``'s URLs in process; later calls go over HTTP."""
    global _listeners
    with _table_lock:
        _listeners = {key: v for key, v in _listeners.items() if v.gateway is not gateway}


def _find(url: str) -> tuple[_Local, str] | None:
    """The local gateway ``url`` names and the path to ask it for, or None."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:  # not a port number: let botocore fail as it would
        return None
    local = _listeners.get((parts.scheme, host, port))
    if local is None:
        return None
    path = f"{parts.path}?{parts.query}" if parts.query else parts.path
    return local, path


# --- running a call on the gateway's loop ---------------------------------------------


class _Counter:
    """How many calls took the in-process path (for tests and diagnostics)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


_served = _Counter()


def served_count() -> int:
    """How many management calls were handed to a local gateway instead of HTTP so far."""
    return _served.value


def _run_here(coro: Coroutine[Any, Any, Reply]) -> Reply:
    """Finish ``coro`` on the loop's own thread, which must not block on the loop.

    An ``async def`` handler calling the synchronous boto3 holds the loop; with the
    in-memory registry ``perform`` never has to wait, so it completes in one step.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: Reply = done.value
        return result
    coro.close()
    raise RuntimeError(
        "a boto3 management call made on the event loop (from an async def handler) had "
        "to wait for the loop it blocks; call boto3 from a plain def handler, or await "
        "asyncio.to_thread(client.post_to_connection, ...)"
    )


def _run(local: _Local, method: str, path: str, body: bytes, timeout: float) -> Reply | None:
    """The gateway's answer; None when its loop no longer runs.

    From a handler thread, a POST to an open connection is queued on the loop without
    waiting for it (``post_from_thread``); every other call is ``perform`` on the loop.
    """
    loop = local.loop
    if loop.is_closed() or not loop.is_running():
        return None
    _served.add()  # counted before the loop acts, so a test that saw the effect sees it
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        return _run_here(perform(local.gateway, method, path, body))
    posted = post_from_thread(local.gateway, method, path, body)
    if posted is not None:
        return posted
    coro = perform(local.gateway, method, path, body)
    call = _LoopCall(coro)
    try:
        loop.call_soon_threadsafe(call.begin, loop)
    except RuntimeError:  # closed meanwhile
        coro.close()
        return None
    return call.wait(timeout)


class _LoopCall:
    """``perform`` handed to the loop from another thread, and its answer handed back.

    Lighter than ``run_coroutine_threadsafe`` (a task, a concurrent future and the
    callbacks chaining them): one callback on the loop runs the coroutine at once, which
    with the in-memory registry always finishes, and a lock wakes the caller.
    """

    __slots__ = ("_coro", "_done", "_error", "_reply", "_task")

    def __init__(self, coro: Coroutine[Any, Any, Reply]) -> None:
        self._coro = coro
        self._reply: Reply | None = None
        self._error: BaseException | None = None
        self._task: asyncio.Task[Reply] | None = None
        self._done = threading.Lock()
        self._done.acquire()

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            signal = self._coro.send(None)
        except StopIteration as finished:
            self._reply = finished.value
        except BaseException as error:  # handed to the waiting thread
            self._error = error
        else:  # it waits (a registry on the network): finish it in a task
            self._task = loop.create_task(_resumed(self._coro, signal))
            self._task.add_done_callback(self._finished)
            return
        self._done.release()

    def _finished(self, task: asyncio.Task[Reply]) -> None:
        if task.cancelled():
            self._error = TimeoutError()
        elif (error := task.exception()) is not None:
            self._error = error
        else:
            self._reply = task.result()
        self._done.release()

    def wait(self, timeout: float) -> Reply:
        if not self._done.acquire(timeout=timeout):
            task = self._task
            if task is not None:
                task.get_loop().call_soon_threadsafe(task.cancel)
            raise TimeoutError
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply


async def _resumed(coro: Coroutine[Any, Any, Reply], signal: Any) -> Reply:
    return await Resumed(coro, signal)


# --- the botocore side ----------------------------------------------------------------


class _Body:
    """The ``raw`` of a botocore ``AWSResponse``: a body already read."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterable[bytes]:
        return iter((self._data,))


def _request_body(body: object) -> bytes:
    """The bytes botocore would send for ``params["body"]``."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    data = body.read()  # type: ignore[attr-defined]  # a file-like Data
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


@functools.cache
def _parser(protocol: str) -> Any:
    """botocore's response parser for ``protocol``; parsers keep no per-response state."""
    from botocore.parsers import create_parser

    return create_parser(protocol)


def _botocore_response(model: Any, url: str, reply: Reply) -> tuple[Any, dict[str, Any]]:
    """(http_response, parsed) exactly as botocore's endpoint builds them from a response."""
    from botocore.awsrequest import AWSResponse
    from botocore.endpoint import convert_to_response_dict

    status, headers, body = reply
    # The headers aiohttp or the front door would write, so HTTPHeaders match the HTTP path.
    wire = wire_headers(status, headers, body, int(time.time()), SERVER_SOFTWARE)
    http = AWSResponse(url, status, wire, _Body(body))
    response = convert_to_response_dict(http, model)
    service = model.service_model
    parser = _parser(getattr(service, "resolved_protocol", None) or service.protocol)
    parsed: dict[str, Any] = parser.parse(response, model.output_shape)
    if status >= 300:
        # As the endpoint does: the modeled error's own fields join Error and metadata.
        code = parsed.get("Error", {}).get("Code")
        shape = service.shape_for_error_code(code) if code is not None else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    if "ResponseMetadata" in parsed:
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
    return http, parsed


def _before_call(
    model: Any, params: dict[str, Any], request_signer: Any, context: Any, **kwargs: Any
) -> tuple[Any, dict[str, Any]] | None:
    """botocore's ``before-call.apigatewaymanagementapi``: answer locally, or None for HTTP."""
    if not _listeners:
        return None
    url = params["url"]
    found = _find(url)
    if found is None:
        return None
    # No credentials: botocore raises NoCredentialsError when it signs, as over HTTP.
    if getattr(request_signer, "_credentials", _UNKNOWN) is None:
        return None
    local, path = found
    client_config = context.get("client_config") if isinstance(context, dict) else None
    timeout = getattr(client_config, "read_timeout", None) or _DEFAULT_READ_TIMEOUT
    try:
        reply = _run(local, params["method"], path, _request_body(params.get("body")), timeout)
    except TimeoutError:
        from botocore.exceptions import ReadTimeoutError

        raise ReadTimeoutError(endpoint_url=url) from None
    if reply is None:
        return None
    return _botocore_response(model, url, reply)


# --- installing the handler into botocore ---------------------------------------------

_installed = False
_install_lock = threading.Lock()


def _add_to_botocore(handlers: ModuleType) -> None:
    """Register ``_before_call`` for sessions made from now on, and boto3's default one."""
    spec = (_EVENT, _before_call)
    builtin: list[Any] = handlers.BUILTIN_HANDLERS
    if spec not in builtin:
        builtin.append(spec)
    # A session made before this point copied the builtin handlers without ours.
    boto3 = sys.modules.get("boto3")
    session = getattr(boto3, "DEFAULT_SESSION", None)
    if session is not None:
        session.events.register(_EVENT, _before_call, unique_id="wsgate.inprocess")


class _ThenAdd(importlib.abc.Loader):
    """``botocore.handlers``' own loader, then ``_add_to_botocore`` on the fresh module."""

    def __init__(self, loader: importlib.abc.Loader, finder: _BotocoreWatch) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _add_to_botocore(module)
        self._finder.retire()

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... as the original
        return getattr(self._loader, name)


class _BotocoreWatch(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader others find for ``botocore.handlers``."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _BOTOCORE_HANDLERS:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenAdd(spec.loader, self)
                return spec
        return None

    def retire(self) -> None:
        """Leave ``sys.meta_path``: its one module is imported."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def install_hook() -> None:
    """Make every botocore session created from now on serve local calls in process.

    Idempotent. Call it before handler modules are imported, so that clients they
    create at import time have the hook too.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        handlers = sys.modules.get(_BOTOCORE_HANDLERS)
        if handlers is not None:
            _add_to_botocore(handlers)
        else:
            sys.meta_path.insert(0, _BotocoreWatch())
