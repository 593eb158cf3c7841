"""The Runtime API's state machine: which calls are in order, and the refusals of the rest."""

from __future__ import annotations

import orjson
import pytest

from wsgate.workers.session import (
    ACCEPTED,
    MAX_RESPONSE_BYTES,
    RuntimeSession,
    State,
    too_large,
)


def running(request_id: str = "r1") -> RuntimeSession:
    session = RuntimeSession()
    assert session.poll() is None
    session.hand_out(request_id)
    return session


def test_lifecycle_in_order() -> None:
    """Poll, run, answer, poll again: every step accepted, the state follows."""
    session = RuntimeSession()
    assert (session.state, session.polled) == (State.STARTED, False)
    assert session.poll() is None
    assert (session.state, session.polled) == (State.READY, True)
    session.hand_out("r1")
    assert (session.state, session.request_id) == (State.RUNNING, "r1")
    assert session.answer("r1", "response") is None
    assert session.state is State.ANSWERED
    assert session.poll() is None
    session.hand_out("r2")
    assert session.answer("r2", "error") is None


def test_unknown_request_id_is_400() -> None:
    """An id that is not the one handed out last is InvalidRequestID, whatever the state."""
    for session in (RuntimeSession(), running("r1")):
        refusal = session.answer("nope", "response")
        assert refusal is not None
        assert (refusal.status, refusal.error_type, refusal.message) == (
            400,
            "InvalidRequestID",
            "Invalid request ID",
        )


@pytest.mark.parametrize(
    ("first", "second"), [("response", "response"), ("error", "response"), ("response", "error")]
)
def test_second_answer_for_one_id_is_403(first: str, second: str) -> None:
    """Once answered, the same id is refused with InvalidStateTransition, as the emulator."""
    session = running("r1")
    assert session.answer("r1", first) is None  # type: ignore[arg-type]
    refusal = session.answer("r1", second)  # type: ignore[arg-type]
    assert refusal is not None
    assert (refusal.status, refusal.error_type) == (403, "InvalidStateTransition")
    target = "InvocationResponse" if second == "response" else "InvocationErrorResponse"
    assert refusal.message == (
        f"State transition from RuntimeResponseSentState to {target} failed for runtime. "
        "Error: State transition is not allowed"
    )


def test_an_earlier_id_after_the_next_hand_out_is_400() -> None:
    """An id from before the last hand-out is no longer known."""
    session = running("r1")
    session.answer("r1", "response")
    session.poll()
    session.hand_out("r2")
    refusal = session.answer("r1", "response")
    assert refusal is not None and refusal.status == 400


def test_next_while_running_is_403() -> None:
    """A runtime cannot ask for more work while an invocation of its own runs."""
    refusal = running().poll()
    assert refusal is not None
    assert (refusal.status, refusal.error_type) == (403, "InvalidStateTransition")
    assert refusal.message.startswith("State transition from Running to Ready failed")


def test_init_error_only_before_the_first_poll() -> None:
    """``/init/error`` is accepted once, before the runtime polled; then it is 403."""
    session = RuntimeSession()
    assert session.init_error() is None
    assert session.state is State.INIT_ERROR
    assert session.poll() is not None
    late = RuntimeSession()
    late.poll()
    refusal = late.init_error()
    assert refusal is not None
    assert refusal.message.startswith("State transition from Ready to InitError failed")


def test_hand_out_needs_a_poll() -> None:
    """Handing out without a waiting poll is a bug of the caller's, not a refusal."""
    with pytest.raises(RuntimeError):
        RuntimeSession().hand_out("r1")


def test_error_documents() -> None:
    """Refusals and the 202 carry Lambda's JSON bodies."""
    assert orjson.loads(ACCEPTED) == {"status": "OK"}
    refusal = too_large()
    assert refusal.status == 413
    assert orjson.loads(refusal.body()) == {
        "errorMessage": f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
        "errorType": "RequestEntityTooLarge",
    }
    assert MAX_RESPONSE_BYTES == 6291556
