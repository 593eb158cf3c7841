"""Tests for wsgate.core.ids."""

from __future__ import annotations

import base64
import re
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.ids import api_id_for, new_id


ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{15}=")


def test_new_id_has_the_aws_shape() -> None:
    """new_id returns 16 URL-safe base64 characters ending with '='."""
    for _ in range(1000):
        value = new_id()
        assert ID_SHAPE.fullmatch(value), value
        assert len(base64.urlsafe_b64decode(value)) == 11


def test_new_id_slices_batches_of_secret_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are consecutive 11-byte slices of secrets.token_bytes batches, never reused."""
    from wsgate.core import ids

    requested: list[int] = []

    def fake_token_bytes(n: int) -> bytes:
        requested.append(n)
        return bytes(range(256)) * (n // 256) + bytes(n % 256)

    monkeypatch.setattr(secrets, "token_bytes", fake_token_bytes)
    monkeypatch.setattr(ids, "_pool", ids._RandomPool())
    first, second = new_id(), new_id()
    assert base64.urlsafe_b64decode(first) == bytes(range(11))
    assert base64.urlsafe_b64decode(second) == bytes(range(11, 22))
    assert requested == [11 * 256]
    for _ in range(254):
        new_id()
    assert requested == [11 * 256]
    new_id()  # the 257th id needs a new batch
    assert requested == [11 * 256, 11 * 256]


def test_new_id_is_unique_across_threads() -> None:
    """Threads drawing at once never get the same id."""
    import threading

    found: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        out.extend(new_id() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for out in found for value in out]
    assert len(set(every)) == len(every) == 20000


def test_new_id_is_unique() -> None:
    """Ten thousand ids never collide."""
    assert len({new_id() for _ in range(10_000)}) == 10_000


def test_api_id_for_known_value_is_stable() -> None:
    """The same name always gives the same id (pinned so restarts keep apiId)."""
    assert api_id_for("chat") == api_id_for("chat")
    assert api_id_for("chat") != api_id_for("chat2")
    assert api_id_for("") != api_id_for("chat")


@given(st.text())
def test_api_id_for_shape(name: str) -> None:
    """api_id_for returns 10 characters of [a-z0-9] for any name."""
    assert re.fullmatch(r"[a-z0-9]{10}", api_id_for(name))


def test_api_id_for_spreads_over_the_alphabet() -> None:
    """Ids of many names use many distinct characters and do not collide."""
    values = [api_id_for(f"api-{i}") for i in range(2000)]
    assert len(set(values)) == len(values)
    assert len(set("".join(values))) == 36
