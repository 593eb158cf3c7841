"""The messages Redis nodes exchange: what goes in comes out, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgate.registry.base import ConnectionInfo
from wsgate.registry.wire import Reply, Request, decode, encode_reply, encode_request


@given(data=st.one_of(st.text(), st.binary()), connection_id=st.text(), reply_to=st.text())
def test_a_send_keeps_its_payload_and_its_type(
    data: str | bytes, connection_id: str, reply_to: str
) -> None:
    """str comes back the same str, bytes the same bytes, whatever they hold."""
    request = Request(7, reply_to, "send", connection_id, data)
    decoded = decode(encode_request(request))
    assert decoded == request
    assert isinstance(decoded, Request) and type(decoded.data) is type(data)


@pytest.mark.parametrize("operation", ["info", "close"])
def test_info_and_close_carry_no_payload(operation: str) -> None:
    request = Request(1, "node", operation, "AAAAAAAAAAAAAAA=")  # type: ignore[arg-type]
    assert decode(encode_request(request)) == request


@given(
    outcome=st.sampled_from(["ok", "gone", "full", "error"]),
    user_agent=st.none() | st.text(),
)
def test_replies_keep_their_outcome_and_info(outcome: str, user_agent: str | None) -> None:
    info = ConnectionInfo("AAAAAAAAAAAAAAA=", 1, 2, "10.0.0.1", user_agent)
    for reply in (Reply(3, outcome), Reply(3, outcome, info)):  # type: ignore[arg-type]
        assert decode(encode_reply(reply)) == reply


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"no newline",
        b"not json\n",
        b"[1]\n",
        b'{"re": "1", "o": "ok"}\n',
        b'{"re": 1, "o": "maybe"}\n',
        b'{"re": 1, "o": "ok", "info": [1, 2]}\n',
        b'{"id": 1, "from": "n", "op": "drop", "c": "x"}\n',
        b'{"id": 1, "from": "n", "op": "send", "c": "x"}\npayload of no type',
        b'{"id": 1, "op": "info", "c": "x"}\n',
    ],
)
def test_anything_else_is_refused(message: bytes) -> None:
    with pytest.raises(ValueError):
        decode(message)
