"""The config models: AWS defaults, validation rules and helper methods."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from wsgate.config.model import (
    ApiSettings,
    AuthorizerConfig,
    GatewayConfig,
    HandlerSettings,
    JwtAuthorizerConfig,
    RegistrySettings,
    RequestAuthorizerConfig,
    RouteConfig,
    ServerSettings,
)


ALL_MODELS: list[type[BaseModel]] = [
    ApiSettings,
    ServerSettings,
    HandlerSettings,
    RouteConfig,
    RequestAuthorizerConfig,
    JwtAuthorizerConfig,
    RegistrySettings,
    GatewayConfig,
]


def test_api_defaults_are_the_aws_values() -> None:
    """ApiSettings defaults to AWS's limits: 10 min idle, 2 h, 128 KB message, 32 KB frame."""
    api = ApiSettings()
    assert api.name == "wsgate"
    assert api.stage == "dev"
    assert api.route_selection_expression == "$request.body.action"
    assert api.idle_timeout == 600
    assert api.max_connection_duration == 7200
    assert api.max_message_bytes == 131072
    assert api.max_frame_bytes == 32768
    assert api.handshake_timeout == 10
    assert api.max_connections is None
    assert api.api_id is None
    assert api.region == "us-east-1"
    assert api.account_id == "123456789012"


def test_other_section_defaults() -> None:
    """Server, handlers, registry and route defaults match the documented values."""
    server = ServerSettings()
    assert (server.host, server.port, server.tls_port) == ("127.0.0.1", 8080, None)
    assert (server.tls_cert, server.tls_key, server.domain_name) == (None, None, None)
    assert server.shutdown_timeout == 10
    handlers = HandlerSettings()
    assert (handlers.path, handlers.environment, handlers.max_threads) == (Path("."), {}, 64)
    registry = RegistrySettings()
    assert (registry.backend, registry.url, registry.prefix) == (
        "memory",
        "redis://127.0.0.1:6379/0",
        "wsgate",
    )
    assert (registry.lease, registry.reply_timeout) == (6.0, 3.0)
    route = RouteConfig(handler="handlers:default")
    assert (route.timeout, route.response) == (29, False)
    authorizer = RequestAuthorizerConfig(handler="auth:handler")
    assert (authorizer.type, authorizer.identity_source, authorizer.timeout) == (
        "request",
        [],
        29,
    )


def test_gateway_defaults() -> None:
    """An empty GatewayConfig has default sections, no authorizer and no routes."""
    config = GatewayConfig()
    assert config.api == ApiSettings()
    assert config.server == ServerSettings()
    assert config.handlers == HandlerSettings()
    assert config.registry == RegistrySettings()
    assert config.authorizer is None
    assert config.routes == {}


def test_authorizer_type_chooses_the_model() -> None:
    """`type` picks the authorizer model; without it the authorizer is a REQUEST one."""
    adapter: TypeAdapter[AuthorizerConfig] = TypeAdapter(AuthorizerConfig)
    assert adapter.validate_python({"handler": "a:b"}) == RequestAuthorizerConfig(handler="a:b")
    jwt = adapter.validate_python(
        {"type": "jwt", "issuer": "https://issuer.example", "audience": "client"}
    )
    assert isinstance(jwt, JwtAuthorizerConfig)
    with pytest.raises(ValidationError, match="'request', 'jwt'"):
        adapter.validate_python({"type": "basic"})


def test_jwt_authorizer_defaults() -> None:
    """RS256 and ES256, no leeway or scopes, the Authorization header, a 5 min cache."""
    config = JwtAuthorizerConfig(type="jwt", issuer="https://issuer.example/", audience=["c"])
    assert config.algorithms == ["RS256", "ES256"]
    assert (config.leeway, config.required_scopes, config.token_use) == (0, [], None)
    assert config.identity_source == ["route.request.header.Authorization"]
    assert (config.jwks_cache_ttl, config.jwks_min_refresh_interval) == (300, 30)
    assert config.jwks_timeout == 1.5
    assert (config.jwks_uri, config.jwks_file) == (None, None)
    assert config.resolved_jwks_uri() == "https://issuer.example/.well-known/jwks.json"


def test_jwt_cognito_issuer_gives_the_cognito_jwks_url() -> None:
    """Cognito's issuer form works as is: its JWKS is {issuer}/.well-known/jwks.json."""
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    config = JwtAuthorizerConfig.model_validate(
        {"type": "jwt", "issuer": issuer, "audience": "client", "token_use": "access"}
    )
    assert config.resolved_jwks_uri() == issuer + "/.well-known/jwks.json"


def test_jwt_single_values_and_strings() -> None:
    """One audience may be a string; scopes may be OAuth's space-separated string."""
    config = JwtAuthorizerConfig.model_validate(
        {
            "type": "jwt",
            "issuer": "iss",
            "jwks_uri": "http://127.0.0.1:9/jwks.json",
            "audience": "client",
            "required_scopes": "chat/read chat/write",
            "identity_source": "route.request.querystring.token",
        }
    )
    assert config.audience == ["client"]
    assert config.required_scopes == ["chat/read", "chat/write"]
    assert config.identity_source == ["route.request.querystring.token"]
    assert config.resolved_jwks_uri() == "http://127.0.0.1:9/jwks.json"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algorithms": ["HS256"]}, "HMAC algorithm"),
        ({"algorithms": ["none"]}, "never accepted"),
        ({"algorithms": ["RS1"]}, "unknown algorithm"),
        ({"algorithms": []}, "at least 1"),
        ({"audience": []}, "at least 1"),
        ({"jwks_uri": "file:///etc/jwks.json"}, "http:// or https:// URL"),
        ({"jwks_uri": "https://a/j", "jwks_file": "j.json"}, "not both"),
        ({"issuer": "urn:issuer"}, "cannot be derived"),
        ({"token_use": "refresh"}, "'id' or 'access'"),
        ({"leeway": -1}, "greater than or equal to 0"),
        ({"identity_source": []}, "at least 1"),
    ],
)
def test_jwt_authorizer_refusals(changes: dict[str, object], message: str) -> None:
    """Unsafe algorithms, a missing key source and malformed values are refused."""
    data: dict[str, object] = {"type": "jwt", "issuer": "https://i.example", "audience": "c"}
    with pytest.raises(ValidationError, match=re.escape(message)):
        JwtAuthorizerConfig.model_validate({**data, **changes})


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[BaseModel]) -> None:
    """Every field documents itself, since the config reference is generated from it."""
    undocumented = [name for name, f in model.model_fields.items() if not f.description]
    assert undocumented == []


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_models_forbid_unknown_keys(model: type[BaseModel]) -> None:
    """Every model rejects a key it does not declare."""
    data: dict[str, object] = {"no_such_key": 1}
    if "handler" in model.model_fields:
        data["handler"] = "m:f"
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        model.model_validate(data)


def test_models_are_frozen() -> None:
    """Config objects cannot be changed after validation."""
    api = ApiSettings()
    with pytest.raises(ValidationError):
        api.stage = "prod"


def test_route_given_as_bare_string() -> None:
    """`key: module:function` means a route with that handler and default settings."""
    config = GatewayConfig.model_validate({"routes": {"$default": "handlers:default"}})
    assert config.routes["$default"] == RouteConfig(handler="handlers:default")


@pytest.mark.parametrize(
    "reference", ["handlers:connect", "app.handlers:connect", "_m._n:_f2", "pkg.mod9:Handler"]
)
def test_valid_handler_references(reference: str) -> None:
    """`dotted.module:attr` is accepted as is."""
    assert RouteConfig(handler=reference).handler == reference


@pytest.mark.parametrize(
    "reference",
    ["handlers", "handlers:", ":f", "a..b:f", "a:b:c", "a:b.c", "class:f", "a-b:f", "a: f", ""],
)
def test_invalid_handler_references(reference: str) -> None:
    """Anything but `dotted.module:attr` is refused, naming what was given."""
    with pytest.raises(
        ValidationError, match=re.escape(f"invalid handler reference {reference!r}")
    ):
        RouteConfig(handler=reference)


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        ("http://backend/ws", "http"),
        ("https://backend/ws", "https"),
        ({"lambda": "my-function"}, "lambda"),
        ({"mock": {"statusCode": 200}}, "mock"),
    ],
)
def test_other_integration_types_are_not_supported_yet(handler: object, kind: str) -> None:
    """HTTP and mapping integrations are refused with a 'not supported yet' message."""
    expected = f"integration type '{kind}' is not supported yet; use module:function"
    with pytest.raises(ValidationError, match=re.escape(expected)):
        RouteConfig.model_validate({"handler": handler})


@pytest.mark.parametrize(
    "source",
    [
        "route.request.header.Authorization",
        "route.request.header.X-Api-Key",
        "route.request.querystring.token",
    ],
)
def test_valid_identity_sources(source: str) -> None:
    """Header and query-string identity sources are accepted."""
    authorizer = RequestAuthorizerConfig(handler="auth:handler", identity_source=[source])
    assert authorizer.identity_source == [source]


@pytest.mark.parametrize(
    "source",
    [
        "request.header.Authorization",
        "route.request.header.",
        "route.request.body.token",
        "route.request.querystring.a b",
        "$request.header.Authorization",
    ],
)
def test_invalid_identity_sources(source: str) -> None:
    """Identity sources that are not route.request.header/querystring.NAME are refused."""
    with pytest.raises(ValidationError, match=re.escape(f"invalid identity source {source!r}")):
        RequestAuthorizerConfig(handler="auth:handler", identity_source=[source])


def test_identity_sources_as_comma_separated_string() -> None:
    """AWS's comma-separated form of identity sources becomes a list."""
    authorizer = RequestAuthorizerConfig.model_validate(
        {
            "handler": "auth:handler",
            "identity_source": "route.request.header.Auth, route.request.querystring.t",
        }
    )
    assert authorizer.identity_source == [
        "route.request.header.Auth",
        "route.request.querystring.t",
    ]


@pytest.mark.parametrize("key", ["$connect", "$disconnect", "$default", "sendmessage", "a$b"])
def test_allowed_route_keys(key: str) -> None:
    """The three special keys and any key not starting with `$` are allowed."""
    config = GatewayConfig.model_validate({"routes": {key: "handlers:h"}})
    assert list(config.routes) == [key]


@pytest.mark.parametrize("key", ["$foo", "$", "$Connect", ""])
def test_refused_route_keys(key: str) -> None:
    """Empty keys and `$` keys other than $connect/$disconnect/$default are refused."""
    with pytest.raises(ValidationError, match="route key"):
        GatewayConfig.model_validate({"routes": {key: "handlers:h"}})


@pytest.mark.parametrize("key", ["$connect", "$disconnect"])
def test_connect_and_disconnect_cannot_be_two_way(key: str) -> None:
    """`response: true` on $connect or $disconnect is refused."""
    with pytest.raises(ValidationError, match=re.escape(f"{key} cannot be a two-way route")):
        GatewayConfig.model_validate({"routes": {key: {"handler": "h:h", "response": True}}})


def test_two_way_default_route_is_allowed() -> None:
    """$default and custom routes may be two-way."""
    config = GatewayConfig.model_validate(
        {"routes": {"$default": {"handler": "h:h", "response": True}}}
    )
    assert config.routes["$default"].response is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("idle_timeout", 0),
        ("max_connection_duration", -1),
        ("max_message_bytes", 0),
        ("max_frame_bytes", 0),
        ("handshake_timeout", 0),
        ("max_connections", 0),
        ("stage", ""),
        ("stage", "a/b"),
        ("route_selection_expression", ""),
        ("api_id", "ABCDEFGHIJ"),
        ("api_id", "abc"),
        ("account_id", "12345"),
        ("account_id", "12345678901x"),
    ],
)
def test_api_settings_refuse_bad_values(field: str, value: object) -> None:
    """Non-positive limits, bad stage names and malformed AWS ids are refused."""
    with pytest.raises(ValidationError):
        ApiSettings.model_validate({field: value})


def test_frame_limit_may_not_exceed_message_limit() -> None:
    """max_frame_bytes above max_message_bytes is refused; equal is fine."""
    assert ApiSettings(max_frame_bytes=1000, max_message_bytes=1000).max_frame_bytes == 1000
    with pytest.raises(ValidationError, match=re.escape("must not exceed max_message_bytes")):
        ApiSettings(max_frame_bytes=1001, max_message_bytes=1000)


@pytest.mark.parametrize(
    "settings",
    [
        {"port": -1},
        {"port": 65536},
        {"tls_port": 70000},
        {"shutdown_timeout": 0},
        {"tls_cert": "c.pem", "tls_port": 8443},
        {"tls_key": "k.pem", "tls_port": 8443},
        {"tls_cert": "c.pem", "tls_key": "k.pem"},
        {"port": 8443, "tls_port": 8443},
    ],
)
def test_server_settings_refuse_bad_values(settings: dict[str, object]) -> None:
    """Out-of-range ports, half a certificate, a cert without tls_port, a shared port."""
    with pytest.raises(ValidationError):
        ServerSettings.model_validate(settings)


def test_both_ports_zero_are_allowed() -> None:
    """Port 0 twice means two free ports, not a clash."""
    assert ServerSettings(port=0, tls_port=0).tls_port == 0


def test_resolved_domain_name() -> None:
    """domain_name wins; else localhost with the TLS port when there is one, else the port."""
    assert ServerSettings(domain_name="ws.example.com").resolved_domain_name(1, 2) == (
        "ws.example.com"
    )
    assert ServerSettings(port=0, tls_port=0).resolved_domain_name(4100, 4200) == ("localhost:4200")
    assert ServerSettings(port=0).resolved_domain_name(4100, None) == "localhost:4100"


def test_resolved_api_id() -> None:
    """An explicit api_id is kept; otherwise a stable 10-char [a-z0-9] id comes from the name."""
    assert ApiSettings(api_id="dl7ptocha9").resolved_api_id() == "dl7ptocha9"
    derived = ApiSettings(name="chat").resolved_api_id()
    assert re.fullmatch(r"[a-z0-9]{10}", derived)
    assert ApiSettings(name="chat").resolved_api_id() == derived
    assert ApiSettings(name="other").resolved_api_id() != derived


def test_handler_environment_numbers_become_strings() -> None:
    """Numbers in handlers.environment are kept as their text, booleans are refused."""
    assert HandlerSettings.model_validate({"environment": {"PORT": 5432}}).environment == {
        "PORT": "5432"
    }
    with pytest.raises(ValidationError):
        HandlerSettings.model_validate({"environment": {"DEBUG": True}})


@pytest.mark.parametrize("key", ["lease", "reply_timeout"])
@pytest.mark.parametrize("value", [0, -1])
def test_registry_times_must_be_positive(key: str, value: float) -> None:
    with pytest.raises(ValidationError, match=key):
        RegistrySettings.model_validate({key: value})


def test_registry_refuses_non_redis_url() -> None:
    """registry.url must be a redis://, rediss:// or unix:// URL."""
    assert RegistrySettings(url="rediss://h:6380/1").url == "rediss://h:6380/1"
    with pytest.raises(ValidationError, match="redis://"):
        RegistrySettings(url="http://h:6379")


def test_an_older_config_s_handshake_timeout_becomes_the_request_timeout() -> None:
    """api.handshake_timeout bounded the request head before server.request_timeout did."""
    older = GatewayConfig.model_validate({"api": {"handshake_timeout": 3}})
    assert older.server.request_timeout == 3
    both = GatewayConfig.model_validate(
        {"api": {"handshake_timeout": 3}, "server": {"request_timeout": 5}}
    )
    assert both.server.request_timeout == 5
    assert GatewayConfig.model_validate({}).server.request_timeout == 10


def test_registry_link_addresses() -> None:
    """The node link listens on loopback by default; a wildcard needs an address to tell
    the other processes; both are host:port."""
    default = RegistrySettings(backend="redis")
    assert default.link_addresses() == (("127.0.0.1", 0), None)
    assert RegistrySettings(link_listen=None).link_addresses() == (None, None)
    both = RegistrySettings(link_listen="[::]:7400", link_advertise="[fd00::7]:0")
    assert both.link_addresses() == (("::", 7400), ("fd00::7", 0))
    with pytest.raises(ValidationError, match="wildcard"):  # reported at link_advertise
        RegistrySettings(link_listen="0.0.0.0:7400")
    for bad in ("7400", "host:port", "::1:7400"):
        with pytest.raises(ValidationError, match="link_listen"):
            RegistrySettings(link_listen=bad)
