"""The public surface: what ``import wsgate`` offers, and nothing else."""

from __future__ import annotations

import wsgate
import wsgate.exceptions


def test_all_is_the_exceptions_and_the_version() -> None:
    assert wsgate.__all__ == sorted(wsgate.exceptions.__all__) + ["__version__"]
    for name in wsgate.__all__:
        assert hasattr(wsgate, name)


def test_every_exception_is_a_wsgate_error() -> None:
    for name in wsgate.exceptions.__all__:
        error = getattr(wsgate.exceptions, name)
        assert issubclass(error, wsgate.WsgateError)
