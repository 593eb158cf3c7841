"""The credentials handlers sign their boto3 calls with, when none are configured.

Set before any handler module is imported (``build_gateway``), so that a boto3 client a
module makes at import time has them too, and read again when the listeners start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from wsgate.server.sigv4 import KeyPair


__all__ = ["default_credentials"]

_PLACEHOLDER = "wsgate"


def default_credentials(signed: bool) -> KeyPair | None:
    """Give handlers' boto3 clients credentials to sign with when none are configured, and
    return the gateway's own key pair (from its environment), None without one.

    botocore refuses to send unsigned requests, and without this it would go looking for
    instance credentials on the network. When signatures are not checked (``signed``
    false) the pair is a placeholder; when they are, it is made at random, and accepted,
    so that handlers' calls over HTTP are signed with a key only this process knows.
    """
    environ = os.environ
    configured = (
        environ.get("AWS_ACCESS_KEY_ID")
        or environ.get("AWS_PROFILE")
        or Path(environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"))
        .expanduser()
        .exists()
    )
    placeholder = environ.get("AWS_SECRET_ACCESS_KEY") == _PLACEHOLDER
    if signed and (not configured or placeholder):
        # A public placeholder must never open a signed API.
        environ["AWS_ACCESS_KEY_ID"] = "WSGATE" + secrets.token_hex(7).upper()
        environ["AWS_SECRET_ACCESS_KEY"] = secrets.token_urlsafe(30)
        environ.pop("AWS_SESSION_TOKEN", None)
    elif not configured:
        environ["AWS_ACCESS_KEY_ID"] = _PLACEHOLDER
        environ["AWS_SECRET_ACCESS_KEY"] = _PLACEHOLDER
    key_id = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        return None
    return KeyPair(key_id, secret, environ.get("AWS_SESSION_TOKEN") or None)
