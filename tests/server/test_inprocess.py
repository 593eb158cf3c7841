"""Which URL hosts name a listener of this process, and which listener a URL names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, cast

import pytest

from wsgate.server.inprocess import listener_hosts, listeners
from wsgate.server.inprocess.listeners import Local, find


@pytest.mark.parametrize(
    ("addresses", "bind_host", "expected"),
    [
        (["127.0.0.1"], "127.0.0.1", {"localhost", "127.0.0.1"}),
        (["::1"], "::1", {"localhost", "::1"}),
        (["127.0.0.1", "::1"], "localhost", {"localhost", "127.0.0.1", "::1"}),
        (["0.0.0.0"], "0.0.0.0", {"localhost", "127.0.0.1"}),
        (["::"], "::", {"localhost", "::1"}),
        (["0.0.0.0", "::"], "", {"localhost", "127.0.0.1", "::1"}),
        (["10.1.2.3"], "10.1.2.3", {"10.1.2.3"}),
        (["10.1.2.3"], "Gateway.LAN", {"10.1.2.3", "gateway.lan"}),
    ],
)
def test_hosts_follow_the_bound_addresses(
    addresses: list[str], bind_host: str, expected: set[str]
) -> None:
    """Loopback names reach a loopback or wildcard socket, of its own family only."""
    assert listener_hosts(addresses, bind_host, None) == expected


@pytest.mark.parametrize(
    ("domain_name", "added"),
    [
        ("ws.example.com", "ws.example.com"),
        ("WS.Example.com:8443", "ws.example.com"),
        ("[fd00::5]:8443", "fd00::5"),
    ],
)
def test_the_configured_domain_name_names_the_listener(domain_name: str, added: str) -> None:
    assert listener_hosts(["127.0.0.1"], "127.0.0.1", domain_name) == {
        "localhost",
        "127.0.0.1",
        added,
    }


def test_a_specific_address_is_not_reached_by_loopback_names() -> None:
    """A gateway bound to one interface is not what http://localhost:{port} reaches."""
    assert "localhost" not in listener_hosts(["192.168.1.9"], "192.168.1.9", None)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Local]]:
    """Two gateways in the table: one on http port 8080 of the loopback, one on the
    AWS-style name at https 443."""
    loop = asyncio.new_event_loop()
    plain = Local(cast(Any, "plain"), loop)
    aws = Local(cast(Any, "aws"), loop)
    monkeypatch.setattr(
        listeners,
        "_listeners",
        {
            ("http", "127.0.0.1", 8080): plain,
            ("http", "localhost", 8080): plain,
            ("http", "::1", 8080): plain,
            ("https", "abc123.execute-api.us-east-1.amazonaws.com", 443): aws,
        },
    )
    yield {"plain": plain, "aws": aws}
    loop.close()


@pytest.mark.parametrize(
    ("url", "named", "path"),
    [
        ("http://127.0.0.1:8080/dev/@connections/abc%3D", "plain", "/dev/@connections/abc%3D"),
        ("http://LocalHost:8080/dev/@connections/a", "plain", "/dev/@connections/a"),
        ("http://[::1]:8080/@connections/a?x=1", "plain", "/@connections/a?x=1"),
        ("http://127.0.0.1:8080/dev/@connections/a#frag", "plain", "/dev/@connections/a"),
        (
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/@connections/a",
            "aws",
            "/prod/@connections/a",
        ),
        ("https://abc123.execute-api.us-east-1.amazonaws.com:443/x", "aws", "/x"),
    ],
)
def test_a_url_names_its_gateway_and_the_path_to_ask(
    table: dict[str, Local], url: str, named: str, path: str
) -> None:
    for _ in range(2):  # the second time from the cache of netlocs
        assert find(url) == (table[named], path)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/dev/@connections/a",  # another port
        "https://127.0.0.1:8080/dev/@connections/a",  # another scheme
        "http://127.0.0.1/dev/@connections/a",  # port 80
        "http://10.0.0.1:8080/dev/@connections/a",  # another host
        "http://127.0.0.1:80x/dev/@connections/a",  # not a port: botocore fails as it would
        "http:///dev/@connections/a",  # no host
        "/dev/@connections/a",  # not a URL
    ],
)
def test_a_url_no_gateway_here_listens_on_names_none(table: dict[str, Local], url: str) -> None:
    for _ in range(2):
        assert find(url) is None
