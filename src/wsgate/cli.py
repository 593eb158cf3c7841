"""The ``wsgate`` command: ``serve``, ``check`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wsgate.config.files import load_config
from wsgate.exceptions import ConfigError, TokenError


__all__ = ["main"]

DEFAULT_CONFIG = Path("wsgate.yaml")


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
            default=DEFAULT_CONFIG,
            help="path of the config file (default: ./wsgate.yaml)",
        )
    serve.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    _add_token_parser(commands)
    return parser


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


def _run_serve(config_path: Path) -> int:
    from wsgate.server.gateway import build_gateway
    from wsgate.server.runner import serve

    gateway = build_gateway(load_config(config_path))
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(gateway))
    return uvloop.run(serve(gateway))


def _run_check(config_path: Path) -> int:
    from wsgate.server.gateway import build_gateway

    gateway = build_gateway(load_config(config_path))
    gateway.threads.shutdown()
    routes = ", ".join(sorted(gateway.routes)) or "none"
    print(f"{config_path}: ok (stage {gateway.api.stage}; routes: {routes})")
    return 0


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
    args = _parser().parse_args(argv)
    if args.command == "serve":
        logging.basicConfig(
            level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    try:
        if args.command == "serve":
            return _run_serve(args.config)
        if args.command == "token":
            return _run_token(args)
        return _run_check(args.config)
    except (ConfigError, TokenError) as exc:
        print(f"wsgate: {exc}", file=sys.stderr)
        return 2
