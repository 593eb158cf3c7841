"""``--env-file``: variables from ``.env`` files for every function.

The files are read with python-dotenv's parser (the syntax the Serverless Framework and
docker compose read: ``NAME=value``, quotes, ``export``, comments, ``${OTHER}``
expansion). Their variables go to every function's environment and to the in-process
handlers' (``handlers.environment``), **over** what the config or the template sets, as
``sam local --env-vars`` does; a later file wins over an earlier one. A line with a name
and no ``=`` takes the variable from wsgate's own environment, and is left out when that
has none (docker's ``--env-file`` rule).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from wsgate.config.functions import FunctionConfig
from wsgate.config.model import GatewayConfig
from wsgate.exceptions import ConfigError


__all__ = ["apply_env", "read_env_files"]


def read_env_files(paths: Sequence[Path]) -> dict[str, str]:
    """The variables of ``paths``, in order, a later file's winning.

    Raises:
        ConfigError: a file is missing, cannot be read, or python-dotenv is not installed.
    """
    if not paths:
        return {}
    try:
        from dotenv import dotenv_values
    except ImportError:
        raise ConfigError("--env-file needs python-dotenv: pip install 'wsgate[project]'") from None
    variables: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"--env-file {path}: file not found")
        try:
            values = dotenv_values(path, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--env-file {path}: cannot be read: {exc}") from None
        for name, value in values.items():
            if value is None:
                value = os.environ.get(name)
            if value is not None:
                variables[name] = value
    return variables


def apply_env(
    config: GatewayConfig, variables: Mapping[str, str], origin: str = "--env-file"
) -> GatewayConfig:
    """``config`` with ``variables`` over every function's environment and the in-process
    handlers' environment.

    Raises:
        ConfigError: a variable a function may not set (Lambda's reserved names); the
            message names it.
    """
    if not variables:
        return config
    functions = {}
    for name, function in config.functions.items():
        try:
            functions[name] = FunctionConfig.model_validate(
                {
                    **function.model_dump(),
                    "environment": {**function.environment, **variables},
                }
            )
        except ValidationError as exc:
            problems = [
                f"{origin}: {_variable(error['loc'])}: "
                f"{error.get('ctx', {}).get('error', error['msg'])}"
                for error in exc.errors()
            ]
            raise ConfigError("\n".join(dict.fromkeys(problems))) from None
    handlers = config.handlers.model_copy(
        update={"environment": {**config.handlers.environment, **variables}}
    )
    return config.model_copy(update={"functions": functions, "handlers": handlers})


def _variable(loc: tuple[int | str, ...]) -> str:
    """The variable a validation error is about (pydantic puts ``[key]`` after a key)."""
    return str(loc[-2] if loc[-1] == "[key]" and len(loc) > 1 else loc[-1])
