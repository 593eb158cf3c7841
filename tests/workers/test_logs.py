"""The function log's lines: REPORT's fields, billing, output split into lines."""

from __future__ import annotations

import logging
import os

import pytest

from wsgate.workers.logs import (
    MAX_LINE_BYTES,
    FunctionLog,
    LineBuffer,
    billed_ms,
    max_memory_mb,
    report_line,
)
from wsgate.workers.process import exit_reason


def test_report_line_has_lambdas_fields() -> None:
    """Tab-separated, Init Duration only when given, Billed rounded up."""
    assert report_line("r1", 15.74, 128, 56) == (
        "REPORT RequestId: r1\tDuration: 15.74 ms\tBilled Duration: 16 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 56 MB"
    )
    assert report_line("r1", 2.75, 128, 56, init_duration_ms=113.51, status="timeout").endswith(
        "Max Memory Used: 56 MB\tInit Duration: 113.51 ms\tStatus: timeout"
    )


@pytest.mark.parametrize(("duration", "billed"), [(0.2, 1), (1.0, 1), (15.74, 16), (100.01, 101)])
def test_billed_duration(duration: float, billed: int) -> None:
    assert billed_ms(duration) == billed


def test_max_memory_of_this_process() -> None:
    """VmHWM of a live process in MB; 0 for one that is gone or unknown."""
    assert max_memory_mb(os.getpid()) > 1
    assert max_memory_mb(None) == 0
    assert max_memory_mb(2**22 + 12345) == 0


def test_line_buffer_splits_and_caps() -> None:
    """Whole lines out, a partial one kept, a huge one cut, the rest at close."""
    lines = LineBuffer()
    assert lines.feed(b"one\ntw") == ["one"]
    assert lines.feed(b"o\r\nthree") == ["two"]
    assert lines.close() == ["three"]
    assert lines.close() == []
    huge = LineBuffer().feed(b"x" * (MAX_LINE_BYTES + 10))
    assert [len(line) for line in huge] == [MAX_LINE_BYTES]
    assert LineBuffer().feed(b"\xff\n") == ["\ufffd"]


def test_function_log_records(caplog: pytest.LogCaptureFixture) -> None:
    """Every record names the function and the request id; \\r-joined errors are lines."""
    caplog.set_level(logging.INFO, logger="wsgate.function")
    log = FunctionLog("chat")
    log.output("importing")
    log.start("r1")
    log.output("[ERROR] boom\rTraceback")
    log.end("r1", "REPORT RequestId: r1")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "chat - importing",
        "chat r1 START RequestId: r1 Version: $LATEST",
        "chat r1 [ERROR] boom\nTraceback",
        "chat r1 END RequestId: r1",
        "chat r1 REPORT RequestId: r1",
    ]
    assert {record.name for record in caplog.records} == {"wsgate.function"}


@pytest.mark.parametrize(
    ("returncode", "reason"),
    [
        (0, "exit status 0"),
        (1, "exit status 1"),
        (-11, "signal: segmentation fault"),
        (-9, "signal: killed"),
    ],
)
def test_exit_reasons_as_lambda_words_them(returncode: int, reason: str) -> None:
    assert exit_reason(returncode) == reason
