"""Which connections may have their messages begun from ``data_received`` (the fast lane,
``server.lifecycle``): decided from the routes at start and again at each reload."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.conftest import BASE_ROUTES, make_config
from wsgate.integrations.base import Event, InvokeContext
from wsgate.integrations.deadlines import DeadlineWatch
from wsgate.integrations.handler import Handler
from wsgate.server.dispatch import Route
from wsgate.server.gateway import build_gateway
from wsgate.server.swap import Swap


class _ElsewhereIntegration:
    """An integration that runs its calls in another process, as a worker function does."""

    name = "elsewhere"
    timeout = 1.0

    def invoke(self, event: Event, context: InvokeContext) -> asyncio.Future[Any]:
        raise NotImplementedError


def test_a_reload_that_adds_a_def_route_keeps_the_fast_lane_and_its_task() -> None:
    """A ``def`` handler's calls reach the threads once per turn of the loop however they
    are begun; the reading task's name is taken while some handler runs on the loop."""
    gateway = build_gateway(make_config())  # every message route async def
    try:
        dispatcher = gateway.dispatcher
        assert dispatcher.fast_lane and dispatcher.steps_on_loop
        with_def = {**BASE_ROUTES, "sync": "tests.e2e.handlers:sync_echo"}
        Swap(gateway, make_config(routes=with_def)).apply()
        assert dispatcher.fast_lane and dispatcher.steps_on_loop
        only_def = {
            "$connect": BASE_ROUTES["$connect"],  # a handshake route: not a message's
            "sync": "tests.e2e.handlers:sync_echo",
        }
        Swap(gateway, make_config(routes=only_def)).apply()
        assert dispatcher.fast_lane and not dispatcher.steps_on_loop
        Swap(gateway, make_config()).apply()
        assert dispatcher.fast_lane and dispatcher.steps_on_loop
    finally:
        gateway.runners.threads.shutdown()


def test_a_route_to_another_process_turns_the_fast_lane_off_and_back_on() -> None:
    gateway = build_gateway(make_config())
    try:
        dispatcher = gateway.dispatcher
        routes = dict(dispatcher._routes)
        selector = dispatcher._selector
        elsewhere = Route(Handler(_ElsewhereIntegration(), DeadlineWatch()), response=True)
        dispatcher.set_routes(selector, {**routes, "far": elsewhere}, 1024)
        assert not dispatcher.fast_lane
        dispatcher.set_routes(selector, routes, 1024)
        assert dispatcher.fast_lane
    finally:
        gateway.runners.threads.shutdown()
