"""Tests for wsgate.core.ids."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.core.ids import api_id_for, format_uuid4, new_id, new_uuid


ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{15}=")


def test_new_id_has_the_aws_shape() -> None:
    """new_id returns 16 URL-safe base64 characters ending with '='."""
    for _ in range(1000):
        value = new_id()
        assert ID_SHAPE.fullmatch(value), value
        raw = base64.urlsafe_b64decode(value)
        assert len(raw) == 11
        assert base64.urlsafe_b64encode(raw).decode() == value  # the canonical encoding


def test_new_id_slices_batches_of_secret_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are 11-byte slices of secrets.token_bytes batches, each used once."""
    from wsgate.core import ids

    requested: list[int] = []
    batch = bytes(i % 251 for i in range(12 * 256))

    def fake_token_bytes(n: int) -> bytes:
        requested.append(n)
        return batch

    monkeypatch.setattr(secrets, "token_bytes", fake_token_bytes)
    monkeypatch.setattr(ids, "_ready", [])
    drawn = [base64.urlsafe_b64decode(new_id()) for _ in range(256)]
    assert requested == [12 * 256]
    # Each id is the first 11 of a 12-byte slot; the slot's 12th byte is not used.
    assert sorted(drawn) == sorted(batch[i : i + 11] for i in range(0, len(batch), 12))
    new_id()  # the 257th id needs a new batch
    assert requested == [12 * 256, 12 * 256]


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


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_format_uuid4_is_the_uuid_modules_spelling(bits: int) -> None:
    """The version and variant bits set, and the digits spelled, as ``uuid.UUID`` does."""
    assert format_uuid4(bits) == str(uuid.UUID(int=bits, version=4))


def test_format_uuid4_at_the_edges() -> None:
    assert format_uuid4(0) == "00000000-0000-4000-8000-000000000000"
    assert format_uuid4((1 << 128) - 1) == "ffffffff-ffff-4fff-bfff-ffffffffffff"


def test_new_uuid_is_a_fresh_version_4_uuid() -> None:
    drawn = {new_uuid() for _ in range(10_000)}
    assert len(drawn) == 10_000
    for value in drawn:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value


def test_a_forked_child_draws_other_uuids_than_its_parent() -> None:
    """The generator is seeded again in a child: two workers forked from one parent never
    hand out the same request ids."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.write(writer, new_uuid().encode())
        os._exit(0)
    os.close(writer)
    child = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    assert child != new_uuid()


def test_two_processes_draw_other_uuids() -> None:
    program = "from wsgate.core.ids import new_uuid; print(new_uuid())"
    drawn = {
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(drawn) == 2
