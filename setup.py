"""wsgate's build: pyproject.toml holds the metadata; this adds the compiled hot path.

mypyc (part of mypy) compiles the modules of ``wsgate.compiled.HOT_PATH``, which every
message and handshake goes through, to C extensions beside their sources; the rest stays
Python. ``WSGATE_PURE_PYTHON=1`` at install time builds none of them (a machine without a
C compiler); at run time it makes wsgate import the sources even where they are built.
"""

from __future__ import annotations

import os
import runpy

from setuptools import setup


def _extensions() -> list[object]:
    if os.environ.get("WSGATE_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify

    # Read from the file, not imported: the build runs before wsgate's dependencies exist.
    hot_path = runpy.run_path("src/wsgate/compiled.py")["HOT_PATH"]
    return list(mypycify([f"src/{path}" for path in hot_path], opt_level="3"))


setup(ext_modules=_extensions())
