"""``management:`` and ``admin:``: who may call the management API, and where operators
scrape metrics."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from wsgate.config.common import FROZEN as _FROZEN
from wsgate.config.common import LocatedValueError


__all__ = [
    "AdminSettings",
    "ManagementCredential",
    "ManagementSettings",
    "is_loopback_host",
    "is_wildcard_host",
    "split_listen",
]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names only this machine: ``localhost`` or a loopback address (IPv6
    with or without brackets). A wildcard (``0.0.0.0``, ``::``) or any other name is not."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def is_wildcard_host(host: str) -> bool:
    """Whether a listener bound to ``host`` listens on every address of the machine
    (``0.0.0.0``, ``::``, or no host): an address no other process can be told."""
    return host in ("", "0.0.0.0", "::")


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) as (host without brackets, port)."""
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"expected host:port, e.g. 127.0.0.1:9001, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. [::1]:9001, got {value!r}")
    if not host or int(port) > 65535:
        raise ValueError(f"expected host:port with a port from 0 to 65535, got {value!r}")
    return host, int(port)


def _check_origin(value: str) -> str:
    """An origin as browsers send it: ``scheme://host[:port]``, compared lower-cased."""
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"expected an origin such as https://admin.example.com (scheme, host and "
            f"port only), got {value!r}"
        )
    return value.lower()


Origin: TypeAlias = Annotated[str, AfterValidator(_check_origin)]
"""``scheme://host[:port]``, lower-cased."""


class ManagementCredential(BaseModel):
    """A key pair the management API accepts SigV4 signatures from."""

    model_config = _FROZEN

    access_key_id: str = Field(
        min_length=1,
        description="The access key id, as in the `Credential=` of a signed request.",
    )
    secret_access_key: SecretStr = Field(
        min_length=1,
        description="Its secret access key; write `${env:NAME}` to keep it out of the file.",
    )
    session_token: SecretStr | None = Field(
        default=None,
        min_length=1,
        description=(
            "For temporary credentials: the `X-Amz-Security-Token` every request signed "
            "with this key must carry. null: requests must carry none."
        ),
    )


class ManagementSettings(BaseModel):
    """Who may call the management API (`@connections`), and where it is served."""

    model_config = _FROZEN

    auth: Literal["none", "sigv4"] = Field(
        default="none",
        description=(
            "`sigv4`: every call must carry an AWS Signature Version 4 for service "
            "`execute-api` and the API's region, made with an accepted key, as on AWS; "
            "others get execute-api's 403s. `none`: calls are not signed (local "
            "development). The default, `none`, is refused at start when the API would be "
            "served to the network (server.host, or listen, not a loopback address): "
            "write `auth: none` to mean it. Handlers' calls served in process are never "
            "checked."
        ),
    )
    credentials: list[ManagementCredential] = Field(
        default_factory=list,
        description=(
            "With `sigv4`, the key pairs accepted (list several to rotate keys without a "
            "pause). Besides them, the gateway's own credentials are always accepted (its "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN at start, "
            "which handlers sign with); with none of its own, it makes a random pair for "
            "its handlers at start."
        ),
    )
    listen: str | None = Field(
        default=None,
        description=(
            "`host:port` (e.g. `127.0.0.1:9001`; port 0 picks one) where the management "
            "API is served over http, and then only there: the server ports answer its "
            "paths 403 `Missing Authentication Token`. null: served on the server ports."
        ),
    )
    allowed_origins: list[Origin] = Field(
        default_factory=list,
        description=(
            "Web pages (`https://admin.example.com`) whose calls are accepted; a call "
            "carrying any other `Origin` header is refused with 403, so that no web page "
            "a browser shows can make calls. Empty: calls from every web page are refused."
        ),
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> ManagementSettings:
        if self.credentials and self.auth != "sigv4":
            raise LocatedValueError(
                "only used with auth: sigv4 (remove them, or set auth: sigv4)",
                ("credentials",),
            )
        seen: dict[str, int] = {}
        for index, credential in enumerate(self.credentials):
            first = seen.setdefault(credential.access_key_id, index)
            if first != index:
                raise LocatedValueError(
                    f"access key id {credential.access_key_id!r} is given twice "
                    f"([{first}] and [{index}])",
                    ("credentials",),
                )
        return self

    def listen_address(self) -> tuple[str, int] | None:
        """``listen`` as (host, port), the host without IPv6 brackets; None without one."""
        return None if self.listen is None else split_listen(self.listen)


# --- what an operator scrapes and reads ------------------------------------------------


class AdminSettings(BaseModel):
    """The admin listener (``/metrics``, ``/health``) and the access log."""

    model_config = _FROZEN

    listen: str | None = Field(
        default=None,
        description=(
            "`host:port` (e.g. `127.0.0.1:9100`; port 0 picks one) of the admin listener: "
            "Prometheus metrics at `/metrics` (CloudWatch's names: ConnectCount, "
            "MessageCount, ...), `/health` (200 while serving, 503 while draining). Never "
            "served on the server ports. null: no admin listener, and no metrics counted."
        ),
    )
    access_log: bool | str = Field(
        default=False,
        description=(
            "One line per connect, message, disconnect and management call on the logger "
            "`wsgate.access`, as a stage's access logging: `true` or `json` for JSON with "
            "fields named after AWS's `$context` variables, `clf` for the Serverless "
            "Framework's default format, or a format of your own with `$context.` "
            "variables (absent ones are `-`). false: off."
        ),
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator("access_log")
    @classmethod
    def _check_access_log(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and value not in ("json", "clf") and "$context." not in value:
            raise ValueError("expected true, false, json, clf or a format with $context. variables")
        return value

    def listen_address(self) -> tuple[str, int] | None:
        """``listen`` as (host, port), the host without IPv6 brackets; None without one."""
        return None if self.listen is None else split_listen(self.listen)
