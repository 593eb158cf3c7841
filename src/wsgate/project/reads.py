"""Which files loading a project read, or looked for: what hot reload watches.

``read_text`` notes every file it reads, ``samconfig`` and ``${file(...)}`` the ones they
look for, while a ``recording`` is open in the calling thread (a context variable, so
that loads in other threads keep their own lists).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


__all__ = ["note", "recording"]

_files: ContextVar[set[Path] | None] = ContextVar("wsgate_project_reads", default=None)


def note(path: Path) -> None:
    """``path`` was read, or looked for, by the load being recorded (if any)."""
    files = _files.get()
    if files is not None:
        files.add(path.absolute())


@contextmanager
def recording() -> Iterator[set[Path]]:
    """Collect the files noted within, as absolute paths."""
    files: set[Path] = set()
    token = _files.set(files)
    try:
        yield files
    finally:
        _files.reset(token)
