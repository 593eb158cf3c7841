"""One worker: a runtime process, its Runtime API, and Lambda's lifecycle for it.

A worker is launched for an invocation (a cold start), runs one invocation at a time,
and is offered to its pool again each time its runtime polls ``/next``. It ends when its
process ends, whatever the cause: a crash, ``sys.exit``, a signal, a failed init, or a
kill by the gateway (the invocation's caller gave up at its deadline, the worker idled
too long, the gateway stops). The invocation it held then fails with Lambda's error, and
the pool starts another worker when one is needed.

Every wait is bounded: init by :data:`INIT_TIMEOUT` (Lambda's 10 s), a stop by
:data:`STOP_GRACE` between SIGTERM and SIGKILL, and the exit after a SIGKILL by
:data:`EXIT_WAIT`. A running invocation is bounded by its caller, who cancels it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Protocol

import orjson

from wsgate.workers import endpoints
from wsgate.workers.environment import log_stream_name, worker_environment
from wsgate.workers.errors import FunctionError
from wsgate.workers.invocation import Invocation
from wsgate.workers.logs import FunctionLog, max_memory_mb, report_line
from wsgate.workers.process import OutputPipe, exit_reason, signal_group, spawn
from wsgate.workers.runtime_api import RuntimeApi, WorkerStopping
from wsgate.workers.runtimes import RuntimeKind
from wsgate.workers.session import RuntimeSession
from wsgate.workers.spec import FunctionSpec


__all__ = ["EXIT_WAIT", "INIT_TIMEOUT", "STOP_GRACE", "Worker", "WorkerOwner"]

INIT_TIMEOUT = 10.0
"""Seconds from the start of a process to its first poll (Lambda's init limit)."""
STOP_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL when a worker is stopped."""
EXIT_WAIT = 5.0
"""Seconds to wait for the exit of a process sent SIGKILL."""
INIT_ERROR_EXIT = 2.0
"""Seconds a runtime that posted ``/init/error`` has to exit on its own."""

log = logging.getLogger("wsgate.workers")


class WorkerOwner(Protocol):
    """The pool a worker reports to."""

    def worker_free(self, worker: Worker) -> None:
        """``worker`` holds no invocation (it answered one, or polls): ``assign`` it one,
        now or later."""
        ...

    def requeue(self, invocation: Invocation) -> None:
        """``invocation`` was given to a worker that ended before it began: give it to
        another."""
        ...

    def worker_gone(self, worker: Worker) -> None:
        """``worker``'s process ended and everything it held was released."""
        ...


class Worker:
    """One runtime process of a function; see the module's docstring."""

    def __init__(self, spec: FunctionSpec, kind: RuntimeKind, owner: WorkerOwner) -> None:
        self.spec = spec
        self._kind = kind
        self._owner = owner
        self.session = RuntimeSession()
        self._api = RuntimeApi(self, function_arn=spec.arn)
        self._log = FunctionLog(spec.name)
        self._process: asyncio.subprocess.Process | None = None
        self._pipes: list[OutputPipe] = []
        self._task: asyncio.Task[None] | None = None
        self._pending: Invocation | None = None
        """Given to this worker, not yet handed to its runtime."""
        self._current: Invocation | None = None
        """Handed to its runtime, not answered."""
        self._waiter: asyncio.Future[None] | None = None
        self._spawned: float | None = None
        self._init_ms: float | None = None
        """Init Duration, until the REPORT that carries it."""
        self._init_error: FunctionError | None = None
        self._peak_mb = 0
        """The most ``VmHWM`` seen, for a REPORT after the process is gone."""
        self._killed_for: str | None = None
        self._stopping = False
        self._timers: list[asyncio.TimerHandle] = []
        self.idle_timer: asyncio.TimerHandle | None = None
        """The pool's timer that reaps this worker while it is idle."""

    # --- what the pool calls -----------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The runtime process's id, once started."""
        return self._process.pid if self._process is not None else None

    def launch(self, invocation: Invocation) -> None:
        """Start the process, with ``invocation`` as its first."""
        self.assign(invocation)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"wsgate worker {self.spec.name}"
        )

    def assign(self, invocation: Invocation) -> None:
        """Give ``invocation`` to this worker (which holds none now)."""
        invocation.worker = self
        self._pending = invocation
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def abort(self, invocation: Invocation) -> None:
        """``invocation``'s caller gave up (its deadline passed): kill the process running it.

        One that was only given to this worker, not yet begun, is just dropped.
        """
        if invocation is self._pending:
            self._pending = None
            return
        if invocation is not self._current:
            return
        late = time.monotonic() >= invocation.deadline - 0.001
        if late:
            self._log.timed_out(invocation.request_id, invocation.timeout)
        self._kill("timeout" if late else "cancelled")

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after :data:`STOP_GRACE`, wait for the end."""
        self._stopping = True
        task = self._task
        if task is None:
            return
        self._signal(signal.SIGTERM)
        _done, running = await asyncio.wait({task}, timeout=STOP_GRACE)
        if running:
            self._kill("stopped")
            _done, running = await asyncio.wait({task}, timeout=EXIT_WAIT)
        if running:  # a process that survives SIGKILL (stuck in the kernel): let it be
            log.error("%s: worker %s did not exit after SIGKILL", self.spec.name, self.pid)
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)

    # --- what the Runtime API calls (RuntimeHost) --------------------------------------

    async def next_invocation(self) -> Invocation:
        """Wait for an invocation and hand it out; see ``RuntimeHost``."""
        if self._spawned is not None and self._init_ms is None:
            self._init_ms = (time.monotonic() - self._spawned) * 1000
        while True:
            if self._stopping:
                raise WorkerStopping
            invocation = self._pending
            if invocation is not None and invocation.future.done():
                self._pending = invocation = None  # its caller gave up before it began
            if invocation is not None:
                break
            self._waiter = asyncio.get_running_loop().create_future()
            self._owner.worker_free(self)
            if self._pending is None:
                await self._waiter
        self._pending = None
        self.session.hand_out(invocation.request_id)
        self._current = invocation
        invocation.started = time.monotonic()
        self._log.start(invocation.request_id)
        if self._peak_mb == 0 and self._log.enabled:
            # For a REPORT after a first invocation whose process is gone; past that, the
            # peak read at each END serves (VmHWM only grows). A read costs tens of us.
            self._peak_mb = max_memory_mb(self.pid)
        return invocation

    def responded(self, body: bytes, content_type: str) -> None:
        """The runtime posted the result: the caller gets it, JSON-decoded."""
        invocation = self._take_current()
        if not invocation.future.done():
            invocation.future.set_result(_decoded(body, content_type))
        self._ended(invocation)
        self._free()

    def errored(self, error: FunctionError, *, exits: bool = False) -> None:
        """The runtime posted an error (or too large a result): the caller gets it."""
        invocation = self._take_current()
        if not invocation.future.done():
            invocation.future.set_exception(error)
        self._ended(invocation)
        if not exits:
            self._free()

    def init_failed(self, error: FunctionError) -> None:
        """The runtime could not load the function: its invocation fails with the error."""
        self._init_error = error
        trace = error.payload.get("stackTrace") if isinstance(error.payload, dict) else None
        self._log.init_failed(
            error.error_type,
            error.error_message,
            [str(line) for line in trace] if isinstance(trace, list) else [],
        )
        self._fail_pending(error)
        # The runtime exits now; one that does not is killed.
        self._later(INIT_ERROR_EXIT, self._kill, "init error")

    # --- the process -------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            address = await self._api.start()
            env = worker_environment(
                self.spec,
                self._kind,
                runtime_api=address,
                log_stream=log_stream_name(),
                parent=os.environ,
                execute_api=endpoints.published(),
            )
            self._process, self._pipes = await spawn(
                self._kind.command(self.spec.handler),
                cwd=self.spec.code,
                env=env,
                on_stdout=self._log.output,
                on_stderr=self._log.output,
            )
            self._spawned = time.monotonic()
            loop = asyncio.get_running_loop()
            for pipe in self._pipes:
                pipe.watch(loop)
            if self._stopping:
                self._signal(signal.SIGTERM)
            self._later(INIT_TIMEOUT, self._init_timed_out)
            self._exited(await self._process.wait())
        except Exception as error:  # the listener or the process could not start
            failure = FunctionError("Runtime.InvalidEntrypoint", f"cannot start: {error}")
            self._log.init_failed(failure.error_type, failure.error_message, [])
            self._fail_pending(failure)
        finally:
            for timer in self._timers:
                timer.cancel()
            gone = FunctionError("Runtime.ExitError", "Runtime exited without providing a reason")
            for held in (self._current, self._pending):  # only if the task was cancelled
                if held is not None and not held.future.done():
                    held.future.set_exception(gone)
            self._current = self._pending = None
            if self._process is not None:
                signal_group(self._process.pid, signal.SIGKILL)  # anything it left behind
            for pipe in self._pipes:
                pipe.close()
            try:
                await self._api.close()
            finally:
                self._owner.worker_gone(self)

    def _exited(self, returncode: int) -> None:
        """The process ended: fail what it held, log what Lambda logs."""
        reason = exit_reason(returncode)
        error = FunctionError("Runtime.ExitError", f"Runtime exited with error: {reason}")
        invocation = self._current
        if invocation is not None:
            self._current = None
            if self._killed_for is None:
                self._log.failed(invocation.request_id, error.error_type, error.error_message)
            if not invocation.future.done():
                invocation.future.set_exception(error)
            status = "timeout" if self._killed_for == "timeout" else "error"
            self._ended(invocation, status)
        elif self._init_error is None and not self.session.polled and not self._stopping:
            # Gone before it asked for work: an init error that posted nothing.
            self._init_error = error
            self._log.init_failed(error.error_type, error.error_message, [])
        elif self._killed_for is None and not self._stopping and self._init_error is None:
            log.warning("%s: worker %s exited: %s", self.spec.name, self.pid, reason)
        waiting = self._pending
        if waiting is not None and self._init_error is None and not self._stopping:
            # Given to a warm worker that ended before it began: not its fault.
            self._pending = None
            waiting.worker = None
            self._owner.requeue(waiting)
        self._fail_pending(self._init_error or error)

    def _init_timed_out(self) -> None:
        if self.session.polled or self._init_error is not None:
            return
        error = FunctionError(
            "Sandbox.Timedout", f"Init timed out after {INIT_TIMEOUT:.2f} seconds"
        )
        self._init_error = error
        self._log.init_failed(error.error_type, error.error_message, [])
        self._fail_pending(error)
        self._kill("init timeout")

    # --- helpers -----------------------------------------------------------------------

    def _take_current(self) -> Invocation:
        invocation = self._current
        if invocation is None:  # the session accepted an answer: one is running
            raise RuntimeError("an answer without an invocation")
        self._current = None
        return invocation

    def _ended(self, invocation: Invocation, status: str | None = None) -> None:
        """``END`` and ``REPORT``, after whatever the runtime printed before answering."""
        for pipe in self._pipes:
            pipe.drain()
        if not self._log.enabled:  # nobody reads END and REPORT: no /proc read for them
            self._spawned = self._init_ms = None
            return
        self._peak_mb = max(self._peak_mb, max_memory_mb(self.pid))
        started = invocation.started or time.monotonic()
        report = report_line(
            invocation.request_id,
            (time.monotonic() - started) * 1000,
            self.spec.memory_size,
            self._peak_mb,
            self._init_ms,
            status,
        )
        self._spawned = self._init_ms = None  # Init Duration goes in one REPORT only
        self._log.end(invocation.request_id, report)

    def _free(self) -> None:
        """Offered to the pool as soon as it answered: its runtime polls again at once."""
        if not self._stopping and self._pending is None:
            self._owner.worker_free(self)

    def _fail_pending(self, error: FunctionError) -> None:
        invocation, self._pending = self._pending, None
        if invocation is not None and not invocation.future.done():
            invocation.future.set_exception(error)

    def _kill(self, reason: str) -> None:
        if self._killed_for is None:
            self._killed_for = reason
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            signal_group(process.pid, signum)

    def _later(self, delay: float, callback: Callable[..., object], *args: object) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, callback, *args))


def _decoded(body: bytes, content_type: str) -> object:
    """A JSON result decoded; anything else (a ``bytes`` result) as the bytes posted."""
    if content_type in ("application/json", "") or content_type.endswith("+json"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body
