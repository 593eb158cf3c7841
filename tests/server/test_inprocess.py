"""Which URL hosts name a listener of this process."""

from __future__ import annotations

import pytest

from wsgate.server.inprocess import listener_hosts


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
