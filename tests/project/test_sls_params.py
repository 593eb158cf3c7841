"""serverless.yml: ${param:} from the file and --param, --var for what needs AWS, --region."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.project.conftest import FIXTURES
from wsgate.cli import main
from wsgate.project import ProjectOptions, load_project


SERVICE = FIXTURES / "sls-params" / "serverless.yml"
DB = "ssm:/slsparams/{stage}/db-url=postgres://local/{stage}"


def environment(**options: object) -> dict[str, str]:
    options.setdefault("environ", {})
    options.setdefault("variables", {"ssm:/slsparams/dev/db-url": "postgres://local"})
    project = load_project(SERVICE, ProjectOptions(**options))  # type: ignore[arg-type]
    return project.config.functions["echo"].environment


def test_params_of_the_stage_and_the_defaults() -> None:
    """stages.default.params, params.default; stages.prod.params for --stage prod."""
    env = environment()
    assert (env["DOMAIN"], env["COLOR"]) == ("dev.chat.example.com", "grey")
    env = environment(stage="prod", variables={"ssm:/slsparams/prod/db-url": "pg://prod"})
    assert (env["DOMAIN"], env["COLOR"], env["DB_URL"]) == ("chat.example.com", "grey", "pg://prod")


def test_param_flag_wins() -> None:
    """--param key=value wins over the file's params."""
    env = environment(params={"domain": "localhost", "color": "red"})
    assert (env["DOMAIN"], env["COLOR"]) == ("localhost", "red")


def test_region_flag_wins_over_provider_region() -> None:
    """--region is the API's region (the functions' AWS_REGION) and ${aws:region}."""
    project = load_project(
        SERVICE,
        ProjectOptions(
            environ={}, variables={"ssm:/slsparams/dev/db-url": "x"}, region="ap-south-1"
        ),
    )
    assert project.config.api.region == "ap-south-1"
    assert project.config.functions["echo"].environment["SEEN_REGION"] == "ap-south-1"
    env = environment()
    assert env["SEEN_REGION"] == "eu-west-1"


def test_check_names_the_unresolvable_variable(capsys: pytest.CaptureFixture[str]) -> None:
    """wsgate check: the ssm: variable's key, and how to give its value; then with --var."""
    assert main(["check", "--config", str(SERVICE)]) == 2
    out = capsys.readouterr().out
    assert (
        f"\nUnresolved\n  {SERVICE}: provider.environment.DB_URL: cannot resolve "
        "${ssm:/slsparams/${sls:stage}/db-url}: ssm: reads AWS Systems Manager Parameter "
        "Store, which wsgate does not call; give the value with --var "
        "'ssm:/slsparams/dev/db-url=VALUE', or a fallback in the file: "
        "${ssm:/slsparams/dev/db-url, 'VALUE'}\n"
    ) in out
    assert out.endswith(f"{SERVICE}: 1 reference not resolved (shown as written above)\n")
    argv = ["check", "--config", str(SERVICE), "--stage", "qa", "--var", DB.format(stage="qa")]
    assert main([*argv, "--param", "color=red", "--region", "us-west-2"]) == 0
    assert f"{SERVICE}: ok (stage qa; routes: $default)" in capsys.readouterr().out


def test_missing_param(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A ${param:} no stage gives, and no --param: how to give it."""
    path = tmp_path / "serverless.yml"
    path.write_text(SERVICE.read_text().replace("${param:color}", "${param:size}"))
    (path.parent / "handler.py").write_text((SERVICE.parent / "handler.py").read_text())
    assert main(["check", "--config", str(path), "--var", DB.format(stage="dev")]) == 2
    assert (
        f"  {path}: provider.environment.COLOR: cannot resolve ${{param:size}}: no "
        "parameter 'size' for stage 'dev': give it with --param 'size=VALUE', or in "
        "params.dev or params.default (stages.dev.params, stages.default.params)\n"
    ) in capsys.readouterr().out
