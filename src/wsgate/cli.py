"""The ``wsgate`` command: ``serve`` and ``check``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wsgate.config.files import load_config
from wsgate.exceptions import ConfigError


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
    return parser


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
    gateway.executor.shutdown()
    routes = ", ".join(sorted(gateway.routes)) or "none"
    print(f"{config_path}: ok (stage {gateway.api.stage}; routes: {routes})")
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
        return _run_check(args.config)
    except ConfigError as exc:
        print(f"wsgate: {exc}", file=sys.stderr)
        return 2
