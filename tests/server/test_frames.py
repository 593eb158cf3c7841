"""FrameGuard reads frame headers across any split of the byte stream."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from wsgate.server.frames import FrameGuard


class Recorder:
    """Stands in for aiohttp's parser and queue: records what reaches them."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.error: BaseException | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        pass

    def set_exception(self, exc: BaseException) -> None:
        self.error = exc


def frame(opcode: int, length: int, masked: bool) -> bytes:
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, (0x80 if masked else 0) | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, (0x80 if masked else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, (0x80 if masked else 0) | 127, length)
    mask = b"\x01\x02\x03\x04" if masked else b""
    return header + mask + b"p" * length


frames = st.lists(
    st.tuples(
        st.sampled_from([0x0, 0x1, 0x2, 0x8, 0x9, 0xA]),
        st.one_of(st.integers(0, 130), st.integers(200, 70_000)),
        st.booleans(),
    ).map(lambda f: (f[0], min(f[1], 125) if f[0] >= 0x8 else f[1], f[2])),
    min_size=1,
    max_size=6,
)


@given(frames, st.lists(st.integers(1, 5000), max_size=20), st.integers(1, 70_000))
def test_guard_flags_exactly_the_oversized_data_frames(
    spec: list[tuple[int, int, bool]], cuts: list[int], limit: int
) -> None:
    stream = b"".join(frame(*f) for f in spec)
    recorder = Recorder()
    guard = FrameGuard(recorder, recorder, limit)
    position = 0
    for size in [*cuts, len(stream)]:
        chunk = stream[position : position + size]
        position += len(chunk)
        if chunk:
            guard.feed_data(chunk)
    oversized = any(opcode < 0x8 and length > limit for opcode, length, _ in spec)
    assert (recorder.error is not None) == oversized
    if not oversized:
        assert bytes(recorder.data) == stream
    else:
        assert recorder.error is not None and recorder.error.args[0] == 1009


def test_nothing_after_an_oversized_frame_reaches_the_parser() -> None:
    recorder = Recorder()
    guard = FrameGuard(recorder, recorder, 100)
    ok = frame(0x1, 10, True)
    guard.feed_data(ok)
    assert guard.feed_data(frame(0x1, 101, True)) == (True, b"")
    guard.feed_data(ok)
    assert bytes(recorder.data) == ok
