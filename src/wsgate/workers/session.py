"""One runtime process's side of the Runtime API, without I/O: its state and the answers.

A runtime is started, polls ``/next`` (ready), is handed an invocation (running), posts
its response or error (answered), polls again, and so on; or it posts ``/init/error``
before its first poll. A call out of that order is refused as Lambda's own Runtime API
(the emulator, ``rapi``) refuses it:

=====================================  ======  ==========================================
call                                   status  errorType
=====================================  ======  ==========================================
response/error for an id that is not    400    ``InvalidRequestID`` ("Invalid request ID")
the invocation handed out last
a second response/error for it          403    ``InvalidStateTransition``
``/next`` while an invocation runs      403    ``InvalidStateTransition``
``/init/error`` after the first poll    403    ``InvalidStateTransition``
a response over 6 MB                    413    ``RequestEntityTooLarge``
=====================================  ======  ==========================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

import orjson


__all__ = [
    "ACCEPTED",
    "MAX_RESPONSE_BYTES",
    "Refusal",
    "RuntimeSession",
    "State",
    "too_large",
]

MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
"""The largest response a runtime may post: Lambda's 6 MB (the emulator's 6 MiB + 100)."""

ACCEPTED = orjson.dumps({"status": "OK"})
"""The body of every 202."""


class State(enum.Enum):
    """Where a runtime is in its lifecycle; the values are the emulator's state names."""

    STARTED = "Started"
    READY = "Ready"
    RUNNING = "Running"
    ANSWERED = "RuntimeResponseSentState"
    INIT_ERROR = "InitError"


_TARGET = {
    "next": "Ready",
    "response": "InvocationResponse",
    "error": "InvocationErrorResponse",
    "init": "InitError",
}
"""The state each call would move to, as the emulator names it in its refusals."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A Runtime API error answer: its status and Lambda's error document."""

    status: int
    error_type: str
    message: str

    def body(self) -> bytes:
        """``{"errorMessage": ..., "errorType": ...}``."""
        return orjson.dumps({"errorMessage": self.message, "errorType": self.error_type})


INVALID_REQUEST_ID = Refusal(400, "InvalidRequestID", "Invalid request ID")


def too_large() -> Refusal:
    """413 for a response over :data:`MAX_RESPONSE_BYTES`."""
    return Refusal(
        413,
        "RequestEntityTooLarge",
        f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
    )


class RuntimeSession:
    """The state of one runtime process; each method is one call of the Runtime API.

    A method returns None when the call is in order (the state has moved), or the
    ``Refusal`` to answer with (the state has not moved).
    """

    def __init__(self) -> None:
        self.state = State.STARTED
        self.request_id: str | None = None
        """The invocation handed out last; it stays after its answer, until the next."""
        self.polled = False
        """Whether the runtime asked for an invocation once: its init is over."""

    def poll(self) -> Refusal | None:
        """``GET /next``: the runtime waits for an invocation."""
        if self.state in (State.STARTED, State.ANSWERED, State.READY):
            self.state = State.READY
            self.polled = True
            return None
        return self._out_of_order("next")

    def hand_out(self, request_id: str) -> None:
        """The waiting ``/next`` is answered with the invocation ``request_id``."""
        if self.state is not State.READY:
            raise RuntimeError(f"cannot hand out an invocation in state {self.state.value}")
        self.state = State.RUNNING
        self.request_id = request_id

    def answer(self, request_id: str, kind: Literal["response", "error"]) -> Refusal | None:
        """``POST /invocation/{request_id}/response`` or ``/error``."""
        if request_id != self.request_id:
            return INVALID_REQUEST_ID
        if self.state is not State.RUNNING:
            return self._out_of_order(kind)
        self.state = State.ANSWERED
        return None

    def init_error(self) -> Refusal | None:
        """``POST /init/error``: only before the first poll."""
        if self.state is not State.STARTED:
            return self._out_of_order("init")
        self.state = State.INIT_ERROR
        return None

    def _out_of_order(self, call: str) -> Refusal:
        return Refusal(
            403,
            "InvalidStateTransition",
            f"State transition from {self.state.value} to {_TARGET[call]} failed for "
            "runtime. Error: State transition is not allowed",
        )
