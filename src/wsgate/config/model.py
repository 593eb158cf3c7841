"""The gateway's configuration as typed, immutable data.

Every setting is declared once here, with its default and its description; the config
reference in ``docs/`` is generated from these descriptions. Defaults are AWS's wherever
AWS has one (CONTRACT.md §6). Loading files is ``config.files``' job: these models only
validate values, and never touch the file system or the environment.

Validators that find a problem deeper than the field they check raise
:class:`LocatedValueError`, whose ``loc`` extends the key path that the loader reports.
The ``functions:`` section lives in ``config.functions``, ``management:`` and ``admin:``
in ``config.management``; this module re-exports them with the whole file's model.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from wsgate.config.aws import AwsSettings
from wsgate.config.common import FROZEN, LocatedValueError, strings_from_scalars
from wsgate.config.functions import FUNCTION_RUNTIMES, FunctionConfig, FunctionName
from wsgate.config.management import (
    AdminSettings,
    ManagementCredential,
    ManagementSettings,
    is_loopback_host,
    is_wildcard_host,
    split_listen,
)
from wsgate.config.throttle import ThrottleSettings


__all__ = [
    "JWT_ALGORITHMS",
    "SPECIAL_ROUTE_KEYS",
    "FUNCTION_RUNTIMES",
    "ApiSettings",
    "AwsSettings",
    "AuthorizerConfig",
    "FunctionConfig",
    "GatewayConfig",
    "HandlerSettings",
    "JwtAuthorizerConfig",
    "LocatedValueError",
    "ManagementCredential",
    "ManagementSettings",
    "RegistrySettings",
    "RequestAuthorizerConfig",
    "RouteConfig",
    "ServerSettings",
    "is_loopback_host",
]

SPECIAL_ROUTE_KEYS = frozenset({"$connect", "$disconnect", "$default"})
"""The route keys that may start with ``$``."""

_UNSUPPORTED_INTEGRATIONS = ("lambda", "mock")
"""Integration mappings DESIGN.md announces that are not implemented yet."""

_API_ID = re.compile(r"[a-z0-9]{10}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_IDENTITY_SOURCE = re.compile(
    r"route\.request\.header\.[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
    r"|route\.request\.querystring\.[^\s]+"
)
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# --- shared field types ----------------------------------------------------------------


def _check_handler_ref(value: object) -> object:
    """Accept ``dotted.module:attr``; explain every other form."""
    if isinstance(value, dict):
        kinds = [k for k in _UNSUPPORTED_INTEGRATIONS if k in value]
        if kinds:
            raise ValueError(
                f"integration type {kinds[0]!r} is not supported yet; use module:function"
            )
        raise ValueError(f"expected module:function, got a mapping {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"expected module:function, got {value!r}")
    scheme = value.partition("://")[0].lower() if "://" in value else ""
    if scheme in ("http", "https"):
        raise ValueError(
            f"integration type {scheme!r} is not supported yet; use module:function (got {value!r})"
        )
    module, sep, attr = value.partition(":")
    parts = module.split(".")
    if not (sep and all(_is_name(p) for p in parts) and _is_name(attr)):
        raise ValueError(
            f"invalid handler reference {value!r}: expected module:function, "
            "e.g. 'handlers:send_message' or 'app.handlers:connect'"
        )
    return value


def _is_name(text: str) -> bool:
    return text.isidentifier() and not keyword.iskeyword(text)


HandlerRef: TypeAlias = Annotated[str, BeforeValidator(_check_handler_ref)]
"""An integration reference; only ``module:function`` (in-process Python) for now."""


def _check_route_key(key: str) -> str:
    if not key:
        raise ValueError("a route key must not be empty")
    if key.startswith("$") and key not in SPECIAL_ROUTE_KEYS:
        raise ValueError(
            f"unknown special route key {key!r}; keys starting with '$' must be "
            "$connect, $disconnect or $default"
        )
    return key


RouteKey: TypeAlias = Annotated[str, AfterValidator(_check_route_key)]
"""A route key: ``$connect``, ``$disconnect``, ``$default`` or any non-``$`` string."""


def _check_identity_source(value: str) -> str:
    if not _IDENTITY_SOURCE.fullmatch(value):
        raise ValueError(
            f"invalid identity source {value!r}: expected route.request.header.NAME "
            "or route.request.querystring.NAME"
        )
    return value


IdentitySource: TypeAlias = Annotated[str, AfterValidator(_check_identity_source)]
"""``route.request.header.NAME`` or ``route.request.querystring.NAME``."""


def _split_identity_sources(value: object) -> object:
    """Accept AWS's comma-separated string form as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return value


_FROZEN = FROZEN
_strings_from_scalars = strings_from_scalars

JWT_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
"""The asymmetric JWS algorithms a JWT authorizer may accept."""


def _check_jwt_algorithm(value: str) -> str:
    if value in JWT_ALGORITHMS:
        return value
    expected = ", ".join(JWT_ALGORITHMS)
    if value.lower() == "none":
        raise ValueError(f"'none' (an unsigned token) is never accepted; expected {expected}")
    if value.upper().startswith("HS"):
        raise ValueError(
            f"{value!r} is an HMAC algorithm: its key is a shared secret, not a public key of "
            f"a JWKS, so it is never accepted; expected {expected}"
        )
    raise ValueError(f"unknown algorithm {value!r}; expected {expected}")


JwtAlgorithm: TypeAlias = Annotated[str, AfterValidator(_check_jwt_algorithm)]
"""One of :data:`JWT_ALGORITHMS`."""

NonEmptyStr: TypeAlias = Annotated[str, Field(min_length=1)]


def _one_or_many(value: object) -> object:
    """Accept a single string where a list of strings is expected."""
    return [value] if isinstance(value, str) else value


def _split_scopes(value: object) -> object:
    """Accept OAuth's space-separated string form of scopes as well as a list."""
    return value.split() if isinstance(value, str) else value


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --- sections --------------------------------------------------------------------------


class ApiSettings(BaseModel):
    """The WebSocket API itself: identity, route selection and AWS's connection limits."""

    model_config = _FROZEN

    name: str = Field(
        default="wsgate",
        min_length=1,
        description="Name of the API; the default api_id is derived from it.",
    )
    stage: str = Field(
        default="dev",
        description=(
            "Stage name: requestContext.stage, and the URL prefix of the management API "
            "(`/{stage}/@connections/{connectionId}`). Must not contain '/'."
        ),
    )
    route_selection_expression: str = Field(
        default="$request.body.action",
        min_length=1,
        description=(
            "Where the route key of each message is read from, e.g. `$request.body.action`."
        ),
    )
    idle_timeout: float = Field(
        default=600,
        gt=0,
        description=(
            "Seconds without data in either direction after which a connection is closed "
            "(AWS: 10 minutes)."
        ),
    )
    max_connection_duration: float = Field(
        default=7200,
        gt=0,
        description="Seconds after which any connection is closed (AWS: 2 hours).",
    )
    max_message_bytes: int = Field(
        default=131072,
        gt=0,
        description=(
            "Largest message, reassembled from its frames, in bytes; a larger one closes "
            "the connection with 1009 (AWS: 128 KB)."
        ),
    )
    max_frame_bytes: int = Field(
        default=32768,
        gt=0,
        description=(
            "Largest single frame in bytes; a larger one closes the connection with 1009 "
            "(AWS: 32 KB). At most max_message_bytes."
        ),
    )
    max_fragments: int = Field(
        default=1024,
        gt=0,
        description=(
            "Most frames one message may be sent in; more close the connection with 1009. "
            "Bounds what a client sending empty continuation frames can make the gateway hold."
        ),
    )
    handshake_timeout: float = Field(
        default=10,
        gt=0,
        description=(
            "Superseded by server.request_timeout, which bounds every request's head and "
            "body: a file that sets only this key has its value used as that one."
        ),
    )
    max_connections: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Cap on open connections; upgrades beyond it are refused with 429. "
            "null means no cap (as on AWS)."
        ),
    )
    throttle: ThrottleSettings | None = Field(
        default=None,
        description=(
            "The stage's default throttle for each route key (AWS's DefaultRouteSettings): "
            "every route, $connect included, gets a token bucket of its own; $disconnect is "
            "never throttled. null: no throttling."
        ),
    )
    api_id: str | None = Field(
        default=None,
        description=(
            "requestContext.apiId: 10 characters [a-z0-9]. null derives a stable id from the name."
        ),
    )
    region: str = Field(
        default="us-east-1",
        min_length=1,
        description="AWS region used in method ARNs passed to the authorizer.",
    )
    account_id: str = Field(
        default="123456789012",
        description="AWS account id (12 digits) used in method ARNs and requestContext.",
    )

    @field_validator("stage")
    @classmethod
    def _check_stage(cls, value: str) -> str:
        if not value or "/" in value:
            raise ValueError(f"expected a non-empty name without '/', got {value!r}")
        return value

    @field_validator("api_id")
    @classmethod
    def _check_api_id(cls, value: str | None) -> str | None:
        if value is not None and not _API_ID.fullmatch(value):
            raise ValueError(f"expected 10 characters a-z or 0-9, got {value!r}")
        return value

    @field_validator("account_id")
    @classmethod
    def _check_account_id(cls, value: str) -> str:
        if not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(f"expected 12 digits, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_frame_size(self) -> ApiSettings:
        if self.max_frame_bytes > self.max_message_bytes:
            raise LocatedValueError(
                f"must not exceed max_message_bytes ({self.max_message_bytes}), "
                f"got {self.max_frame_bytes}",
                ("max_frame_bytes",),
            )
        return self

    def resolved_api_id(self) -> str:
        """Return ``api_id``, or a stable 10-character ``[a-z0-9]`` id derived from ``name``."""
        if self.api_id is not None:
            return self.api_id
        number = int.from_bytes(hashlib.sha256(self.name.encode()).digest(), "big")
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        chars = []
        for _ in range(10):
            number, rest = divmod(number, 36)
            chars.append(digits[rest])
        return "".join(chars)


class ServerSettings(BaseModel):
    """Where the gateway listens, and how it presents itself."""

    model_config = _FROZEN

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="Port for ws:// and the http:// management API; 0 picks a free port.",
    )
    tls_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description=(
            "Second port serving the same API over TLS (wss:// and the https:// management "
            "API), so boto3 clients built as `https://{domainName}/{stage}` work. "
            "0 picks a free port; null means no TLS listener."
        ),
    )
    tls_cert: Path | None = Field(
        default=None,
        description=(
            "PEM certificate (chain) for the TLS listener, relative to the config file. "
            "Set together with tls_key; with neither, a self-signed certificate is "
            "generated at start."
        ),
    )
    tls_key: Path | None = Field(
        default=None,
        description="PEM private key for tls_cert, relative to the config file.",
    )
    domain_name: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "requestContext.domainName. null means `localhost:{tls_port}` when tls_port "
            "is set, else `localhost:{port}`."
        ),
    )
    shutdown_timeout: float = Field(
        default=10,
        gt=0,
        description=(
            "Seconds allowed on shutdown for closing connections and running their "
            "$disconnect handlers."
        ),
    )
    backlog: int = Field(
        default=1024,
        ge=1,
        description=(
            "Listen backlog of each listener: connections the kernel holds completed "
            "before the gateway accepts them; beyond it, new connects wait or fail. The "
            "kernel caps it (on Linux at net.core.somaxconn, 4096 by default since 5.4)."
        ),
    )
    request_timeout: float = Field(
        default=10,
        gt=0,
        description=(
            "Seconds a client has to send each HTTP request's head (counted from the "
            "connection's start or the previous answer), and then as many for its body "
            "and, for what aiohttp serves, for the answer. A request not complete in time "
            "is answered 408 (or its connection closed), in one line of log; a kept-alive "
            "connection silent that long is closed."
        ),
    )
    max_connections_per_ip: int | None = Field(
        default=1000,
        gt=0,
        description=(
            "Most WebSocket connections (handshakes under way and open connections) one "
            "source address may hold; beyond it an upgrade is 429 before the authorizer "
            "runs. null means no limit. Behind a proxy every client has the proxy's address."
        ),
    )
    connection_rate_per_ip: float | None = Field(
        default=100,
        gt=0,
        description=(
            "New upgrades per second one source address may make on average (a token "
            "bucket refilled at this rate, holding connection_burst_per_ip); beyond it an "
            "upgrade is 429 before the authorizer runs. null means no limit."
        ),
    )
    connection_burst_per_ip: int = Field(
        default=1000,
        gt=0,
        description=(
            "Upgrades one source address may make at once before connection_rate_per_ip "
            "applies: the size of its token bucket."
        ),
    )

    @model_validator(mode="after")
    def _check_tls(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("tls_cert", "tls_key")
            if self.tls_cert is None:
                given, missing = missing, given
            raise LocatedValueError(
                f"required when {given} is set (set both, or neither for a self-signed "
                "certificate)",
                (missing,),
            )
        if self.tls_cert is not None and self.tls_port is None:
            raise LocatedValueError("required when tls_cert and tls_key are set", ("tls_port",))
        if self.tls_port is not None and self.tls_port != 0 and self.tls_port == self.port:
            raise LocatedValueError(f"must differ from port ({self.port})", ("tls_port",))
        return self

    def resolved_domain_name(self, actual_port: int, actual_tls_port: int | None) -> str:
        """Return requestContext.domainName once the listeners are bound.

        Args:
            actual_port: the port the plain listener is bound to (known after binding
                when ``port`` is 0).
            actual_tls_port: the port the TLS listener is bound to, or None without one.
        """
        if self.domain_name is not None:
            return self.domain_name
        if self.tls_port is not None and actual_tls_port is not None:
            return f"localhost:{actual_tls_port}"
        return f"localhost:{actual_port}"


class HandlerSettings(BaseModel):
    """How in-process Python handlers are found and run."""

    model_config = _FROZEN

    path: Path = Field(
        default=Path("."),
        description=(
            "Folder added to sys.path for module:function handlers; a relative path is "
            "relative to the config file's folder."
        ),
    )
    environment: Annotated[dict[str, str], BeforeValidator(_strings_from_scalars)] = Field(
        default_factory=dict,
        description="Environment variables set for the handlers (like a Lambda's).",
    )
    max_threads: int = Field(
        default=64,
        gt=0,
        description="Size of the thread pool that runs plain (non-async) message handlers.",
    )
    handshake_threads: int = Field(
        default=16,
        gt=0,
        description=(
            "Threads kept for plain (non-async) authorizers, $connect and $disconnect "
            "handlers, so that slow message handlers never hold up a handshake."
        ),
    )
    blocking_warning: float = Field(
        default=0.1,
        gt=0,
        description=(
            "Seconds an async def handler may hold the event loop between two awaits "
            "before it is logged (once per handler a minute): a blocking call there stalls "
            "every connection."
        ),
    )
    max_in_flight: int = Field(
        default=8,
        gt=0,
        description=(
            "Messages of one connection handled at once; past it the connection is not "
            "read until one finishes (TCP slows the client; nothing is dropped), so one "
            "client cannot take every handler thread."
        ),
    )
    in_process_management: bool = Field(
        default=True,
        description=(
            "Serve the handlers' boto3 `apigatewaymanagementapi` calls to this gateway "
            "inside the process, without an HTTP round trip; the results are the same. "
            "false sends them over HTTP to the management endpoint."
        ),
    )


def _one_integration(handler: str | None, function: str | None) -> None:
    """A route or authorizer names exactly one integration: a handler or a function."""
    if handler is None and function is None:
        raise LocatedValueError("required key is missing", ("handler",))
    if handler is not None and function is not None:
        raise LocatedValueError("set handler or function, not both", ("function",))


class RouteConfig(BaseModel):
    """One route: the handler that receives its messages.

    In YAML a route may be a bare ``module:function`` string instead of a mapping.
    """

    model_config = _FROZEN

    handler: HandlerRef | None = Field(
        default=None,
        description=(
            "The integration: `module:function` (in-process Python). Set this or `function`."
        ),
    )
    function: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The integration: the name of a function under `functions:`, run in processes "
            "of its own. Set this or `handler`."
        ),
    )
    timeout: float = Field(
        default=29,
        gt=0,
        description=(
            "Seconds the handler may run (AWS: default and maximum 29; larger values are "
            "allowed here). A function's own `timeout` applies too: the shorter one wins."
        ),
    )
    response: bool = Field(
        default=False,
        description=(
            "Two-way route: the handler's return value is sent back to the client. "
            "Not allowed on $connect and $disconnect."
        ),
    )
    throttle: ThrottleSettings | None = Field(
        default=None,
        description=(
            "This route's throttle (AWS's RouteSettings), over the stage's `api.throttle`; "
            "a value left out is the stage's. Not allowed on $disconnect."
        ),
    )

    @model_validator(mode="after")
    def _check_integration(self) -> RouteConfig:
        _one_integration(self.handler, self.function)
        return self


class RequestAuthorizerConfig(BaseModel):
    """A REQUEST authorizer: a handler that returns an IAM policy for each upgrade."""

    model_config = _FROZEN

    type: Literal["request"] = Field(
        default="request",
        description="Authorizer type; `request` (a handler returns a policy), the default.",
    )
    handler: HandlerRef | None = Field(
        default=None,
        description="The authorizer's integration: `module:function`. Set this or `function`.",
    )
    function: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The authorizer's integration: the name of a function under `functions:`. "
            "Set this or `handler`."
        ),
    )
    identity_source: Annotated[list[IdentitySource], BeforeValidator(_split_identity_sources)] = (
        Field(
            default_factory=list,
            description=(
                "Request values that must be present, else the upgrade is refused with 401 "
                "before the authorizer runs: `route.request.header.NAME` or "
                "`route.request.querystring.NAME`."
            ),
        )
    )
    timeout: float = Field(
        default=29,
        gt=0,
        description="Seconds the authorizer may run (AWS: 29).",
    )

    @model_validator(mode="after")
    def _check_integration(self) -> RequestAuthorizerConfig:
        _one_integration(self.handler, self.function)
        return self


class JwtAuthorizerConfig(BaseModel):
    """A JWT authorizer: a token signed by a key of the issuer's JWKS (Cognito-compatible)."""

    model_config = _FROZEN

    type: Literal["jwt"] = Field(
        description="Authorizer type; `jwt` (validate a JSON Web Token against a JWKS).",
    )
    issuer: str = Field(
        min_length=1,
        description=(
            "The `iss` claim tokens must carry, compared exactly, e.g. "
            "`https://cognito-idp.{region}.amazonaws.com/{userPoolId}`. Without jwks_uri "
            "and jwks_file the JWKS is fetched from `{issuer}/.well-known/jwks.json`."
        ),
    )
    audience: Annotated[list[NonEmptyStr], BeforeValidator(_one_or_many)] = Field(
        min_length=1,
        description=(
            "One audience or a list: `aud` (or `client_id` when the token has no `aud`) "
            "must be one of them. For Cognito, the app client id(s)."
        ),
    )
    jwks_uri: str | None = Field(
        default=None,
        description="http(s) URL of the issuer's JWKS. null derives it from the issuer.",
    )
    jwks_file: Path | None = Field(
        default=None,
        description=(
            "A JWKS file to read the keys from instead of a URL, relative to the config "
            "file; re-read like a URL when it expires or a token names an unknown `kid`."
        ),
    )
    algorithms: list[JwtAlgorithm] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        min_length=1,
        description=(
            "Signature algorithms accepted, from RS256/384/512, PS256/384/512, "
            "ES256/384/512 and EdDSA. `none` and HMAC (HS*) are never accepted."
        ),
    )
    leeway: float = Field(
        default=0,
        ge=0,
        description="Seconds of clock skew allowed when checking `exp`, `nbf` and `iat`.",
    )
    required_scopes: Annotated[list[NonEmptyStr], BeforeValidator(_split_scopes)] = Field(
        default_factory=list,
        description=(
            "Scopes of which the token's `scope` (or `scp`) claim must hold AT LEAST ONE, "
            "as AWS's authorization scopes; empty means no scope check."
        ),
    )
    token_use: Literal["id", "access"] | None = Field(
        default=None,
        description=(
            "Cognito: the `token_use` claim must be this. For `access`, the audience is "
            "checked against `client_id`, where Cognito puts it in access tokens."
        ),
    )
    identity_source: Annotated[list[IdentitySource], BeforeValidator(_split_identity_sources)] = (
        Field(
            default_factory=lambda: ["route.request.header.Authorization"],
            min_length=1,
            description=(
                "Where the token is, optionally prefixed with `Bearer `: "
                "`route.request.header.NAME` or `route.request.querystring.NAME` (browsers "
                "cannot set headers on a WebSocket). With several, the first present is used; "
                "with none present the upgrade is refused with 401."
            ),
        )
    )
    jwks_cache_ttl: float = Field(
        default=300,
        gt=0,
        description=(
            "Seconds a fetched JWKS is used before it is fetched again; if that fetch "
            "fails, the keys already held stay in use."
        ),
    )
    jwks_min_refresh_interval: float = Field(
        default=30,
        ge=0,
        description=(
            "Least seconds between two JWKS fetches (after an unknown `kid`, an expired "
            "cache or a failed fetch), so a stream of bogus tokens cannot hammer the issuer."
        ),
    )
    jwks_timeout: float = Field(
        default=1.5,
        gt=0,
        description="Seconds allowed for one JWKS fetch (AWS: 1.5).",
    )

    @field_validator("jwks_uri")
    @classmethod
    def _check_jwks_uri(cls, value: str | None) -> str | None:
        if value is not None and not _is_http_url(value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_key_source(self) -> JwtAuthorizerConfig:
        if self.jwks_uri is not None and self.jwks_file is not None:
            raise LocatedValueError("set jwks_uri or jwks_file, not both", ("jwks_file",))
        if self.jwks_uri is None and self.jwks_file is None and not _is_http_url(self.issuer):
            raise LocatedValueError(
                f"required: the issuer {self.issuer!r} is not an http(s) URL, so the JWKS "
                "URL cannot be derived from it (set jwks_uri or jwks_file)",
                ("jwks_uri",),
            )
        return self

    def resolved_jwks_uri(self) -> str:
        """The JWKS URL (unused with ``jwks_file``): ``jwks_uri``, else derived from the issuer.

        The derived URL is ``{issuer}/.well-known/jwks.json``, where Cognito serves it.
        """
        if self.jwks_uri is not None:
            return self.jwks_uri
        return self.issuer.rstrip("/") + "/.well-known/jwks.json"


def _authorizer_type(value: object) -> object:
    """The discriminator: ``type``, where a mapping without one means ``request``."""
    if isinstance(value, dict):
        return value.get("type", "request")
    return getattr(value, "type", None)


AuthorizerConfig: TypeAlias = Annotated[
    Annotated[RequestAuthorizerConfig, Tag("request")] | Annotated[JwtAuthorizerConfig, Tag("jwt")],
    Discriminator(_authorizer_type),
]
"""Any authorizer, chosen by ``type``: ``request`` (the default) or ``jwt``."""


class RegistrySettings(BaseModel):
    """Where connections are registered and how messages reach them."""

    model_config = _FROZEN

    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="`memory` (one process) or `redis` (many processes and machines).",
    )
    url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description=(
            "Redis URL (redis://, rediss:// or unix://); used by the redis backend. With "
            "`cluster: true`, the URL of any one node of the cluster."
        ),
    )
    cluster: bool = Field(
        default=False,
        description=(
            "`url` is a node of a Redis Cluster (Redis 7 or later): the others are found "
            "from it, and nodes' messages go over sharded pub/sub. The keys of one API "
            "stage share one hash tag, so they live in one slot."
        ),
    )
    prefix: str = Field(
        default="wsgate",
        min_length=1,
        description=(
            "Prefix of every Redis key and channel, so that gateways can share one; with "
            "the API id and stage it becomes the keys' hash tag, so it may not hold { or }."
        ),
    )
    lease: float = Field(
        default=6.0,
        gt=0,
        description=(
            "Seconds a gateway process counts as alive after it last renewed its lease (it "
            "renews at a third of that); the others answer 410 for the connections of a "
            "process that died within this."
        ),
    )
    reply_timeout: float = Field(
        default=3.0,
        gt=0,
        description=(
            "Seconds a gateway process waits for the one owning a connection to answer a "
            "management call before it answers 410."
        ),
    )
    link_listen: str | None = Field(
        default="127.0.0.1:0",
        description=(
            "`host:port` of the node link, where the other gateway processes of the redis "
            "backend send management calls for this one's connections, authenticated by a "
            "secret kept in Redis (port 0 picks one; with `serve --workers`, a port other "
            "than 0 is this port plus the worker's index). null: no link, every such call "
            "goes through Redis."
        ),
    )
    link_advertise: str | None = Field(
        default=None,
        description=(
            "`host:port` the other processes reach the node link at, when not "
            "`link_listen`'s (needed when that is a wildcard such as 0.0.0.0, or behind "
            "port forwarding); port 0 means the port bound."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(_REDIS_SCHEMES):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @field_validator("link_listen", "link_advertise")
    @classmethod
    def _check_link_address(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    def link_addresses(self) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
        """``link_listen`` and ``link_advertise`` as (host, port), IPv6 hosts without
        brackets; None where unset."""
        return (
            None if self.link_listen is None else split_listen(self.link_listen),
            None if self.link_advertise is None else split_listen(self.link_advertise),
        )

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError(
                f"may not hold {{ or }}: the prefix is made the keys' hash tag, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _check_link(self) -> RegistrySettings:
        """Other processes must be told an address they can reach."""
        listen, advertise = self.link_addresses()
        if listen is not None and advertise is None and is_wildcard_host(listen[0]):
            raise LocatedValueError(
                f"needed when link_listen's host is a wildcard ({listen[0]}): the other "
                "gateway processes must be told an address that reaches this one",
                ("link_advertise",),
            )
        return self

    @model_validator(mode="after")
    def _check_cluster(self) -> RegistrySettings:
        """A cluster is reached over TCP, has database 0 only, and is a redis backend's."""
        if not self.cluster:
            return self
        if self.backend != "redis":
            raise LocatedValueError("true needs backend: redis", ("cluster",))
        if self.url.startswith("unix://"):
            raise LocatedValueError(
                "a Redis Cluster is reached over TCP: expected a redis:// or rediss:// URL "
                "of one of its nodes with cluster: true, got a unix:// one",
                ("url",),
            )
        parts = urlsplit(self.url)
        databases = [parts.path.strip("/")] + [
            value
            for name, _, value in (pair.partition("=") for pair in parts.query.split("&"))
            if name == "db"
        ]
        if any(database not in ("", "0") for database in databases):
            raise LocatedValueError(
                "a Redis Cluster has database 0 only: with cluster: true the URL may name "
                "no other database",
                ("url",),
            )
        return self


def _check_management_exposure(
    value: ManagementSettings, info: ValidationInfo
) -> ManagementSettings:
    """Refuse an unsigned management API served to the network unless asked for in so
    many words, and a ``listen`` port the server ports already take."""
    server = info.data.get("server")
    if not isinstance(server, ServerSettings):
        return value  # server is invalid itself: reported on its own
    listen = value.listen_address()
    if listen is not None:
        host, port = listen
        wildcard = is_wildcard_host(host) or is_wildcard_host(server.host)
        same_host = host == server.host or wildcard
        if port != 0 and port in (server.port, server.tls_port) and same_host:
            raise LocatedValueError(
                f"port {port} is already server.port or server.tls_port", ("listen",)
            )
    if value.auth == "sigv4" or "auth" in value.model_fields_set:
        return value
    key, host = ("server.host", server.host)
    if listen is not None:
        key, host = "management.listen", listen[0]
    if is_loopback_host(host):
        return value
    raise LocatedValueError(
        f"not set, and {key} {host!r} is not a loopback address: the management API "
        "would let anyone who reaches it post to, read and close every connection. Set "
        "management.auth: sigv4 (with management.credentials), or management.listen to a "
        "loopback address such as 127.0.0.1:9001, or write management.auth: none to serve "
        "it unsigned anyway",
        ("auth",),
    )


ManagementField: TypeAlias = Annotated[
    ManagementSettings, AfterValidator(_check_management_exposure)
]
"""The ``management`` section, checked against ``server``."""


# --- the whole file --------------------------------------------------------------------


class GatewayConfig(BaseModel):
    """One WebSocket API: everything ``wsgate.yaml`` describes."""

    model_config = _FROZEN

    api: ApiSettings = Field(
        default_factory=ApiSettings,
        description="The WebSocket API: stage, route selection and limits.",
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings,
        description="Listeners and the domain name handlers see.",
    )
    handlers: HandlerSettings = Field(
        default_factory=HandlerSettings,
        description="Where module:function handlers are found and how they run.",
    )
    authorizer: AuthorizerConfig | None = Field(
        default=None,
        description="The authorizer run before $connect; null means none.",
    )
    routes: dict[RouteKey, RouteConfig] = Field(
        default_factory=dict,
        description=(
            "Route key → route. A value may be a bare `module:function` string. "
            "Keys starting with '$' must be $connect, $disconnect or $default."
        ),
    )
    registry: RegistrySettings = Field(
        default_factory=RegistrySettings,
        description="The connection registry backend.",
    )
    functions: dict[FunctionName, FunctionConfig] = Field(
        default_factory=dict,
        description=(
            "Function name → a Lambda function run in worker processes of its own; routes "
            "and the authorizer refer to one as `function: NAME`."
        ),
    )
    management: ManagementField = Field(
        default_factory=ManagementSettings,
        validate_default=True,
        description="Who may call the management API, and where it is served.",
    )
    admin: AdminSettings = Field(
        default_factory=AdminSettings,
        description="The admin listener (/metrics, /health) and the access log.",
    )
    aws: AwsSettings = Field(
        default_factory=AwsSettings,
        description="The AWS services the functions use, served locally (aws.endpoints).",
    )

    @field_validator("routes", mode="before")
    @classmethod
    def _expand_routes(cls, value: object) -> object:
        """Turn ``key: module:function`` (and bare integration mappings) into mappings."""
        if not isinstance(value, dict):
            return value
        expanded: dict[Any, object] = {}
        for key, route in value.items():
            if isinstance(route, str):
                route = {"handler": route}
            elif (
                isinstance(route, dict)
                and "handler" not in route
                and any(k in route for k in _UNSUPPORTED_INTEGRATIONS)
            ):
                route = {"handler": route}
            expanded[key] = route
        return expanded

    @model_validator(mode="after")
    def _check_function_references(self) -> GatewayConfig:
        named: list[tuple[str | None, tuple[str, ...]]] = [
            (route.function, ("routes", key, "function")) for key, route in self.routes.items()
        ]
        if isinstance(self.authorizer, RequestAuthorizerConfig):
            named.append((self.authorizer.function, ("authorizer", "function")))
        for name, loc in named:
            if name is not None and name not in self.functions:
                known = ", ".join(self.functions) or "none are defined"
                raise LocatedValueError(f"unknown function {name!r} (functions: {known})", loc)
        return self

    @model_validator(mode="after")
    def _handshake_timeout_of_older_configs(self) -> GatewayConfig:
        """``api.handshake_timeout`` bounded the request head before
        ``server.request_timeout`` did: a file that sets only the former keeps its value."""
        if (
            "handshake_timeout" in self.api.model_fields_set
            and "request_timeout" not in self.server.model_fields_set
        ):
            server = self.server.model_copy(update={"request_timeout": self.api.handshake_timeout})
            object.__setattr__(self, "server", server)
        return self

    @model_validator(mode="after")
    def _check_disconnect_throttle(self) -> GatewayConfig:
        route = self.routes.get("$disconnect")
        if route is not None and route.throttle is not None:
            raise LocatedValueError(
                "$disconnect is never throttled: a dropped $disconnect would leave the "
                "connection's records behind; remove 'throttle'",
                ("routes", "$disconnect", "throttle"),
            )
        return self

    @model_validator(mode="after")
    def _check_one_way_routes(self) -> GatewayConfig:
        for key in ("$connect", "$disconnect"):
            route = self.routes.get(key)
            if route is not None and route.response:
                raise LocatedValueError(
                    f"{key} cannot be a two-way route; remove 'response: true'",
                    ("routes", key, "response"),
                )
        return self
