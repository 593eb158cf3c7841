"""Where the gateway's own names lead, for its handlers and its functions.

Two endpoint forms reach the gateway with no change to a handler: ``https://{domainName}
/{stage}`` (``domainName`` names the TLS listener, or else the plain port, which speaks
TLS too when needed: ``tls_sniff``) and the AWS-style ``https://{apiId}.execute-api.{region}
.amazonaws.com/{stage}``. In-process handlers' boto3 calls to either are answered in
process (``inprocess``: the plain port is listed under https as well, and the AWS-style
host on 443). When the gateway has a certificate of its own, workers are told which port
serves it, where the AWS-style host leads, and this process resolves it so as well, for
calls that go over HTTP (``workers.endpoints``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from wsgate.server import inprocess
from wsgate.server.gateway import Gateway
from wsgate.workers import endpoints


__all__ = ["Published", "publish"]

_LOOPBACK = {4: "127.0.0.1", 6: "::1"}


@dataclass(frozen=True, slots=True)
class Published:
    """A gateway's AWS-style host as workers were given it; ``withdraw`` at stop."""

    host: str
    address: str | None
    port: int

    def withdraw(self) -> None:
        """Workers started from now on no longer redirect the host (the in-process table
        forgets the gateway with ``inprocess.remove_gateway``)."""
        if self.address is not None:
            endpoints.withdraw(self.host, self.address, self.port)


def _reachable(addresses: Sequence[str]) -> str:
    """The address a local client connects to for a listener bound to ``addresses``."""
    ip = ipaddress.ip_address(addresses[0])
    return _LOOPBACK[ip.version] if ip.is_unspecified else ip.compressed


def publish(
    gateway: Gateway, port: int, addresses: Sequence[str], *, own_tls: int | None
) -> Published:
    """List the gateway's names; call on its loop once its listeners are bound.

    Args:
        gateway: the gateway.
        port: the plain listener's port.
        addresses: the addresses its sockets are bound to (the TLS listener's are alike).
        own_tls: the port serving TLS with the gateway's own certificate (the plain port,
            or the self-signed listener), which names the AWS-style host; None without.
    """
    host = endpoints.execute_api_host(gateway.api.api_id, gateway.api.region)
    if gateway.config.handlers.in_process_management:
        # The botocore hook needs no TLS: https on the plain port is answered alike.
        inprocess.add_listener(gateway, "https", port, addresses)
        inprocess.add_host(gateway, "https", host, 443)
    if own_tls is None:
        return Published(host, None, 0)
    address = _reachable(addresses)
    endpoints.publish(host, address, own_tls)
    # Only the published hosts, on 443: for a handler whose call goes over HTTP.
    endpoints.redirect_here()
    return Published(host, address, own_tls)
