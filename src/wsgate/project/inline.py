"""A function's source written in its template (``InlineCode``, ``Code.ZipFile``), on disk.

CloudFormation puts such source in a file named ``index`` (``index.py`` for Python,
``index.js`` for Node.js) and requires a handler ``index.<function>``; wsgate writes it
the same way into a folder of its own, private to this user (mode 0700), removed when
the process ends, and runs the function from there as from any code folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


__all__ = ["inline_file_name", "write_inline_code"]

_root: Path | None = None


def inline_file_name(runtime: str) -> str:
    """The file CloudFormation writes inline source to, for ``runtime``."""
    return "index.js" if runtime.startswith("nodejs") else "index.py"


def write_inline_code(name: str, runtime: str, source: str) -> Path:
    """Write ``source`` as the function ``name``'s index file; the folder it is in."""
    folder = _private_root() / name
    folder.mkdir(exist_ok=True)
    file = folder / inline_file_name(runtime)
    # Written only when it changed: hot reload retires the function's workers when its
    # folder changes, and a template saved again with the same code must not.
    if not file.is_file() or file.read_text(encoding="utf-8") != source:
        file.write_text(source, encoding="utf-8")
    return folder


def _private_root() -> Path:
    global _root
    if _root is None or not _root.is_dir():
        # mkdtemp makes the folder readable by this user only, so no one else can
        # change the code a worker runs.
        _root = Path(tempfile.mkdtemp(prefix="wsgate-inline-"))
        atexit.register(_remove, _root, os.getpid())
    return _root


def _remove(folder: Path, owner: int) -> None:
    # A forked gateway process inherits this hook; only the one that made the folder
    # removes it, so the others' workers keep their code.
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)
