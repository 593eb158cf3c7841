"""Serverless Framework variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wsgate.exceptions import ConfigError
from wsgate.project.options import ProjectOptions
from wsgate.project.slsvars import Variables


def variables(document: dict[str, Any], tmp_path: Path, **options: Any) -> Variables:
    options.setdefault("environ", {"HOME_REGION": "eu-north-1"})
    return Variables(document, "serverless.yml", tmp_path, ProjectOptions(**options))


DOC: dict[str, Any] = {
    "service": "chat",
    "custom": {"table": "${self:service}-${sls:stage}", "list": ["a", "b"]},
    "provider": {"stage": "${opt:stage, 'dev'}", "region": "${env:HOME_REGION, us-east-1}"},
}


@pytest.mark.parametrize(
    ("value", "expected", "stage"),
    [
        ("${self:custom.table}", "chat-dev", None),
        ("${self:custom.table}", "chat-prod", "prod"),
        ("${self:custom.list.1}", "b", None),
        ("${self:custom}", {"table": "chat-dev", "list": ["a", "b"]}, None),
        ("${opt:stage, 'dev'}", "dev", None),
        ("${opt:stage, self:provider.region}", "eu-north-1", None),
        ("${env:NOPE, ${self:service}}", "chat", None),
        ("${env:NOPE, 3}", 3, None),
        ("${env:NOPE, true}", True, None),
        ("x-${sls:stage}-${aws:region}", "x-test-eu-north-1", "test"),
        ("${aws:accountId}", "123456789012", None),
        ("${strToBool(true)}", True, None),
        ("${ssm:/path, 'local'}", "local", None),
        ("no variables", "no variables", None),
    ],
)
def test_values(value: str, expected: object, stage: str | None, tmp_path: Path) -> None:
    """Each source resolves, with fallbacks after commas and nesting."""
    assert variables(DOC, tmp_path, stage=stage).resolve(value, "k") == expected


def test_file_source(tmp_path: Path) -> None:
    """file(path):address reads YAML or JSON next to serverless.yml, nested variables too."""
    (tmp_path / "config.dev.json").write_text('{"db": {"name": "chatdb"}}')
    (tmp_path / "more.yml").write_text("color: ${self:service}-blue\n")
    v = variables(DOC, tmp_path)
    assert v.resolve("${file(./config.${sls:stage}.json):db.name}", "k") == "chatdb"
    assert v.resolve("${file(./more.yml):color}", "k") == "chat-blue"
    assert v.resolve("${file(./more.yml)}", "k") == {"color": "chat-blue"}
    assert v.resolve("${file(./absent.yml):x, 'none'}", "k") == "none"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${env:NOPE}", r"k: cannot resolve \$\{env:NOPE\}: environment variable NOPE is not set"),
        (
            "${ssm:/secret}",
            r"k: cannot resolve \$\{ssm:/secret\}: ssm: reads AWS Systems Manager Parameter "
            r"Store, which wsgate does not call; give the value with --var 'ssm:/secret=VALUE', "
            r"or a fallback in the file: \$\{ssm:/secret, 'VALUE'\}$",
        ),
        (
            "${cf(eu-west-1):other-stack.Url}",
            r"cannot resolve \$\{cf\(eu-west-1\):other-stack.Url\}: cf: reads another "
            r"CloudFormation stack's outputs, which wsgate does not call; give the value with "
            r"--var 'cf\(eu-west-1\):other-stack.Url=VALUE'",
        ),
        ("${s3:bucket/key}", r"s3: reads an object in S3, which wsgate does not call"),
        (
            "${param:domain}",
            r"k: cannot resolve \$\{param:domain\}: no parameter 'domain' for stage 'dev': "
            r"give it with --param 'domain=VALUE', or in params.dev or params.default "
            r"\(stages.dev.params, stages.default.params\)$",
        ),
        (
            "${file(./config.js):db}",
            r"k: file\(./config.js\): only YAML and JSON files are read; give the value with "
            r"--var 'file\(./config.js\):db=VALUE'$",
        ),
        ("${self:custom.none}", r"'custom.none' is not in this file"),
        (
            "${weird:x}",
            r"k: unknown variable source 'weird' in 'weird:x': give the value with "
            r"--var 'weird:x=VALUE'$",
        ),
        ("${self:service", r"unterminated variable"),
        ("${self:loop}", r"variables refer to each other"),
        ("${strToBool(maybe)}", r"strToBool"),
    ],
)
def test_errors(value: str, message: str, tmp_path: Path) -> None:
    """A variable that cannot be resolved names the file and key."""
    doc = {**DOC, "loop": "${self:loop}"}
    with pytest.raises(ConfigError, match=r"^serverless\.yml: .*" + message):
        variables(doc, tmp_path).resolve(value, "k")


def test_unused_parts_are_never_resolved(tmp_path: Path) -> None:
    """A variable that needs AWS does not matter where wsgate does not read."""
    doc = {**DOC, "custom": {"secret": "${ssm:/x}", "name": "ok"}}
    assert variables(doc, tmp_path).get("custom.name") == "ok"


PARAMS_DOC: dict[str, Any] = {
    **DOC,
    "params": {
        "default": {"domain": "${sls:stage}.example.com", "color": "grey"},
        "prod": {"domain": "example.com"},
    },
    "stages": {"qa": {"params": {"domain": "qa.example.org"}}, "default": {"params": {}}},
}


@pytest.mark.parametrize(
    ("value", "stage", "params", "expected"),
    [
        ("${param:domain}", None, {}, "dev.example.com"),
        ("${param:domain}", "prod", {}, "example.com"),
        ("${param:domain}", "qa", {}, "qa.example.org"),
        ("${param:color}", "prod", {}, "grey"),
        ("${param:domain}", "prod", {"domain": "cli.example"}, "cli.example"),
        ("${param:missing, 'fallback'}", None, {}, "fallback"),
    ],
)
def test_params(
    value: str, stage: str | None, params: dict[str, str], expected: str, tmp_path: Path
) -> None:
    """${param:}: --param, then stages.<stage>.params / params.<stage>, then the defaults."""
    v = variables(PARAMS_DOC, tmp_path, stage=stage, params=params)
    assert v.resolve(value, "k") == expected


def test_var_gives_any_variable_its_value(tmp_path: Path) -> None:
    """--var 'ssm:/x=VALUE' answers the variable of that text, fallback or not."""
    v = variables(DOC, tmp_path, variables={"ssm:/chat/url": "ws://local", "cf:s.Out": "o"})
    assert v.resolve("${ssm:/chat/url}", "k") == "ws://local"
    assert v.resolve("x-${cf:s.Out, 'no'}", "k") == "x-o"


def test_region_flag_wins(tmp_path: Path) -> None:
    """--region is ${opt:region} and ${aws:region}, over provider.region."""
    v = variables(DOC, tmp_path, region="ap-south-1")
    assert v.resolve("${opt:region, 'x'}-${aws:region}", "k") == "ap-south-1-ap-south-1"
    assert variables(DOC, tmp_path).resolve("${opt:region, 'none'}", "k") == "none"
