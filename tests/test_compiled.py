"""The compiled hot path: built, switchable back to its sources, and free of the two
shapes of code that mypyc compiles wrongly."""

from __future__ import annotations

import ast
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wsgate
from wsgate.compiled import HOT_PATH, PURE_ENV, SourcesFirst, sources_wanted, stale_extensions


SRC = Path(wsgate.__file__).resolve().parent.parent
EXTENSION = importlib.machinery.EXTENSION_SUFFIXES[0]
_IMPORT_HOT_PATH = """
import importlib, json, sys
from wsgate.compiled import HOT_PATH, compiled_modules
for path in HOT_PATH:
    importlib.import_module(path.removesuffix(".py").replace("/", "."))
print(json.dumps(compiled_modules()))
"""


def _module(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _compiled_in_a_new_process(**env: str) -> list[str]:
    environment = {key: value for key, value in os.environ.items() if key != PURE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_HOT_PATH],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(done.stdout))


def test_every_hot_path_module_is_built() -> None:
    """``make`` built an extension beside every source of the hot path, and Python takes
    the extension: what the benchmarks measure is what the suite tests."""
    for path in HOT_PATH:
        assert (SRC / path).with_suffix(EXTENSION).is_file(), path
    assert _compiled_in_a_new_process() == sorted(_module(path) for path in HOT_PATH)


def test_the_switch_imports_the_sources() -> None:
    assert _compiled_in_a_new_process(**{PURE_ENV: "1"}) == []


def test_this_pass_runs_what_it_says() -> None:
    """The compiled pass of the suite runs the extensions, the pure pass the sources."""
    from wsgate.core import protocol

    compiled = protocol.__file__ is not None and protocol.__file__.endswith(EXTENSION)
    assert compiled is not sources_wanted()


def test_a_package_is_left_to_the_usual_finders(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    assert SourcesFirst().find_spec("wsgate.pkg", [str(tmp_path)]) is None
    assert SourcesFirst().find_spec("other.module", [str(tmp_path)]) is None


def test_a_source_newer_than_its_extension_is_stale(tmp_path: Path) -> None:
    source, extension = tmp_path / "mod.py", tmp_path / f"mod{EXTENSION}"
    listed = (f"{tmp_path.name}/mod.py",)
    extension.write_bytes(b"")
    source.write_text("")
    os.utime(extension, (1_000_000, 1_000_000))
    assert stale_extensions(tmp_path, listed) == [source]
    os.utime(extension, None)
    os.utime(source, (1_000_000, 1_000_000))
    assert stale_extensions(tmp_path, listed) == []


def test_an_extension_of_a_module_no_longer_compiled_is_stale(tmp_path: Path) -> None:
    """Taken out of HOT_PATH, a module's old extension would still be imported first."""
    source, extension = tmp_path / "mod.py", tmp_path / f"mod{EXTENSION}"
    source.write_text("")
    os.utime(source, (1_000_000, 1_000_000))
    extension.write_bytes(b"")
    assert stale_extensions(tmp_path, (f"{tmp_path.name}/other.py",)) == [source]
    assert stale_extensions(tmp_path, (f"{tmp_path.name}/mod.py",)) == []


def _miscompiled_shapes(tree: ast.AST) -> list[str]:
    """mypyc 2.4 re-raises the wrong exception after an ``await`` whose coroutine caught
    one of its own while suspended: at the end of a ``finally`` that awaited, and at a
    bare ``raise`` after an ``await`` in an ``except``. A connection's end did that when
    unregistering from an unreachable Redis (the registry caught the ConnectionError, the
    compiled caller raised it anyway)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        if any(isinstance(sub, ast.Await) for stmt in node.finalbody for sub in ast.walk(stmt)):
            found.append(f"line {node.lineno}: await in finally")
        for handler in node.handlers:
            inside = [sub for stmt in handler.body for sub in ast.walk(stmt)]
            awaits = [sub.lineno for sub in inside if isinstance(sub, ast.Await)]
            for sub in inside:
                if isinstance(sub, ast.Raise) and sub.exc is None and awaits:
                    if sub.lineno > min(awaits):
                        found.append(f"line {sub.lineno}: bare raise after an await")
    return found


@pytest.mark.parametrize("path", HOT_PATH)
def test_no_miscompiled_shapes(path: str) -> None:
    tree = ast.parse((SRC / path).read_text(), path)
    assert _miscompiled_shapes(tree) == []


def test_the_shapes_are_found() -> None:
    """The scan above finds both shapes (it would pass vacuously otherwise)."""
    code = """
async def f():
    try:
        pass
    finally:
        await g()
    try:
        pass
    except E:
        if h:
            await g()
            raise
    try:
        pass
    except E as e:
        await g()
        raise e
"""
    assert _miscompiled_shapes(ast.parse(code)) == [
        "line 3: await in finally",
        "line 12: bare raise after an await",
    ]
