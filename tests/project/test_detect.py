"""Telling project files apart by content, and the folder's default file."""

from __future__ import annotations

from pathlib import Path

import pytest

from wsgate.project import detect_kind, find_default_config


@pytest.mark.parametrize(
    ("tree", "kind"),
    [
        ({"service": "chat", "functions": {}}, "serverless"),
        ({"Resources": {}}, "cloudformation"),
        ({"AWSTemplateFormatVersion": "2010-09-09"}, "cloudformation"),
        ({"Transform": "AWS::Serverless-2016-10-31"}, "cloudformation"),
        (
            {"Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]},
            "cloudformation",
        ),
        ({"api": {"stage": "dev"}, "routes": {}}, "wsgate"),
        ({"service": "chat"}, "wsgate"),
        (None, "wsgate"),
        (["a"], "wsgate"),
    ],
)
def test_kind_is_told_by_content(tree: object, kind: str) -> None:
    """service+functions is serverless; Resources/AWSTemplateFormatVersion/SAM is a template."""
    assert detect_kind(tree) == kind


def test_default_file_order(tmp_path: Path) -> None:
    """wsgate.yaml wins over serverless.yml, which wins over template.yaml."""
    assert find_default_config(tmp_path) is None
    (tmp_path / "template.yaml").write_text("Resources: {}")
    assert find_default_config(tmp_path) == tmp_path / "template.yaml"
    (tmp_path / "serverless.yml").write_text("service: a")
    assert find_default_config(tmp_path) == tmp_path / "serverless.yml"
    (tmp_path / "wsgate.yaml").write_text("")
    assert find_default_config(tmp_path) == tmp_path / "wsgate.yaml"
