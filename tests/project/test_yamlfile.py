"""Reading project files: CloudFormation's tags through cfn-flip's loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsgate.exceptions import ConfigError
from wsgate.project.yamlfile import read_yaml


def test_short_tags_become_long_forms(tmp_path: Path) -> None:
    """!Ref, !GetAtt a.b, !Sub, !Join, !If and !Condition load as CloudFormation's JSON."""
    path = tmp_path / "t.yaml"
    path.write_text(
        "a: !Ref X\n"
        "b: !GetAtt Fn.Arn\n"
        "c: !Sub 'x-${AWS::Region}'\n"
        "d: !Join ['/', [integrations, !Ref I]]\n"
        "e: !If [C, 1, 2]\n"
        "f: !And [!Condition C, !Equals [a, b]]\n"
    )
    assert read_yaml(path) == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["Fn", "Arn"]},
        "c": {"Fn::Sub": "x-${AWS::Region}"},
        "d": {"Fn::Join": ["/", ["integrations", {"Ref": "I"}]]},
        "e": {"Fn::If": ["C", 1, 2]},
        "f": {"Fn::And": [{"Condition": "C"}, {"Fn::Equals": ["a", "b"]}]},
    }


def test_duplicate_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    """A key given twice is refused, naming the file, line and column."""
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  A: 1\n  A: 2\n")
    with pytest.raises(ConfigError, match=r"t\.yaml:3:3: invalid YAML: found duplicate key 'A'"):
        read_yaml(path, "t.yaml")


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A file that is not there is named."""
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        read_yaml(tmp_path / "nope.yaml", "nope.yaml")


def test_merge_keys_are_merged_as_in_wsgate_yaml(tmp_path: Path) -> None:
    """``<<: *anchor`` works in a project file as in wsgate.yaml (it was refused)."""
    path = tmp_path / "serverless.yml"
    path.write_text("base: &b {timeout: 3}\nfns:\n  a:\n    <<: *b\n    handler: app.h\n")
    tree = read_yaml(path)
    assert isinstance(tree, dict)
    assert tree["fns"] == {"a": {"timeout": 3, "handler": "app.h"}}
