"""Which connections may have their messages begun from ``data_received`` (the fast lane,
``server.lifecycle``): decided from the routes at start and again at each reload."""

from __future__ import annotations

from tests.e2e.conftest import BASE_ROUTES, make_config
from wsgate.server.gateway import build_gateway
from wsgate.server.swap import Swap


def test_a_reload_that_adds_a_def_route_turns_the_fast_lane_off_and_back_on() -> None:
    gateway = build_gateway(make_config())  # every message route async def
    try:
        assert gateway.dispatcher.runs_on_loop
        threaded = {**BASE_ROUTES, "sync": "tests.e2e.handlers:sync_echo"}
        Swap(gateway, make_config(routes=threaded)).apply()
        assert not gateway.dispatcher.runs_on_loop
        Swap(gateway, make_config()).apply()
        assert gateway.dispatcher.runs_on_loop
    finally:
        gateway.runners.threads.shutdown()
