"""The observer's counting rules, the access log's formats, the admin config."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from wsgate.auth.base import Refused
from wsgate.config.model import GatewayConfig
from wsgate.core.request import ApiContext, ConnectionContext
from wsgate.core.results import ConnectOutcome
from wsgate.exceptions import HandlerFailed, IntegrationTimeout
from wsgate.integrations.threads import HandlerThreads
from wsgate.server.observe.access_log import LOGGER_NAME, AccessLog, request_time
from wsgate.server.observe.metrics import Metrics, pool_load
from wsgate.server.observe.observer import Observer
from wsgate.server.session import CloseReason, Session


API = ApiContext(
    api_id="abc123", stage="dev", domain_name="localhost", region="us-east-1", account_id="1"
)
CONNECTION = ConnectionContext(
    connection_id="conn-id", connected_at=1_700_000_000_000, source_ip="10.0.0.1", user_agent="ua"
)
SESSION = cast(Session, SimpleNamespace(context=CONNECTION, connection_id="conn-id"))


def _metrics(pools: dict[str, HandlerThreads] | None = None) -> Metrics:
    return Metrics("dev", ["$connect", "$disconnect", "echo"], pools or {}, lambda: 3)


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return _samples(metrics).get((name, frozenset(labels.items())), 0.0)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    logger = logging.getLogger(LOGGER_NAME)
    handler = _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# Counting


def test_a_message_is_counted_once_in_and_once_per_reply() -> None:
    metrics = _metrics()
    observer = Observer(API, metrics, None)
    started = observer.received(SESSION, "rid", "echo", '{"action":"echo","t":"é"}')
    observer.sent("echo", "réponse")
    observer.handled(SESSION, "rid", "echo", started, {"statusCode": 200}, None)
    assert _value(metrics, "MessageCount_total", stage="dev", route="echo") == 2
    assert _value(metrics, "IntegrationLatency_count", stage="dev", route="echo") == 1
    # UTF-8 bytes, not characters.
    assert _value(metrics, "wsgate_message_bytes_total", stage="dev", direction="in") == 26
    assert _value(metrics, "wsgate_message_bytes_total", stage="dev", direction="out") == 8
    assert _value(metrics, "ExecutionError_total", stage="dev", route="echo") == 0


@pytest.mark.parametrize(
    ("result", "failure", "metric"),
    [
        (None, HandlerFailed("echo raised ValueError", ValueError()), "ExecutionError_total"),
        (None, IntegrationTimeout("late"), "ExecutionError_total"),
        ({"statusCode": 1}, "unusable result: bad", "ExecutionError_total"),
        ({"statusCode": 500}, None, "IntegrationError_total"),
        ({"statusCode": "404"}, None, "IntegrationError_total"),
    ],
)
def test_handler_failures(result: object, failure: Any, metric: str) -> None:
    metrics = _metrics()
    observer = Observer(API, metrics, None)
    started = observer.received(SESSION, "rid", "echo", "{}")
    observer.handled(SESSION, "rid", "echo", started, result, failure)
    assert _value(metrics, metric, stage="dev", route="echo") == 1


def test_a_message_no_route_took_is_a_client_error() -> None:
    metrics = _metrics()
    Observer(API, metrics, None).received(SESSION, "rid", None, "{}")
    assert _value(metrics, "ClientError_total", stage="dev", route="-") == 1
    assert _value(metrics, "MessageCount_total", stage="dev", route="-") == 1


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (Refused(401, "no token"), {"ClientError_total": 1, "wsgate_handshakes_total": 1}),
        (Refused(500, "authorizer raised"), {"ExecutionError_total": 1, "ConnectCount_total": 0}),
        (502, {"ConnectCount_total": 1, "ExecutionError_total": 1}),
        (ConnectOutcome(403, None), {"ConnectCount_total": 1, "IntegrationError_total": 1}),
        (ConnectOutcome(200, None), {"ConnectCount_total": 1, "IntegrationError_total": 0}),
        (None, {"ConnectCount_total": 0}),  # no $connect route
    ],
)
def test_handshake_outcomes(outcome: Any, counted: dict[str, int]) -> None:
    metrics = _metrics()
    Observer(API, metrics, None).connected(CONNECTION, outcome, 0.0)
    for name, value in counted.items():
        labels = {"status": "401"} if name == "wsgate_handshakes_total" else {"route": "$connect"}
        assert _value(metrics, name, stage="dev", **labels) == value, name


def test_management_calls_by_method_and_status() -> None:
    metrics = _metrics()
    observer = Observer(API, metrics, None)
    observer.managed("POST", "/dev/@connections/x", (200, {}, b""), 5)
    observer.managed("POST", "/dev/@connections/x", (410, {}, b""), 5)
    observer.managed("GET", "/dev/@connections/x", (410, {}, b""), 0)
    value = _value
    assert value(metrics, "wsgate_management_calls_total", stage="dev", method="POST", status="200")
    assert value(metrics, "wsgate_management_calls_total", stage="dev", method="GET", status="410")
    assert value(metrics, "MessageCount_total", stage="dev", route="@connections") == 1
    assert value(metrics, "wsgate_message_bytes_total", stage="dev", direction="out") == 5


def test_scraped_gauges() -> None:
    threads = HandlerThreads(4)
    gate = threading.Event()
    try:
        metrics = _metrics({"messages": threads})
        loop = asyncio.new_event_loop()
        try:
            for _ in range(6):
                threads.run(loop, gate.wait)
            for _ in range(100):
                if pool_load(threads)[1] == 4:
                    break
                gate.wait(0.01)
            assert pool_load(threads) == (4, 4, 2)
            assert _value(metrics, "wsgate_handler_threads_busy", pool="messages") == 4
            assert _value(metrics, "wsgate_handler_queue", pool="messages") == 2
            assert _value(metrics, "wsgate_connections_open", stage="dev") == 3
        finally:
            gate.set()
            loop.close()
    finally:
        threads.shutdown()


def test_remote_calls_are_read_when_scraped() -> None:
    """The Redis registry's count of operations on other processes' connections, by the
    way they went, is scraped as it stands; the memory registry has none."""
    calls: Counter[str] = Counter()
    metrics = Metrics("dev", ["$default"], {}, lambda: 0, calls)
    name = "wsgate_registry_remote_calls_total"
    assert _value(metrics, name, stage="dev", path="link") == 0
    assert (name, frozenset({("stage", "dev"), ("path", "redis")})) in _samples(metrics)
    calls["link"] += 3
    calls["redis"] += 1
    assert _value(metrics, name, stage="dev", path="link") == 3
    assert _value(metrics, name, stage="dev", path="redis") == 1
    assert not any(sample[0] == name for sample in _samples(_metrics()))


# The access log


def test_json_lines_name_aws_context_variables(lines: list[str]) -> None:
    observer = Observer(API, None, AccessLog(True))
    started = observer.received(SESSION, "rid", "echo", "{}")
    observer.handled(SESSION, "rid", "echo", started, None, IntegrationTimeout("late"))
    observer.disconnected(SESSION, CloseReason(1001, "Going away"), None, None)
    message, disconnect = (orjson.loads(line) for line in lines)
    assert message["eventType"] == "MESSAGE" and message["routeKey"] == "echo"
    assert message["status"] == 504 and message["error.message"] == "late"
    assert message["identity.sourceIp"] == "10.0.0.1"
    assert message["connectedAt"] == CONNECTION.connected_at
    assert disconnect["eventType"] == "DISCONNECT" and disconnect["integrationLatency"] is None
    assert disconnect["disconnectStatusCode"] == 1001


def test_clf_and_own_formats(lines: list[str]) -> None:
    Observer(API, None, AccessLog("clf")).connected(CONNECTION, Refused(403, "denied"), 0.0)
    own = '{"ip":"$context.identity.sourceIp","s":$context.status,"x":"$context.waf.error"}'
    Observer(API, None, AccessLog(own)).connected(CONNECTION, None, 0.0)
    clf, mine = lines
    assert clf.startswith("10.0.0.1 - - [")
    assert clf.endswith(' +0000] "CONNECT $connect conn-id" ' + clf.rsplit(" ", 1)[1])
    assert orjson.loads(mine) == {"ip": "10.0.0.1", "s": 200, "x": "-"}


def test_a_silenced_logger_renders_nothing(lines: list[str]) -> None:
    logging.getLogger(LOGGER_NAME).setLevel(logging.WARNING)
    Observer(API, None, AccessLog(True)).connected(CONNECTION, None, 0.0)
    assert lines == []


def test_request_time_is_clf_in_utc() -> None:
    assert request_time(1_700_000_000_123) == "14/Nov/2023:22:13:20 +0000"


# Config


def test_admin_settings() -> None:
    config = GatewayConfig.model_validate({})
    assert config.admin.listen is None and config.admin.access_log is False
    admin = GatewayConfig.model_validate(
        {"admin": {"listen": "[::1]:9100", "access_log": "clf"}}
    ).admin
    assert admin.listen_address() == ("::1", 9100)
    for bad in ({"listen": "9100"}, {"access_log": "xml"}, {"nope": 1}):
        with pytest.raises(ValidationError):
            GatewayConfig.model_validate({"admin": bad})
