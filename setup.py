"""wsgate's build: pyproject.toml holds the metadata; this adds the compiled hot path.

mypyc (part of mypy) compiles the modules of ``wsgate.compiled.HOT_PATH``, which every
message and handshake goes through, to C extensions beside their sources; the rest stays
Python. ``WSGATE_PURE_PYTHON=1`` at install time builds none of them (a machine without a
C compiler); at run time it makes wsgate import the sources even where they are built.
"""

from __future__ import annotations

import runpy

from setuptools import setup


def _extensions() -> list[object]:
    # Read from the file, not imported: the build runs before wsgate's dependencies exist.
    compiled = runpy.run_path("src/wsgate/compiled.py")
    if compiled["sources_wanted"]():
        return []
    from mypyc.build import mypycify

    return list(mypycify([f"src/{path}" for path in compiled["HOT_PATH"]], opt_level="3"))


setup(ext_modules=_extensions())
