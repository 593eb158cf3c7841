"""The ``wsgate`` command: ``serve``, ``check`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsgate.config.envfile import apply_env, read_env_files
from wsgate.config.files import load_document
from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError, TokenError
from wsgate.project import (
    DEFAULT_FILES,
    ConfigFile,
    Notice,
    find_default_config,
    load_project,
    read_config_file,
)
from wsgate.project.cliargs import add_project_flags, project_options, refuse_project_flags
from wsgate.project.local_aws import add_aws_flags, with_created_resources, with_endpoints
from wsgate.project.overlay import load_importing
from wsgate.server.supervisor import worker_count


if TYPE_CHECKING:
    from wsgate.server.gateway import Gateway
    from wsgate.server.reload import Loaded
    from wsgate.server.runner import Watcher

__all__ = ["main"]

log = logging.getLogger("wsgate.project")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wsgate", description="A WebSocket API gateway with the AWS API Gateway model."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API described by the config file")
    check = commands.add_parser("check", help="validate the config file and its handlers")
    for command in (serve, check):
        command.add_argument(
            "--config",
            "-c",
            type=Path,
            default=None,
            help=(
                "a wsgate.yaml, serverless.yml or CloudFormation/SAM template, told apart by "
                "content (default: the first of ./wsgate.yaml, ./serverless.yml, "
                "./template.yaml)"
            ),
        )
        command.add_argument(
            "--stage", help="the stage (serverless's --stage; a template's StageName)"
        )
        command.add_argument(
            "--parameter-overrides",
            nargs="+",
            action="extend",
            default=[],
            metavar="KEY=VALUE",
            help=(
                "a template's parameter, or the physical name of a resource wsgate does not "
                "run (by logical id); repeatable"
            ),
        )
        add_project_flags(command)
        command.add_argument(
            "--env-file",
            type=Path,
            action="append",
            default=[],
            metavar="PATH",
            help=(
                "variables (.env syntax) for every function, over the config's and the "
                "template's, and for ${env:...} (the shell's environment winning there); "
                "repeatable, a later file winning"
            ),
        )
        add_aws_flags(command, serve=command is serve)
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    serve.add_argument("--port", type=int, help="server.port (0 picks a free port)")
    serve.add_argument("--tls-port", type=int, help="server.tls_port (0 picks a free port)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help=(
            "gateway processes sharing the ports (SO_REUSEPORT) under a supervisor; auto: "
            "one per core this process may use. More than 1 needs registry.backend redis "
            "(default 1: one process, no supervisor)"
        ),
    )
    serve.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "apply changes to the config files and the functions' code while serving, "
            "connections kept (default: on for a serverless.yml or template, or a wsgate.yaml "
            "importing one, served by one process, as sam local and serverless-offline do; "
            "off for a wsgate.yaml of its own and with --workers)"
        ),
    )
    # Set by the supervisor on its workers' command lines (server.supervisor.WorkerSpec).
    serve.add_argument("--worker-spec", help=argparse.SUPPRESS)
    _add_token_parser(commands)
    return parser


def _workers(text: str) -> int:
    try:
        return worker_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_token_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser(
        "token", help="make local keys and test tokens for the jwt authorizer"
    )
    actions = token.add_subparsers(dest="token_command", required=True)
    keygen = actions.add_parser(
        "keygen", help="write a private key and add its public key to DIR/jwks.json"
    )
    keygen.add_argument("--out", type=Path, default=Path("keys"), help="folder (default: keys)")
    keygen.add_argument(
        "--name", default="signing-key", help="key file name without .pem (default: signing-key)"
    )
    keygen.add_argument("--type", choices=("rsa", "ec"), default="rsa", help="RS256 or ES256")
    mint = actions.add_parser("mint", help="print a token signed with a key from keygen")
    mint.add_argument("--key", type=Path, required=True, help="the private key (.pem)")
    mint.add_argument("--issuer", required=True, help="the iss claim")
    mint.add_argument("--audience", required=True, help="the aud (or client_id) claim")
    mint.add_argument("--sub", default="test-user", help="the sub claim (default: test-user)")
    mint.add_argument("--scope", action="append", default=[], help="a scope; repeatable")
    mint.add_argument("--ttl", type=float, default=3600, help="seconds until exp (default 3600)")
    mint.add_argument(
        "--token-use", choices=("id", "access"), help="Cognito's token_use; access: client_id"
    )
    mint.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another claim; VALUE is JSON if it parses, else a string; repeatable",
    )


def _config_path(args: argparse.Namespace) -> Path:
    if args.config is not None:
        path: Path = args.config
        return path
    found = find_default_config(Path())
    if found is None:
        raise ConfigError(f"no {', '.join(DEFAULT_FILES)} here: give one with --config")
    others = [name for name in DEFAULT_FILES if name != str(found) and Path(name).is_file()]
    if others:
        log.info(
            "serving %s, the first of %s here (--config %s serves that one alone)",
            found,
            ", ".join([str(found), *others]),
            others[0],
        )
    return found


@dataclasses.dataclass(frozen=True)
class _Config:
    """The config ``--config`` (or the folder's default file) describes."""

    path: Path
    file: ConfigFile
    config: GatewayConfig
    notices: tuple[Notice, ...]
    unresolved: tuple[str, ...]
    """References that do not resolve, their text standing for their values."""


def _load(args: argparse.Namespace) -> _Config:
    """The config ``--config`` (or the folder's default file) describes, whatever its kind.

    Raises:
        ConfigError: it is not valid, or a reference in it does not resolve.
    """
    loaded = _load_all(args)
    if loaded.unresolved:
        raise ConfigError("\n".join(loaded.unresolved))
    return loaded


def _load_all(args: argparse.Namespace) -> _Config:
    """:func:`_load`'s config, with the references that do not resolve, for ``wsgate
    check`` to show them all. The file is read and parsed once."""
    path = _config_path(args)
    env_file = read_env_files(args.env_file)
    # The shell's environment wins over the files' for ${env:...}, as dotenv's loading.
    environ = {**env_file, **os.environ}
    create = bool(getattr(args, "create_resources", False))
    options = dataclasses.replace(project_options(args), environ=environ, create_resources=create)
    notices: tuple[Notice, ...] = ()
    unresolved: tuple[str, ...] = ()
    file = read_config_file(path) if path.is_file() else None
    if file is not None and file.is_project:
        load = load_importing if file.imports else load_project
        project = load(file.document, options, allow_unresolved=True)
        if create and not project.unresolved:
            endpoints = with_endpoints(project.config, args.endpoint).aws.endpoints
            again = partial(load, file.document, allow_unresolved=True)
            project = with_created_resources(path, project, options, endpoints, again)
        config, notices, unresolved = project.config, project.notices, project.unresolved
    else:
        if create:
            raise ConfigError(
                f"--create-resources: {path} is a wsgate.yaml without import:; it creates a "
                "serverless.yml's or a template's tables"
            )
        refuse_project_flags(args, path)
        if file is None:
            file = read_config_file(path)  # not a file: this says why
        source = file.document.source
        config = load_document(file.document.node, source, path.absolute().parent, environ)
        api = {k: v for k, v in (("stage", args.stage), ("region", args.region)) if v is not None}
        if api:
            config = config.model_copy(update={"api": config.api.model_copy(update=api)})
    server = {
        name: value
        for name, value in (
            ("port", getattr(args, "port", None)),
            ("tls_port", getattr(args, "tls_port", None)),
        )
        if value is not None
    }
    if server:
        config = config.model_copy(update={"server": config.server.model_copy(update=server)})
    origin = "--env-file " + ", ".join(str(p) for p in args.env_file)
    config = with_endpoints(apply_env(config, env_file, origin), args.endpoint)
    return _Config(path, file, config, notices, unresolved)


def _load_watched(args: argparse.Namespace) -> Loaded:
    """``_load``, with every file it read or looked for: hot reload watches them."""
    from wsgate.project.reads import recording
    from wsgate.server.reload import Loaded

    with recording() as files:
        loaded = _load(args)
    watched = {loaded.path, *files, *args.env_file}
    return Loaded(
        loaded.path,
        loaded.config,
        loaded.notices,
        frozenset(file.resolve() for file in watched),
        project=loaded.file.is_project,
    )


def _watcher(
    args: argparse.Namespace, gateway: Gateway, load: Callable[[], Loaded], loaded: Loaded
) -> Watcher | None:
    """The hot reload ``--reload`` asks for, or the default (``reload_wanted``): ``load``
    loads the config again as ``loaded`` was."""
    from wsgate.server.reload import Reloader, reload_wanted

    if not reload_wanted(args.reload, project=loaded.project, workers=args.workers):
        return None
    if importlib.util.find_spec("watchfiles") is None:
        if args.reload:
            raise ConfigError("--reload needs watchfiles: pip install 'wsgate[project]'")
        log.info("hot reload is off: it needs watchfiles (pip install 'wsgate[project]')")
        return None
    return Reloader(gateway, load, loaded)


def _run_serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from wsgate.server.gateway import build_gateway
    from wsgate.server.runner import serve

    if args.worker_spec is not None:
        return _run_worker(args)
    loaded = _load_watched(args)
    for notice in loaded.notices:
        log.log(
            logging.WARNING if notice.level == "warning" else logging.INFO,
            "%s: %s",
            loaded.path,
            notice,
        )
    if args.workers > 1:
        return _supervise(args.workers, loaded.config, argv)
    gateway = build_gateway(loaded.config)
    watcher = _watcher(args, gateway, partial(_load_watched, args), loaded)
    return _run(serve(gateway, watcher=watcher))


def _run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _supervise(count: int, config: GatewayConfig, argv: Sequence[str]) -> int:
    """``--workers N``: N workers, each this command line plus ``--worker-spec``."""
    from wsgate.server.supervisor import Supervisor, refuse_memory_registry, shared_listeners

    refuse_memory_registry(config, count)
    with shared_listeners(config) as shared:
        command = [sys.executable, "-m", "wsgate", *argv]
        return Supervisor(command, count, shared, config.server.shutdown_timeout).run()


def _run_worker(args: argparse.Namespace) -> int:
    """One of the supervisor's workers: the config, with what the workers share."""
    from wsgate.server.gateway import build_gateway
    from wsgate.server.runner import serve
    from wsgate.server.supervisor import WorkerSpec

    spec = WorkerSpec.decode(args.worker_spec)

    def load() -> Loaded:  # with what the workers share, at start and at each reload
        loaded = _load_watched(args)
        return dataclasses.replace(loaded, config=spec.apply(loaded.config))

    loaded = load()  # the supervisor logged the notices
    gateway = build_gateway(loaded.config)
    watcher = _watcher(args, gateway, load, loaded)
    return _run(serve(gateway, spec.link(), spec.own_certificate(), watcher))


def _run_check(args: argparse.Namespace) -> int:
    from wsgate.project.report import build_report, render_text
    from wsgate.server.gateway import build_gateway

    try:
        loaded = _load_all(args)
        try:
            gateway = build_gateway(loaded.config)  # imports every in-process handler
        except ConfigError as exc:
            # A value standing for an unresolved one may be what failed: name those first.
            raise ConfigError("\n".join([*loaded.unresolved, str(exc)])) from None
    except ConfigError as exc:
        if not args.json:
            raise
        print(json.dumps({"ok": False, "errors": str(exc).splitlines()}, indent=2))
        return 2
    gateway.runners.threads.shutdown()
    config_path, unresolved = loaded.path, loaded.unresolved
    report = build_report(config_path, _described(loaded.file), loaded.config, loaded.notices)
    report["unresolved"] = list(unresolved)
    if args.json:
        print(json.dumps({"ok": not unresolved, **report}, indent=2))
        return 2 if unresolved else 0
    print(render_text(report))
    if unresolved:
        count = f"{len(unresolved)} reference{'s' if len(unresolved) > 1 else ''}"
        print(f"\n{config_path}: {count} not resolved (shown as written above)")
        return 2
    routes = ", ".join(sorted(gateway.routes)) or "none"
    print(f"\n{config_path}: ok (stage {gateway.api.stage}; routes: {routes})")
    return 0


def _described(file: ConfigFile) -> str:
    """What kind of file the config is, for ``wsgate check``'s first line."""
    kinds = {"serverless": "a serverless.yml", "cloudformation": "a SAM/CloudFormation template"}
    if file.kind != "wsgate":
        return kinds[file.kind]
    if file.imports:
        return "a wsgate.yaml with import: (its keys over the imported file's)"
    return "a wsgate.yaml"


def _run_token(args: argparse.Namespace) -> int:
    from wsgate import tokens

    if args.token_command == "keygen":
        files = tokens.write_key_files(args.out, args.name, args.type)
        print(f"wrote {files.key} (private: keep it out of version control)")
        print(f"added kid {files.kid} to {files.jwks}")
        return 0
    claims: dict[str, object] = {}
    for item in args.claim:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TokenError(f"--claim {item!r}: expected NAME=VALUE")
        try:
            claims[name] = json.loads(value)
        except ValueError:
            claims[name] = value
    token = tokens.mint_token(
        tokens.load_private_key(args.key),
        issuer=args.issuer,
        audience=args.audience,
        subject=args.sub,
        scopes=args.scope,
        ttl=args.ttl,
        token_use=args.token_use,
        claims=claims,
    )
    print(token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsgate`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "serve":
        # Several processes may write to one terminal: then each line says which.
        pid = "[%(process)d]" if args.workers > 1 or args.worker_spec else ""
        logging.basicConfig(
            level=args.log_level.upper(),
            format=f"%(asctime)s %(levelname)s %(name)s{pid}: %(message)s",
        )
    try:
        if args.command == "serve":
            return _run_serve(args, argv)
        if args.command == "token":
            return _run_token(args)
        return _run_check(args)
    except (ConfigError, TokenError) as exc:
        print(f"wsgate: {exc}", file=sys.stderr)
        return 2
