"""What a pool needs to know of one function, fixed at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wsgate.config.model import FunctionConfig


__all__ = ["FunctionSpec"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One entry of ``functions:``, with the API's region and account."""

    name: str
    runtime: str
    code: Path
    handler: str
    timeout: float
    memory_size: int
    environment: Mapping[str, str]
    concurrency: int
    idle_timeout: float
    region: str = "us-east-1"
    account_id: str = "123456789012"
    deployed_name: str | None = None
    """The function's name on AWS when not ``name``: what the function itself sees."""

    @classmethod
    def from_config(
        cls,
        name: str,
        config: FunctionConfig,
        *,
        region: str,
        account_id: str,
        environment: Mapping[str, str] | None = None,
    ) -> FunctionSpec:
        """The spec of ``functions.<name>``; ``code`` made absolute; ``environment``
        under the function's own."""
        return cls(
            name=name,
            runtime=config.runtime,
            code=config.code.resolve(),
            handler=config.handler,
            timeout=config.timeout,
            memory_size=config.memory_size,
            environment={**(environment or {}), **config.environment},
            concurrency=config.concurrency,
            idle_timeout=config.idle_timeout,
            deployed_name=config.deployed_name,
            region=region,
            account_id=account_id,
        )

    @property
    def function_name(self) -> str:
        """``AWS_LAMBDA_FUNCTION_NAME``: the deployed name, else the name."""
        return self.deployed_name or self.name

    @property
    def arn(self) -> str:
        """The function's ARN: ``Lambda-Runtime-Invoked-Function-Arn``."""
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group(self) -> str:
        """``/aws/lambda/<name>``, as Lambda names the function's log group."""
        return f"/aws/lambda/{self.function_name}"
