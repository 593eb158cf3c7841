"""Loading `wsgate.yaml`: the happy path, path resolution and every error's message."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsgate.config.files import load_config, parse_config
from wsgate.config.model import (
    ApiSettings,
    GatewayConfig,
    JwtAuthorizerConfig,
    RegistrySettings,
    RequestAuthorizerConfig,
    RouteConfig,
)
from wsgate.exceptions import ConfigError


DESIGN_EXAMPLE = """\
api:
  name: chat
  stage: dev                               # requestContext.stage, URL prefix of @connections
  route_selection_expression: $request.body.action
  idle_timeout: 600                        # seconds
  max_connection_duration: 7200            # seconds
  max_message_bytes: 131072
  max_frame_bytes: 32768
server:
  host: 127.0.0.1
  port: 8080
  domain_name: localhost:8080              # requestContext.domainName
handlers:
  path: .                                  # added to sys.path for module:function handlers
  environment: {TABLE: chat}               # set for the handlers
authorizer:
  type: request                            # request | jwt
  handler: auth:handler                    # any integration (see below)
  identity_source: [route.request.header.Authorization]
routes:
  $connect: handlers:connect
  $disconnect: handlers:disconnect
  $default: handlers:default
  sendmessage:
    handler: handlers:send_message
    timeout: 29
    response: true                         # two-way: the return value goes back to the client
registry:
  backend: memory                          # memory | redis
  url: redis://127.0.0.1:6379/0
"""


def write(folder: Path, text: str, name: str = "wsgate.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(folder: Path, text: str, environ: dict[str, str] | None = None) -> str:
    """Load ``text`` from a file and return the error, with the file shown as wsgate.yaml."""
    path = write(folder, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    return str(info.value).replace(str(path), "wsgate.yaml")


# --- loading ---------------------------------------------------------------------------


def test_design_example_loads(tmp_path: Path) -> None:
    """The example from DESIGN.md loads with every value it spells out."""
    config = load_config(write(tmp_path, DESIGN_EXAMPLE), {})
    assert config.api == ApiSettings(name="chat")
    assert config.server.domain_name == "localhost:8080"
    assert config.handlers.path == tmp_path
    assert config.handlers.environment == {"TABLE": "chat"}
    assert config.authorizer == RequestAuthorizerConfig(
        handler="auth:handler", identity_source=["route.request.header.Authorization"]
    )
    assert config.routes == {
        "$connect": RouteConfig(handler="handlers:connect"),
        "$disconnect": RouteConfig(handler="handlers:disconnect"),
        "$default": RouteConfig(handler="handlers:default"),
        "sendmessage": RouteConfig(handler="handlers:send_message", timeout=29, response=True),
    }
    assert config.registry == RegistrySettings()


@pytest.mark.parametrize("text", ["", "\n", "# nothing configured yet\n", "---\n"])
def test_empty_file_gives_defaults(tmp_path: Path, text: str) -> None:
    """An empty (or comment-only) file is all defaults, with handlers.path at its folder."""
    config = load_config(write(tmp_path, text), {})
    assert config.model_dump(exclude={"handlers"}) == GatewayConfig().model_dump(
        exclude={"handlers"}
    )
    assert config.handlers.path == tmp_path


def test_parse_config_without_a_file(tmp_path: Path) -> None:
    """parse_config validates text directly, resolving paths against base_dir."""
    config = parse_config("routes: {$default: h:default}", "inline", tmp_path, {})
    assert config.routes["$default"].handler == "h:default"
    assert config.handlers.path == tmp_path


def test_bare_string_routes_and_mappings_mix(tmp_path: Path) -> None:
    """Routes may be bare `module:function` strings next to full mappings."""
    text = "routes:\n  $default: app.handlers:default\n  ping: {handler: app:ping, timeout: 3}\n"
    config = load_config(write(tmp_path, text), {})
    assert config.routes["$default"] == RouteConfig(handler="app.handlers:default")
    assert config.routes["ping"] == RouteConfig(handler="app:ping", timeout=3)


def test_relative_handlers_path_is_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """handlers.path is resolved against the file's folder, not the working directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(write(folder, "handlers: {path: src/handlers}"), {})
    assert config.handlers.path == folder / "src" / "handlers"
    assert config.handlers.path.is_absolute()


def test_relative_config_path_still_gives_absolute_handlers_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config named by a relative path still yields an absolute handlers.path."""
    write(tmp_path, "handlers: {path: lib}")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("wsgate.yaml"), {})
    assert config.handlers.path == tmp_path / "lib"


def test_absolute_handlers_path_is_kept(tmp_path: Path) -> None:
    """An absolute handlers.path is used as written."""
    target = tmp_path / "abs"
    folder = tmp_path / "cfg"
    folder.mkdir()
    config = load_config(write(folder, f"handlers: {{path: '{target}'}}"), {})
    assert config.handlers.path == target


def test_tls_files_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    """server.tls_cert and server.tls_key are resolved like handlers.path."""
    text = "server: {tls_port: 8443, tls_cert: certs/c.pem, tls_key: certs/k.pem}"
    config = load_config(write(tmp_path, text), {})
    assert config.server.tls_cert == tmp_path / "certs" / "c.pem"
    assert config.server.tls_key == tmp_path / "certs" / "k.pem"


def test_env_references_with_default_and_several_per_string(tmp_path: Path) -> None:
    """Env references are replaced before validation; numbers arrive as text and convert."""
    text = (
        "api:\n"
        "  idle_timeout: ${env:IDLE}\n"
        "  stage: ${env:STAGE, dev}\n"
        "registry:\n"
        "  url: redis://${env:HOST, 127.0.0.1}:${env:PORT, 6379}/${env:DB}\n"
    )
    config = load_config(write(tmp_path, text), {"IDLE": "30", "PORT": "6380", "DB": "2"})
    assert config.api.idle_timeout == 30.0
    assert config.api.stage == "dev"
    assert config.registry.url == "redis://127.0.0.1:6380/2"


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an environ argument, the process environment is used."""
    monkeypatch.setenv("WSGATE_TEST_STAGE", "prod")
    config = load_config(write(tmp_path, "api: {stage: '${env:WSGATE_TEST_STAGE}'}"))
    assert config.api.stage == "prod"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    """A file saved with a UTF-8 byte order mark loads."""
    path = tmp_path / "wsgate.yaml"
    path.write_bytes("\ufeffapi: {name: chat}\n".encode())
    assert load_config(path, {}).api.name == "chat"


# --- errors ----------------------------------------------------------------------------


def test_file_not_found(tmp_path: Path) -> None:
    """A missing file is named in the error."""
    path = tmp_path / "wsgate.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value) == f"{path}: file not found"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory is not a config file."""
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, {})


def test_invalid_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported, not raised as UnicodeDecodeError."""
    path = tmp_path / "wsgate.yaml"
    path.write_bytes(b"api: {name: \xff}\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(path, {})


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error gives file:line:column and the parser's problem."""
    text = "api:\n  name: chat\n  stage: [dev\nserver: {}\n"
    message = load_error(tmp_path, text)
    assert message.startswith("wsgate.yaml:4:")
    assert "invalid YAML" in message


def test_yaml_syntax_error_exact_message(tmp_path: Path) -> None:
    """The message shape is `file:line:column: invalid YAML: problem`."""
    message = load_error(tmp_path, "api: {name: x\n  stage: y")
    assert message == "wsgate.yaml:2:8: invalid YAML: expected ',' or '}', but got ':'"


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """A key given twice is refused instead of silently keeping the last one."""
    text = "routes:\n  $default: a:b\napi: {}\nroutes:\n  ping: a:ping\n"
    assert (
        load_error(tmp_path, text) == "wsgate.yaml:4:1: invalid YAML: found duplicate key 'routes'"
    )


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    """YAML merge keys may override merged values without counting as duplicates."""
    text = "routes:\n  a: &base {handler: m:a, timeout: 5}\n  b:\n    <<: *base\n    handler: m:b\n"
    config = load_config(write(tmp_path, text), {})
    assert config.routes["b"] == RouteConfig(handler="m:b", timeout=5)


@pytest.mark.parametrize(
    ("text", "kind"), [("- api\n", "a list"), ("just text\n", "str 'just text'")]
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    """A document that is not a mapping of sections is refused."""
    assert load_error(tmp_path, text) == (
        f"wsgate.yaml: expected a mapping of sections at the top level (api, server, ...), "
        f"got {kind}"
    )


def test_wrong_type_names_path_and_expectation(tmp_path: Path) -> None:
    """A value of the wrong type names the key path, the expected form and the value."""
    assert load_error(tmp_path, "api:\n  idle_timeout: soon\n") == (
        "wsgate.yaml: api.idle_timeout: expected a number greater than 0, got 'soon'"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api: {idle_timeout: 0}", "api.idle_timeout: expected a number greater than 0, got 0"),
        (
            "server: {port: 70000}",
            "server.port: expected an integer from 0 to 65535, got 70000",
        ),
        (
            "api: {max_connections: many}",
            "api.max_connections: expected an integer greater than 0 or null, got 'many'",
        ),
        (
            "handlers: {max_threads: 1.5}",
            "handlers.max_threads: expected an integer greater than 0, got 1.5",
        ),
        (
            "routes: {x: {handler: a:b, response: maybe}}",
            "routes.x.response: expected true or false, got 'maybe'",
        ),
        (
            "registry: {backend: mongo}",
            "registry.backend: expected 'memory' or 'redis', got 'mongo'",
        ),
        ("api: 5", "api: expected a mapping, got 5"),
        ("routes: [a]", "routes: expected a mapping, got ['a']"),
        (
            "routes: {x: null}",
            "routes.x: expected module:function or a mapping with a 'handler' key, got null",
        ),
        ("api: {name: 12}", "api.name: expected a non-empty string, got 12"),
        (
            "api: {route_selection_expression: ''}",
            "api.route_selection_expression: expected a non-empty string, got ''",
        ),
        (
            "handlers: {environment: {DEBUG: true}}",
            "handlers.environment.DEBUG: expected a string, got true",
        ),
        (
            "authorizer: {type: basic, handler: a:b}",
            "authorizer.type: expected 'request' or 'jwt', got 'basic'",
        ),
    ],
)
def test_type_and_range_errors(tmp_path: Path, text: str, message: str) -> None:
    """Type and range errors say what the key expects and what it got."""
    assert load_error(tmp_path, text) == f"wsgate.yaml: {message}"


def test_unknown_key_lists_known_keys(tmp_path: Path) -> None:
    """An unknown key is named with its full path, followed by the keys that exist."""
    assert load_error(tmp_path, "api:\n  idel_timeout: 5\n") == (
        "wsgate.yaml: api.idel_timeout: unknown key (known keys: name, stage, "
        "route_selection_expression, idle_timeout, max_connection_duration, max_message_bytes, "
        "max_frame_bytes, max_fragments, handshake_timeout, max_connections, throttle, api_id, "
        "region, account_id)"
    )


def test_unknown_key_inside_a_route(tmp_path: Path) -> None:
    """Unknown keys are found at any depth, with the route key in the path."""
    assert load_error(tmp_path, "routes:\n  sendmessage: {handler: a:b, respone: true}\n") == (
        "wsgate.yaml: routes.sendmessage.respone: unknown key "
        "(known keys: handler, function, timeout, response, throttle)"
    )


def test_unknown_top_level_section(tmp_path: Path) -> None:
    """An unknown section is named with the sections that exist."""
    assert load_error(tmp_path, "route: {}\n") == (
        "wsgate.yaml: route: unknown key "
        "(known keys: api, server, handlers, authorizer, routes, registry, functions, "
        "management, admin, aws)"
    )


def test_missing_env_variable(tmp_path: Path) -> None:
    """A missing variable without default names the file, the key path and the variable."""
    assert load_error(tmp_path, "registry:\n  url: redis://${env:REDIS_HOST}:6379\n") == (
        "wsgate.yaml: registry.url: environment variable REDIS_HOST is not set "
        "(referenced as '${env:REDIS_HOST}' without a default)"
    )


def test_bad_handler_reference(tmp_path: Path) -> None:
    """A handler that is not module:function is named in the error."""
    assert load_error(tmp_path, "routes:\n  $default: handlers.default\n") == (
        "wsgate.yaml: routes.$default.handler: invalid handler reference 'handlers.default': "
        "expected module:function, e.g. 'handlers:send_message' or 'app.handlers:connect'"
    )


def test_http_integration_not_supported_yet(tmp_path: Path) -> None:
    """An http(s) integration is refused with 'not supported yet'."""
    assert load_error(tmp_path, "routes:\n  $default: https://backend.local/ws\n") == (
        "wsgate.yaml: routes.$default.handler: integration type 'https' is not supported "
        "yet; use module:function (got 'https://backend.local/ws')"
    )


def test_lambda_mapping_not_supported_yet(tmp_path: Path) -> None:
    """A bare `{lambda: ...}` route is refused with 'not supported yet'."""
    assert load_error(tmp_path, "routes:\n  $default: {lambda: chat-default}\n") == (
        "wsgate.yaml: routes.$default.handler: integration type 'lambda' is not supported "
        "yet; use module:function"
    )


def test_route_without_handler(tmp_path: Path) -> None:
    """A route mapping needs a handler."""
    assert load_error(tmp_path, "routes:\n  ping: {timeout: 3}\n") == (
        "wsgate.yaml: routes.ping.handler: required key is missing"
    )


def test_bad_identity_source(tmp_path: Path) -> None:
    """A bad identity source is named with its index in the list."""
    text = (
        "authorizer:\n"
        "  handler: auth:handler\n"
        "  identity_source: [route.request.header.Auth, request.header.Token]\n"
    )
    assert load_error(tmp_path, text) == (
        "wsgate.yaml: authorizer.identity_source[1]: invalid identity source "
        "'request.header.Token': expected route.request.header.NAME or "
        "route.request.querystring.NAME"
    )


JWT_CONFIG = """\
authorizer:
  type: jwt
  issuer: https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123
  audience: [web-client, cli-client]
  token_use: access
  required_scopes: [chat/read]
  identity_source: [route.request.querystring.token]
"""


def test_jwt_authorizer_loads(tmp_path: Path) -> None:
    """A Cognito jwt authorizer loads with its values; the JWKS URL follows from the issuer."""
    config = load_config(write(tmp_path, JWT_CONFIG), {})
    authorizer = config.authorizer
    assert isinstance(authorizer, JwtAuthorizerConfig)
    assert authorizer.audience == ["web-client", "cli-client"]
    assert authorizer.token_use == "access"
    assert authorizer.resolved_jwks_uri() == (
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc123/.well-known/jwks.json"
    )


def test_jwks_file_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    """jwks_file is resolved against the file's folder, like the other paths."""
    text = "authorizer: {type: jwt, issuer: iss, audience: a, jwks_file: keys/jwks.json}\n"
    authorizer = load_config(write(tmp_path, text), {}).authorizer
    assert isinstance(authorizer, JwtAuthorizerConfig)
    assert authorizer.jwks_file == tmp_path / "keys" / "jwks.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("authorizer: {type: jwt, audience: a}", "authorizer.issuer: required key is missing"),
        (
            "authorizer: {type: jwt, issuer: https://i, audience: a, handler: a:b}",
            "authorizer.handler: unknown key (known keys: type, issuer, audience, jwks_uri, "
            "jwks_file, algorithms, leeway, required_scopes, token_use, identity_source, "
            "jwks_cache_ttl, jwks_min_refresh_interval, jwks_timeout)",
        ),
        (
            "authorizer: {type: jwt, issuer: https://i, audience: []}",
            "authorizer.audience: expected a non-empty list, got []",
        ),
        (
            "authorizer: {type: jwt, issuer: https://i, audience: a, algorithms: [RS256, HS256]}",
            "authorizer.algorithms[1]: 'HS256' is an HMAC algorithm: its key is a shared "
            "secret, not a public key of a JWKS, so it is never accepted; expected RS256, "
            "RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
        ),
        (
            "authorizer: {type: jwt, issuer: my-issuer, audience: a}",
            "authorizer.jwks_uri: required: the issuer 'my-issuer' is not an http(s) URL, so "
            "the JWKS URL cannot be derived from it (set jwks_uri or jwks_file)",
        ),
        (
            "authorizer: {type: jwt, issuer: https://i, audience: a, jwks_timeout: 0}",
            "authorizer.jwks_timeout: expected a number greater than 0, got 0",
        ),
        ("authorizer: [jwt]", "authorizer: expected a mapping or null, got ['jwt']"),
    ],
)
def test_jwt_authorizer_errors(tmp_path: Path, text: str, message: str) -> None:
    """jwt authorizer errors name the key without the union's tag, as other errors do."""
    assert load_error(tmp_path, text + "\n") == f"wsgate.yaml: {message}"


def test_unknown_special_route_key(tmp_path: Path) -> None:
    """`$foo` is not a route key AWS knows."""
    assert load_error(tmp_path, "routes:\n  $foo: handlers:foo\n") == (
        "wsgate.yaml: routes.$foo: unknown special route key '$foo'; keys starting with '$' "
        "must be $connect, $disconnect or $default"
    )


@pytest.mark.parametrize("key", ["$connect", "$disconnect"])
def test_two_way_connect_or_disconnect(tmp_path: Path, key: str) -> None:
    """`response: true` on $connect/$disconnect points at that route's response key."""
    text = f"routes:\n  {key}: {{handler: h:h, response: true}}\n"
    assert load_error(tmp_path, text) == (
        f"wsgate.yaml: routes.{key}.response: {key} cannot be a two-way route; "
        "remove 'response: true'"
    )


def test_tls_cert_without_tls_key(tmp_path: Path) -> None:
    """Half a certificate is refused, naming the missing key."""
    assert load_error(tmp_path, "server: {tls_port: 8443, tls_cert: cert.pem}\n") == (
        "wsgate.yaml: server.tls_key: required when tls_cert is set "
        "(set both, or neither for a self-signed certificate)"
    )


def test_tls_key_without_tls_cert(tmp_path: Path) -> None:
    """The other half is refused too, naming tls_cert."""
    assert load_error(tmp_path, "server: {tls_port: 8443, tls_key: key.pem}\n") == (
        "wsgate.yaml: server.tls_cert: required when tls_key is set "
        "(set both, or neither for a self-signed certificate)"
    )


def test_frame_limit_above_message_limit(tmp_path: Path) -> None:
    """A cross-field check is reported at the field that breaks it."""
    assert load_error(tmp_path, "api: {max_frame_bytes: 200000}\n") == (
        "wsgate.yaml: api.max_frame_bytes: must not exceed max_message_bytes (131072), got 200000"
    )


def test_several_problems_one_line_each(tmp_path: Path) -> None:
    """All problems are reported at once, one line each, in the order fields are declared."""
    text = "api:\n  idle_timeout: soon\n  stage: a/b\nserver:\n  port: -1\nfoo: 1\n"
    assert load_error(tmp_path, text).splitlines() == [
        "wsgate.yaml: api.stage: expected a non-empty name without '/', got 'a/b'",
        "wsgate.yaml: api.idle_timeout: expected a number greater than 0, got 'soon'",
        "wsgate.yaml: server.port: expected an integer from 0 to 65535, got -1",
        "wsgate.yaml: foo: unknown key "
        "(known keys: api, server, handlers, authorizer, routes, registry, functions, "
        "management, admin, aws)",
    ]


def test_error_names_the_file_as_given(tmp_path: Path) -> None:
    """The file is named in the message as the caller named it."""
    path = write(tmp_path, "api: {idle_timeout: soon}\n", name="prod.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}: api.idle_timeout: ")


def test_parse_config_uses_the_source_name(tmp_path: Path) -> None:
    """parse_config names the document by its source argument."""
    with pytest.raises(ConfigError) as info:
        parse_config("api: {stage: ''}", "inline.yaml", tmp_path, {})
    assert (
        str(info.value) == "inline.yaml: api.stage: expected a non-empty name without '/', got ''"
    )


def test_config_error_does_not_chain_pydantic(tmp_path: Path) -> None:
    """The ConfigError stands alone: no pydantic traceback is chained to it."""
    with pytest.raises(ConfigError) as info:
        parse_config("api: {idle_timeout: soon}", "wsgate.yaml", tmp_path, {})
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True
