"""Helpers: write a project file (and its code folders) into a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from wsgate.project import Project, ProjectOptions, load_project


FIXTURES = Path(__file__).parent / "fixtures"

Loader = Callable[..., Project]


@pytest.fixture
def project(tmp_path: Path) -> Loader:
    """``project(text, name=..., folders=..., **options)``: write and load a project file."""

    def load(
        text: str,
        name: str = "template.yaml",
        folders: tuple[str, ...] = ("fn",),
        **options: object,
    ) -> Project:
        for folder in folders:
            (tmp_path / folder).mkdir(exist_ok=True)
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        options.setdefault("environ", {})
        return load_project(path, ProjectOptions(**options))  # type: ignore[arg-type]

    return load


def notice_keys(project: Project) -> dict[str, str]:
    """Each notice's key path → its text."""
    return {notice.key: str(notice) for notice in project.notices}
