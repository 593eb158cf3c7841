"""boto3 management calls from in-process handlers, answered without HTTP.

A handler's ``boto3.client("apigatewaymanagementapi", endpoint_url=...)`` call to a
gateway listening in this process is served by ``server.management.perform`` directly: a
botocore ``before-call`` handler returns the response botocore would have parsed, the way
botocore's Stubber does. Calls to any other URL, and calls botocore would refuse to sign,
go over HTTP as before. A handler thread's POST to an open connection does not even wait
for the loop: its frame is queued there and the 200 comes back at once.

One job per module:

- ``listeners``: where the gateways of this process listen (``add_listener``,
  ``add_host`` for the AWS-style name, ``remove_gateway``), and which gateway a URL names;
- ``loopcall``: a call made in any thread, answered on the gateway's loop;
- ``responses``: the answer as botocore's endpoint would have built it from HTTP;
- ``hook``: the ``before-call`` handler joining the three;
- ``shortcut``: the management client's first base, skipping for a local call the two
  steps botocore takes only to send a request (its endpoint rules, its User-Agent);
- ``install``: adding the handler and the base to botocore when botocore is imported.
"""

from __future__ import annotations

from wsgate.server.inprocess.install import install_hook
from wsgate.server.inprocess.listeners import (
    add_host,
    add_listener,
    listener_hosts,
    remove_gateway,
)
from wsgate.server.inprocess.loopcall import served_count


__all__ = [
    "add_host",
    "add_listener",
    "install_hook",
    "listener_hosts",
    "remove_gateway",
    "served_count",
]
