"""Hot reload of a served project: ``wsgate serve`` as a real process, its functions in
worker processes, a real ``websockets`` client whose connection stays open while the
function code, the template or the serverless.yml are edited under it.

Nothing here is timed: each check polls, within a bound, for the answer or the log line
a reload must bring.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.e2e.project_process import BOUND, Served, refused, serve_project
from tests.redis_support import REDIS_URL, delete_keys, require_redis, unique_prefix


pytestmark = pytest.mark.timeout(120)


@asynccontextmanager
async def watched(folder: Path, config: str, *extra: str) -> AsyncIterator[Served]:
    """``wsgate serve --config CONFIG`` in ``folder``, once it watches for changes."""
    async with serve_project(folder, "--config", config, *extra) as served:
        await served.logged("hot reload: watching")
        yield served


@asynccontextmanager
async def connected(
    folder: Path, config: str, *extra: str
) -> AsyncIterator[tuple[Served, ClientConnection]]:
    """``watched``, and a client connected to it."""
    async with watched(folder, config, *extra) as served:
        async with websockets.connect(served.url()) as ws:
            yield served, ws


async def ask(ws: ClientConnection, action: str, **fields: Any) -> Any:
    await ws.send(json.dumps({"action": action, **fields}))
    return json.loads(await asyncio.wait_for(ws.recv(), 20))


async def until(ws: ClientConnection, action: str, wanted: Any, *before: Any) -> None:
    """Ask until the answer is ``wanted``; until then it may only be one of ``before``
    (never an error: a reload fails nothing)."""
    async with asyncio.timeout(BOUND):
        while (answer := await ask(ws, action)) != wanted:
            assert answer in before, answer
            await asyncio.sleep(0.1)


# --- the projects ----------------------------------------------------------------------

PYTHON_ECHO = """
import json
import os
import time
from pathlib import Path


def handler(event, context):
    body = json.loads(event["body"])
    if "gate" in body:  # held until the test opens the gate: an invocation in flight
        Path(body["started"]).write_text("started")
        for _ in range(600):
            if Path(body["gate"]).exists():
                break
            time.sleep(0.05)
        return {"statusCode": 200, "body": json.dumps("VERSION held")}
    answer = "VERSION"
    if os.environ.get("GREETING"):
        answer += " " + os.environ["GREETING"]
    return {"statusCode": 200, "body": json.dumps(answer)}
"""

NODE_ECHO = """
export const handler = async () => ({ statusCode: 200, body: JSON.stringify("VERSION") });
"""


def python_echo(version: str) -> str:
    return PYTHON_ECHO.replace("VERSION", version)


def node_echo(version: str) -> str:
    return NODE_ECHO.replace("VERSION", version)


def template(routes: dict[str, tuple[str, str, str]], stage: str = "dev") -> str:
    """A CloudFormation WebSocket API, each route key two-way to its own function:
    route key → (logical id, code folder, runtime)."""
    resources: dict[str, Any] = {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": "reload",
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "Api"}, "StageName": stage},
        },
    }
    for key, (name, code, runtime) in routes.items():
        handler = "index.handler" if runtime.startswith("nodejs") else "app.handler"
        resources[name] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {"CodeUri": f"{code}/", "Handler": handler, "Runtime": runtime},
        }
        resources[f"{name}Integration"] = {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {
                    "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/"
                    f"functions/${{{name}.Arn}}/invocations"
                },
            },
        }
        resources[f"{name}Route"] = {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "RouteKey": key,
                "RouteResponseSelectionExpression": "$default",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": f"{name}Integration"}]]},
            },
        }
        resources[f"{name}Response"] = {
            "Type": "AWS::ApiGatewayV2::RouteResponse",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "RouteId": {"Ref": f"{name}Route"},
                "RouteResponseKey": "$default",
            },
        }
    document = {"Transform": "AWS::Serverless-2016-10-31", "Resources": resources}
    return json.dumps(document, indent=1)  # JSON is YAML


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
async def sam(tmp_path: Path) -> AsyncIterator[Served]:
    folder = tmp_path / "app"
    write(folder / "echo" / "app.py", python_echo("one"))
    write(folder / "template.yaml", template({"echo": ("Echo", "echo", "python3.12")}))
    async with watched(folder, "template.yaml") as served:
        yield served


# --- the tests -------------------------------------------------------------------------


async def test_python_code_change_reaches_the_next_message(sam: Served, tmp_path: Path) -> None:
    """An edit to a function's code is the next message's answer on a connection that
    stays open; an invocation in flight meanwhile finishes with the code it began with."""
    code = tmp_path / "app" / "echo" / "app.py"
    gate, started = tmp_path / "gate", tmp_path / "started"
    async with websockets.connect(sam.url()) as ws, websockets.connect(sam.url()) as held:
        assert await ask(ws, "echo") == "one"
        await held.send(json.dumps({"action": "echo", "gate": str(gate), "started": str(started)}))
        async with asyncio.timeout(BOUND):
            while not started.exists():
                await asyncio.sleep(0.05)
        mark = len(sam.log)
        write(code, python_echo("two, longer"))
        await sam.logged("reload: app.py changed: code of Echo", after=mark)
        await until(ws, "echo", "two, longer", "one")
        gate.write_text("open")
        assert json.loads(await asyncio.wait_for(held.recv(), 20)) == "one held"
        assert await ask(held, "echo") == "two, longer"
    assert not any("ERROR" in line for line in sam.log), "".join(sam.log)


async def test_node_code_change_reaches_the_next_message(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    write(folder / "node" / "index.mjs", node_echo("n1"))
    write(folder / "template.yaml", template({"echo": ("Echo", "node", "nodejs20.x")}))
    async with connected(folder, "template.yaml") as (_, ws):
        assert await ask(ws, "echo") == "n1"
        write(folder / "node" / "index.mjs", node_echo("n2, longer"))
        await until(ws, "echo", "n2, longer", "n1")


async def test_template_edits_add_a_route_survive_a_broken_one_and_apply_the_fix(
    sam: Served, tmp_path: Path
) -> None:
    """A route added to the template answers on the open connection; a broken template
    is named in the log and the gateway serves on as before; its fix is applied."""
    folder = tmp_path / "app"
    file = folder / "template.yaml"
    echo = ("Echo", "echo", "python3.12")
    async with websockets.connect(sam.url()) as ws:
        assert await ask(ws, "echo") == "one"
        assert (await ask(ws, "ping"))["message"] == "Forbidden"  # no such route yet
        write(folder / "ping" / "app.py", python_echo("pong"))
        mark = len(sam.log)
        write(file, template({"echo": echo, "ping": ("Ping", "ping", "python3.12")}))
        await sam.logged(
            "reload: template.yaml changed: routes +ping", "functions +Ping", after=mark
        )
        assert await ask(ws, "ping") == "pong"

        mark = len(sam.log)
        file.write_text(file.read_text()[:-40])  # cut short: not YAML any more
        line = sam.log[await sam.logged("ERROR", "reload:", after=mark)]
        assert "template.yaml" in line and "invalid YAML" in line, line
        assert "still serving the config loaded before" in line
        assert await ask(ws, "ping") == "pong" and await ask(ws, "echo") == "one"

        mark = len(sam.log)  # valid, but its code folder is not there yet
        moved = template({"echo": echo, "ping": ("Ping", "pong2", "python3.12")})
        write(file, moved)
        line = sam.log[await sam.logged("ERROR", "reload:", after=mark)]
        assert "Resources.Ping.Properties.CodeUri" in line and "does not exist" in line, line
        assert await ask(ws, "ping") == "pong"

        write(folder / "pong2" / "app.py", python_echo("pong2"))
        mark = len(sam.log)
        write(file, moved + "\n")  # saved again, once the folder is there
        await sam.logged("reload: template.yaml changed: functions ~Ping (code)", after=mark)
        assert await ask(ws, "ping") == "pong2"
    assert not any("Traceback" in line for line in sam.log), "".join(sam.log)


async def test_settings_fixed_at_start_are_named_and_kept(sam: Served, tmp_path: Path) -> None:
    file = tmp_path / "app" / "template.yaml"
    async with websockets.connect(sam.url()) as ws:
        mark = len(sam.log)
        write(file, template({"echo": ("Echo", "echo", "python3.12")}, stage="prod"))
        line = sam.log[await sam.logged("restart to apply:", after=mark)]
        assert "api.stage" in line
        await sam.logged("reload: template.yaml changed: nothing that serves changed", after=mark)
        assert await ask(ws, "echo") == "one"
    async with websockets.connect(sam.url(stage="dev")) as ws:  # still served on its first stage
        assert await ask(ws, "echo") == "one"
    assert await refused(sam.url(stage="prod")) == 403  # and not on the new one


def two_way(route: str, handler: str) -> str:
    """A serverless.yml function of the route's name, answering on its two-way route."""
    return f"""\
  {route}:
    handler: {handler}
    events:
      - websocket:
          route: {route}
          routeResponseSelectionExpression: $default
"""


def serverless(service: str, functions: str, provider: str = "") -> str:
    """A serverless.yml of Python functions on routes by ``action``; ``provider`` adds
    lines to its provider."""
    return f"""\
service: {service}
provider:
  name: aws
  runtime: python3.12
  websocketsApiRouteSelectionExpression: $request.body.action
{provider}functions:
{functions}"""


SERVERLESS = serverless(
    "reload",
    two_way("echo", "app.handler"),
    provider="  environment:\n    GREETING: GREETING_VALUE\n",
)

PING = two_way("ping", "ping.handler")


async def test_serverless_yml_edits_apply_on_the_open_connection(tmp_path: Path) -> None:
    """The provider's environment changed, a function and its route added."""
    folder = tmp_path / "app"
    write(folder / "app.py", python_echo("sls"))
    write(folder / "ping.py", python_echo("sls-ping"))
    file = folder / "serverless.yml"
    write(file, SERVERLESS.replace("GREETING_VALUE", "hi"))
    async with connected(folder, "serverless.yml") as (served, ws):
        assert await ask(ws, "echo") == "sls hi"
        mark = len(served.log)
        write(file, SERVERLESS.replace("GREETING_VALUE", "hello") + PING)
        await served.logged("reload: serverless.yml changed: routes +ping", after=mark)
        assert await ask(ws, "ping") == "sls-ping hello"
        await until(ws, "echo", "sls hello", "sls hi")


WSGATE_YAML = """
api:
  stage: dev
routes:
  $default:
    handler: mod:handler
    response: true
"""


async def test_in_process_handler_modules_reload_with_the_flag(tmp_path: Path) -> None:
    """A wsgate.yaml's in-process handlers: a changed module is reloaded with the module
    its route names; one that does not compile leaves the handler as it was."""
    folder = tmp_path / "app"
    write(folder / "wsgate.yaml", WSGATE_YAML)
    write(
        folder / "mod.py",
        "from helper import word\n\n\ndef handler(event, context):\n"
        "    return {'statusCode': 200, 'body': '\"' + word() + '\"'}\n",
    )
    write(folder / "helper.py", "def word():\n    return 'first'\n")
    async with connected(folder, "wsgate.yaml", "--reload") as (served, ws):
        assert await ask(ws, "any") == "first"
        write(folder / "helper.py", "def word():\n    return 'second one'\n")
        await until(ws, "any", "second one", "first")
        mark = len(served.log)
        write(folder / "mod.py", "def handler(event, context):\n    return {\n")
        line = served.log[await served.logged("ERROR", "reload: mod.py", after=mark)]
        assert "SyntaxError" in line and "keep the handlers they had" in line, line
        assert await ask(ws, "any") == "second one"


async def test_a_wsgate_yaml_importing_a_template_reloads_its_env_file(tmp_path: Path) -> None:
    """Local settings for a project (a wsgate.yaml importing it) reload by default, and so
    does an ``--env-file``: a variable changed there reaches the next invocation."""
    folder = tmp_path / "app"
    write(folder / "echo" / "app.py", python_echo("imported"))
    write(folder / "template.yaml", template({"echo": ("Echo", "echo", "python3.12")}))
    write(folder / "wsgate.yaml", "import: {path: template.yaml}\n")
    write(folder / ".env", "GREETING=from-env\n")
    async with connected(folder, "wsgate.yaml", "--env-file", ".env") as (served, ws):
        assert await ask(ws, "echo") == "imported from-env"
        mark = len(served.log)
        write(folder / ".env", "GREETING=changed-in-env\n")
        await served.logged("reload: .env changed: functions ~Echo (environment)", after=mark)
        await until(ws, "echo", "imported changed-in-env", "imported from-env")


async def test_every_process_of_workers_reloads_on_its_own(tmp_path: Path) -> None:
    """``--workers 2 --reload``: each gateway process watches and retires its own
    function workers, and applies a template's change; a connection on either gets the
    new code and routes."""
    require_redis()
    prefix = unique_prefix().rstrip(":")
    folder = tmp_path / "app"
    write(folder / "echo" / "app.py", python_echo("w1"))
    write(folder / "template.yaml", template({"echo": ("Echo", "echo", "python3.12")}))
    registry = {"backend": "redis", "url": REDIS_URL, "prefix": prefix}
    write(folder / "wsgate.yaml", json.dumps({"import": "template.yaml", "registry": registry}))
    try:
        async with watched(folder, "wsgate.yaml", "--workers", "2", "--reload") as served:
            first = await served.logged("hot reload: watching")
            await served.logged("hot reload: watching", after=first + 1)
            async with websockets.connect(served.url()) as ws:
                assert await ask(ws, "echo") == "w1"
                mark = len(served.log)
                write(folder / "echo" / "app.py", python_echo("w2, longer"))
                await until(ws, "echo", "w2, longer", "w1")
            one = await served.logged("reload: app.py changed: code of Echo", after=mark)
            two = await served.logged("reload: app.py changed: code of Echo", after=one + 1)
            pids = {re.search(r"\[(\d+)\]", served.log[i]) for i in (one, two)}
            assert len({match.group(1) for match in pids if match}) == 2, served.log[mark:]
            # A template edit: each process applies it, and nothing the supervisor set
            # (the shared ports) reads as a change needing a restart.
            write(folder / "ping" / "app.py", python_echo("w-ping"))
            mark = len(served.log)
            routes = {
                "echo": ("Echo", "echo", "python3.12"),
                "ping": ("Ping", "ping", "python3.12"),
            }
            write(folder / "template.yaml", template(routes))
            one = await served.logged("reload: template.yaml changed: routes +ping", after=mark)
            await served.logged("reload: template.yaml changed: routes +ping", after=one + 1)
            async with websockets.connect(served.url()) as ws:
                assert await ask(ws, "ping") == "w-ping"
            assert not any("restart to apply" in line for line in served.log), served.log[mark:]
    finally:
        await delete_keys(prefix)


CONNECT = """\
  connect:
    handler: app.connect
    events:
      - websocket:
          route: $connect
"""

AUTHORIZED = serverless(
    "guarded",
    CONNECT + "AUTHORIZER\n" + two_way("echo", "app.handler") + "  auth:\n    handler: app.auth\n",
)

ON_CONNECT = """\
          authorizer:
            name: auth
            identitySource:
              - route.request.querystring.token
"""

AUTH_CODE = """

def connect(event, context):
    return {"statusCode": 200}


def auth(event, context):
    if (event.get("queryStringParameters") or {}).get("token") != "letmein":
        raise Exception("Unauthorized")
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return {"principalId": "ann", "policyDocument": policy}
"""


async def test_an_authorizer_added_guards_new_connections_only(tmp_path: Path) -> None:
    """An authorizer added on $connect decides the handshakes after the reload; the
    connection opened before stays open and is answered."""
    folder = tmp_path / "app"
    write(folder / "app.py", python_echo("guarded") + AUTH_CODE)
    file = folder / "serverless.yml"
    write(file, AUTHORIZED.replace("AUTHORIZER\n", ""))
    async with connected(folder, "serverless.yml") as (served, before):
        assert await ask(before, "echo") == "guarded"
        mark = len(served.log)
        write(
            file,
            AUTHORIZED.replace("AUTHORIZER\n", ON_CONNECT),
        )
        await served.logged("reload: serverless.yml changed", "authorizer", after=mark)
        assert await refused(served.url()) == 401  # no token: no identity source
        async with websockets.connect(served.url("token=letmein")) as after:
            assert await ask(after, "echo") == "guarded"
        assert await ask(before, "echo") == "guarded"
