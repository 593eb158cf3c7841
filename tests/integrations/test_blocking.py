"""Long handler steps are reported once per handler per interval; short ones never."""

from __future__ import annotations

import logging
import time

import pytest

from wsgate.integrations.blocking import BlockingWatch


def test_long_steps_are_reported_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wsgate.handlers")
    watch = BlockingWatch(threshold=0.05, interval=60)
    now = time.monotonic()
    watch.check("a:short", now)  # a step that just began
    watch.check("a:long", now - 0.2)
    watch.check("a:long", now - 0.3)  # again within the minute: not reported
    watch.check("b:long", now - 0.2)  # another handler: reported
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("handler a:long held the event loop for 2")
    assert messages[1].startswith("handler b:long held the event loop for 2")
