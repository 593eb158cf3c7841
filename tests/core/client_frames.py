"""Frames as a client sends them, for the parser's and the protocol's tests."""

from __future__ import annotations

from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from wsgate.core.framing import Binary


def client_frame(opcode: Opcode, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked frame as the websockets client library sends it (random key)."""
    return Frame(opcode, payload, fin=fin).serialize(mask=True, extensions=[])


def fragmented(data: st.DataObject, message: str | Binary, max_cuts: int) -> list[bytes]:
    """``message`` as the frames of a client that cut it at points drawn from ``data``
    (anywhere, mid-character included; repeated points make empty fragments)."""
    opcode, payload = (
        (Opcode.TEXT, message.encode())
        if isinstance(message, str)
        else (Opcode.BINARY, message.payload)
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=max_cuts), "cuts"))
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return [
        client_frame(opcode if index == 0 else Opcode.CONT, piece, fin=index == len(pieces) - 1)
        for index, piece in enumerate(pieces)
    ]
