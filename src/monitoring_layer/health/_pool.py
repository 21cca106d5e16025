"""Where checks run: elastic daemon worker threads, and one event-loop thread for async checks.

Why not ``concurrent.futures.ThreadPoolExecutor``: its workers are joined at
interpreter exit, so one check that never returns would keep the host process
from exiting. Here every worker is a daemon thread and nothing joins it.

A hard timeout needs no signal (so it works off the main thread): the caller
waits on the task's ``Future`` for ``timeout_s``; when it expires the task is
*detached*: the worker stays blocked in the check, but no longer counts
against ``max_workers`` (a hang never starves the other checks), and the
manager does not start that check again while it hangs. Detached workers are
bounded by the number of registered checks. A worker idle for ``idle_s`` exits.

Async checks run on one event-loop thread (also a daemon); a timed-out
coroutine is cancelled. A coroutine that blocks the loop (a sync sleep inside
``async def``) delays the other async checks: they then time out too.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

__all__ = ["CheckPool", "Task"]


class Task:
    """One submitted call: its ``future``, and whether the caller gave up on it (``detached``)."""

    __slots__ = ("fn", "future", "detached", "finished", "is_async", "started", "recorded")

    def __init__(self, fn: Callable[[], Any], is_async: bool) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()
        self.detached = False
        self.finished = False  # the worker returned from the call (set under the pool's lock)
        self.is_async = is_async
        self.started = time.perf_counter()  # the timeout counts from here, for every waiter
        self.recorded: Any = None  # the result the first waiter recorded (others return it)


class CheckPool:
    """Runs calls on daemon threads (sync) or an event-loop thread (async)."""

    def __init__(self, *, max_workers: int = 64, idle_s: float = 30.0, name: str = "monitoring-layer-health") -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, not {max_workers!r}")
        self.max_workers = max_workers
        self.idle_s = idle_s
        self.name = name
        self._reset()

    def after_fork_child(self) -> None:
        """Forget the parent's workers, tasks and loop: only the forking thread survives a fork."""
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._tasks: collections.deque[Task] = collections.deque()
        self._threads = 0    # live worker threads
        self._idle = 0       # of which waiting for a task
        self._detached = 0   # of which stuck in a task the caller gave up on
        self._serial = 0
        self._closing = False  # close(): idle workers leave now rather than after idle_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    # -- submitting -------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Task:
        """Run ``fn()`` on a worker thread; its result or exception lands in ``task.future``."""
        task = Task(fn, False)
        with self._cond:
            self._tasks.append(task)
            if self._idle >= len(self._tasks):
                self._cond.notify()
            elif self._threads - self._detached < self.max_workers:
                self._spawn()
            else:
                self._cond.notify()  # every worker is busy: the task waits its turn
        return task

    def submit_async(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Task:
        """Run the coroutine ``factory()`` makes on the event-loop thread."""
        task = Task(factory, True)
        loop = self._event_loop()
        running: list[asyncio.Task[Any]] = []

        def settle(done: asyncio.Task[Any]) -> None:
            if task.future.done():
                return
            if done.cancelled():
                task.future.set_exception(asyncio.CancelledError())
            elif done.exception() is not None:
                task.future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                task.future.set_result(done.result())

        def start() -> None:
            if task.detached:
                task.future.set_exception(asyncio.CancelledError())
                return
            created = loop.create_task(factory())
            running.append(created)
            created.add_done_callback(settle)

        def cancel() -> None:
            for created in running:
                created.cancel()

        # Cancelling goes through the loop too, so it always runs after start().
        task.fn = lambda: loop.call_soon_threadsafe(cancel)
        loop.call_soon_threadsafe(start)
        return task

    def abandon(self, task: Task) -> bool:
        """The caller stopped waiting for ``task`` (its timeout expired). True when the call may
        still be running (it hangs); False when it never started or has finished."""
        if task.is_async:
            with self._cond:
                task.detached = True
            task.fn()  # cancel the coroutine; its future settles when it really ends
            return not task.future.done()
        if task.future.cancel():  # still queued: it will never run
            return False
        with self._cond:
            if task.finished:
                return False
            if not task.detached:
                task.detached = True
                self._detached += 1
        return True

    # -- workers ----------------------------------------------------------------------

    def _spawn(self) -> None:  # with self._cond held
        self._threads += 1
        self._serial += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}-{self._serial}", daemon=True)
        thread.start()

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._tasks:
                    if self._closing:  # closed while this worker was still running its last task
                        self._threads -= 1
                        return
                    self._idle += 1
                    woke = cond.wait(self.idle_s)
                    self._idle -= 1
                    if (not woke or self._closing) and not self._tasks:
                        self._threads -= 1
                        return
                task = self._tasks.popleft()
            if not task.future.set_running_or_notify_cancel():
                continue
            error: BaseException | None = None
            result: Any = None
            try:
                result = task.fn()
            except BaseException as exc:  # noqa: BLE001 - the check's outcome, handed to the caller
                error = exc
            with cond:  # ordered with abandon(): a detached call is uncounted exactly once
                task.finished = True
                if task.detached:
                    self._detached -= 1
            if error is not None:
                task.future.set_exception(error)
            else:
                task.future.set_result(result)
            task = result = error = None  # type: ignore[assignment]  # drop the check's references while idle

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_serve_loop, args=(loop,), name=f"{self.name}-asyncio",
                                          daemon=True)
                thread.start()
                self._loop = loop
            return self._loop

    # -- introspection ----------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """``threads``, ``idle``, ``detached`` (stuck in a timed-out call) and ``queued`` tasks."""
        with self._cond:
            return {"threads": self._threads, "idle": self._idle, "detached": self._detached,
                    "queued": len(self._tasks)}

    def close(self) -> None:
        """Stop the event loop and let idle workers leave (stuck ones cannot be stopped). A task
        submitted later still runs: a worker is started for it."""
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        with self._cond:
            self._closing = True
            self._cond.notify_all()


def _serve_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_forever()
    finally:
        # Coroutines still pending at close (hung ones) are abandoned with the loop.
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.close()
