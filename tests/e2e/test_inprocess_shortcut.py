"""A management client calling a gateway of this process skips botocore's endpoint rules and
User-Agent, and nothing a user or a library hooks into changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import botocore.client
import pytest
from aiohttp import web
from botocore.exceptions import EndpointConnectionError
from botocore.stub import StubAssertionError, Stubber

from tests.e2e.conftest import GatewayFactory, RunningGateway
from tests.e2e.test_inprocess import ROUTES, client_for, connect, over_http
from tests.http_app import serving
from wsgate.server import inprocess
from wsgate.server.inprocess.shortcut import LocalShortcuts


BEFORE_CALL = "before-call.apigatewaymanagementapi"
"""Every operation's ``before-call`` event on the client."""


@pytest.fixture
async def running(gateway_factory: GatewayFactory) -> RunningGateway:
    gateway: RunningGateway = await gateway_factory(routes=ROUTES)
    return gateway


def resolutions(client: Any) -> list[str]:
    """The operations botocore resolves the endpoint of, from now on, on ``client``."""
    seen: list[str] = []
    resolver = client._ruleset_resolver
    construct = resolver.construct_endpoint

    def counted(**kwargs: Any) -> Any:
        seen.append(kwargs["operation_model"].name)
        return construct(**kwargs)

    resolver.construct_endpoint = counted
    return seen


def requests(client: Any) -> list[dict[str, Any]]:
    """The request dicts ``before-call`` handlers of ``client`` are given, from now on."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        seen.append(params)

    client.meta.events.register_first(BEFORE_CALL, record)
    return seen


async def in_thread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(call, *args, **kwargs)


async def test_each_operation_resolves_its_endpoint_once_then_skips_it(
    running: RunningGateway,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running)
        client = running.management_client()
        assert type(client).__mro__[1] is LocalShortcuts
        resolved, sent = resolutions(client), requests(client)
        for data in (b"one", b"two", b"three"):
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=data)
        for _ in range(2):
            info = await in_thread(client.get_connection, ConnectionId=ws_id)
            assert info["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert [await ws.recv() for _ in range(3)] == ["one", "two", "three"]
        assert resolved == ["PostToConnection", "GetConnection"]
        quoted = ws_id.replace("=", "%3D")
        assert [(r["method"], r["url"], r["body"]) for r in sent] == [
            *[
                ("POST", f"{running.management_url}/@connections/{quoted}", d)
                for d in (b"one", b"two", b"three")
            ],
            *[("GET", f"{running.management_url}/@connections/{quoted}", b"")] * 2,
        ]
        # The header of a request never sent is not written.
        assert all("User-Agent" not in r["headers"] for r in sent)


async def test_a_hook_moving_the_endpoint_is_honoured_at_every_call(
    running: RunningGateway,
) -> None:
    """botocore's resolution gives another URL than the client's: it is never skipped."""
    stageless = f"http://127.0.0.1:{running.port}"

    def move(builtins: dict[str, Any], **kwargs: Any) -> None:
        builtins["SDK::Endpoint"] = stageless

    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running)
        client = running.management_client()
        client.meta.events.register("before-endpoint-resolution.apigatewaymanagementapi", move)
        resolved, sent = resolutions(client), requests(client)
        for _ in range(3):
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=b"m")
        assert [await ws.recv() for _ in range(3)] == ["m", "m", "m"]
    assert resolved == ["PostToConnection"] * 3
    quoted = ws_id.replace("=", "%3D")
    assert [r["url"] for r in sent] == [f"{stageless}/@connections/{quoted}"] * 3


async def test_a_client_of_another_endpoint_is_botocores_own(running: RunningGateway) -> None:
    """No gateway of this process listens on the URL (an aiohttp server does): the endpoint
    is resolved and the User-Agent written at every call."""
    agents: list[str] = []

    async def post(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent", ""))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/dev/@connections/{id}", post)
    async with serving(app) as port:
        client = client_for(f"http://127.0.0.1:{port}/dev")
        assert type(client).__mro__[1] is LocalShortcuts
        resolved = resolutions(client)
        before = inprocess.served_count()
        for _ in range(3):
            await in_thread(client.post_to_connection, ConnectionId="a", Data=b"x")
        assert inprocess.served_count() == before
    assert resolved == ["PostToConnection"] * 3
    assert len(agents) == 3 and all("Botocore/" in agent for agent in agents)


async def test_a_stubber_on_a_local_client_still_answers_and_checks_first(
    running: RunningGateway,
) -> None:
    client = running.management_client()
    before = inprocess.served_count()
    with Stubber(client) as stubber:
        for _ in range(2):  # the second call after the endpoint is known
            stubber.add_response(
                "post_to_connection", {}, {"ConnectionId": "stubbed", "Data": b"x"}
            )
            answer = await in_thread(client.post_to_connection, ConnectionId="stubbed", Data=b"x")
            assert answer == {}  # the Stubber's own answer
        stubber.add_response("post_to_connection", {}, {"ConnectionId": "stubbed", "Data": b"x"})
        with pytest.raises(StubAssertionError):
            await in_thread(client.post_to_connection, ConnectionId="other", Data=b"x")
    assert inprocess.served_count() == before


async def test_every_event_a_user_hooks_still_fires(running: RunningGateway) -> None:
    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running)
        client = running.management_client()
        fired: list[tuple[str, str]] = []

        def hook(event_name: str, **kwargs: Any) -> None:
            fired.append((event_name.split(".")[0], event_name.split(".")[-1]))

        for event in ("provide-client-params", "before-parameter-build", "after-call"):
            client.meta.events.register(f"{event}.apigatewaymanagementapi", hook)
        client.meta.events.register_first(BEFORE_CALL, hook)
        for _ in range(2):
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=b"hi")
        assert [await ws.recv() for _ in range(2)] == ["hi", "hi"]
        assert (
            fired
            == [
                ("provide-client-params", "PostToConnection"),
                ("before-parameter-build", "PostToConnection"),
                ("before-call", "PostToConnection"),
                ("after-call", "PostToConnection"),
            ]
            * 2
        )


def _outcome(client: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        client.post_to_connection(**kwargs)
    except Exception as error:  # compared, whatever it is
        return type(error).__name__, str(error)
    return "returned", ""


@pytest.mark.parametrize(
    ("kwargs", "raised"),
    [
        ({"ConnectionId": "abc"}, "ParamValidationError"),
        ({"ConnectionId": "abc", "Data": 5}, "ParamValidationError"),
        ({"ConnectionId": "abc", "Data": b"x", "Extra": 1}, "ParamValidationError"),
        ({"Data": b"x"}, "ParamValidationError"),
        ({"ConnectionId": "", "Data": b"x"}, "ClientError"),  # no such path: 403
    ],
)
async def test_bad_parameters_raise_as_on_a_remote_endpoint(
    running: RunningGateway, kwargs: dict[str, Any], raised: str
) -> None:
    local = running.management_client()
    remote = over_http(running.management_url)
    # The local client twice: before and after it knows its endpoint.
    outcomes = [await in_thread(_outcome, client, **kwargs) for client in (local, local, remote)]
    assert outcomes[0][0] == raised
    assert outcomes[0] == outcomes[1] == outcomes[2]


async def test_a_tracer_wrapping_the_client_call_sees_local_calls(
    running: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X-Ray, OpenTelemetry and ddtrace wrap BaseClient._make_api_call: the shortcuts leave
    it to botocore, so local calls are still traced."""
    traced: list[str] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def tracing(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        traced.append(operation_name)
        return make_api_call(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", tracing)
    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running)
        client = running.management_client()
        for _ in range(2):
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=b"t")
        assert [await ws.recv() for _ in range(2)] == ["t", "t"]
    assert traced == ["PostToConnection"] * 2


async def test_a_presigned_url_is_botocores(running: RunningGateway) -> None:
    """Presigning resolves the endpoint as botocore does (its own parameter), even once the
    client's calls skip it."""
    local = running.management_client()
    remote = over_http(running.management_url)
    with pytest.raises(local.exceptions.GoneException):  # the endpoint is known after it
        await in_thread(local.get_connection, ConnectionId="AAAAAAAAAAAAAAA=")
    resolved = resolutions(local)
    params = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    urls = [
        await in_thread(c.generate_presigned_url, "get_connection", Params=params)
        for c in (local, remote)
    ]
    assert resolved == ["GetConnection"]
    assert [u.split("?")[0] for u in urls] == [
        f"{running.management_url}/@connections/AAAAAAAAAAAAAAA%3D"
    ] * 2


async def test_when_the_gateway_stops_the_endpoint_is_resolved_again(
    gateway_factory: GatewayFactory,
) -> None:
    running = await gateway_factory(routes=ROUTES)
    client = running.management_client(retries={"total_max_attempts": 1})
    resolved = resolutions(client)
    async with contextlib.AsyncExitStack() as stack:
        ws, ws_id = await connect(stack, running)
        for _ in range(2):
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=b"s")
    assert resolved == ["PostToConnection"]
    await running.server.stop()
    sent = requests(client)
    for _ in range(2):
        with pytest.raises(EndpointConnectionError):  # over HTTP, and nothing listens
            await in_thread(client.post_to_connection, ConnectionId=ws_id, Data=b"s")
    assert resolved == ["PostToConnection"] * 3
    assert all("User-Agent" in r["headers"] for r in sent)
