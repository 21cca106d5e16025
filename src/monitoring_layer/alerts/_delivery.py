"""Delivery off the evaluation thread: a bounded queue of notifications and one sender thread.

Evaluation only ``submit()``s (a heap push under a lock; a full queue drops
and counts, never blocks). The sender thread attempts each notification when
it is due; a failure worth retrying goes back on the heap with jittered
exponential backoff, or after the receiver's ``Retry-After``. After
``max_attempts`` the failure is final (a dead letter, recorded by the
``on_result`` callback). Retries wait on the heap, so one slow receiver never
holds up the others' first attempts.

The thread starts on first use, restarts in a forked child (which drops what
the parent had queued: the parent delivers those) and stops at ``close()``.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitoring_layer import _selfmon

from ._senders import Attempt, Notification

__all__ = ["Dispatcher"]


@dataclass(order=True)
class _Item:
    due: float
    seq: int
    notification: Notification = field(compare=False)
    attempt: int = field(default=1, compare=False)


ResultCallback = Callable[[Notification, int, Attempt, bool], None]


class Dispatcher:
    """A bounded retry queue with one daemon sender thread.

    ``send(notification) -> Attempt`` makes one attempt; ``on_result(notification,
    attempt_number, attempt, final)`` hears every outcome (``final``: delivered,
    not retryable, out of attempts, or stopped).
    """

    def __init__(self, send: Callable[[Notification], Attempt], on_result: ResultCallback, *,
                 max_queue: int = 1_000, max_attempts: int = 5, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 60.0, rng: Callable[[], float] = random.random,
                 name: str = "monitoring-layer-alerts") -> None:
        if max_queue < 1 or max_attempts < 1 or backoff_base_s < 0 or backoff_max_s < backoff_base_s:
            raise ValueError("max_queue and max_attempts must be >= 1 and 0 <= backoff_base_s <= backoff_max_s")
        self._send = send
        self._on_result = on_result
        self.max_queue = max_queue
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._rng = rng
        self._name = name
        self._reset()

    def _reset(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._heap: list[_Item] = []
        self._seq = itertools.count()
        self._unattempted = 0
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- producer side ------------------------------------------------------------

    def submit(self, notification: Notification) -> bool:
        """Queue ``notification``; False (counted as dropped) when the queue is full or stopped."""
        with self._cv:
            if self._stopping or len(self._heap) + self._inflight >= self.max_queue:
                accepted = False
            else:
                heapq.heappush(self._heap, _Item(time.monotonic(), next(self._seq), notification))
                self._unattempted += 1
                accepted = True
                self._ensure_thread()
                self._cv.notify_all()
        if not accepted:
            _selfmon.dropped("alerts", "queue_full" if not self._stopping else "stopped")
        return accepted

    def pending(self) -> int:
        """Notifications queued or being attempted (retries included)."""
        with self._cv:
            return len(self._heap) + self._inflight

    def wait_attempted(self, timeout_s: float) -> bool:
        """Wait until every queued notification had at least one attempt; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: self._unattempted == 0, timeout_s)

    def wait_settled(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or retrying (all delivered or final); False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._heap and self._inflight == 0, timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Attempt what was never attempted (once), give up pending retries, stop the thread. Safe twice."""
        with self._cv:
            self._stopping = True
            thread = self._thread
            self._cv.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def after_fork_child(self) -> None:
        """In a forked child: forget the parent's queue and thread (the parent delivers those)."""
        self._reset()

    # -- sender thread --------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _next(self) -> _Item | None:
        while True:
            with self._cv:
                if not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0].due <= now:
                        self._inflight += 1
                        return heapq.heappop(self._heap)
                    self._cv.wait(self._heap[0].due - now if self._heap else None)
                    continue
                # Stopping: first attempts still run (once); queued retries become final.
                given_up = [i for i in self._heap if i.attempt > 1]
                if not given_up:
                    if not self._heap:
                        self._cv.notify_all()
                        return None
                    self._inflight += 1
                    return heapq.heappop(self._heap)
                self._heap = [i for i in self._heap if i.attempt == 1]
                heapq.heapify(self._heap)
                self._inflight += len(given_up)
            for item in given_up:  # reported outside the lock: the callback writes files
                self._report(item, Attempt(False, reason="stopped before the retry"), True)
            with self._cv:
                self._inflight -= len(given_up)
                self._cv.notify_all()

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                attempt = self._send(item.notification)
            except Exception as exc:  # noqa: BLE001 - a sender bug must not kill the thread
                _selfmon.fault("alerts", exc, key="send", strict=False)
                attempt = Attempt(False, retry=False, reason=f"internal error: {type(exc).__name__}")
            retry = (attempt.retry and not attempt.delivered and item.attempt < self.max_attempts
                     and not self._stopping)
            self._report(item, attempt, not retry)
            with self._cv:
                self._inflight -= 1
                if item.attempt == 1:
                    self._unattempted -= 1
                if retry:
                    delay = attempt.retry_after_s if attempt.retry_after_s is not None else self._backoff(item.attempt)
                    heapq.heappush(self._heap, _Item(time.monotonic() + delay, next(self._seq),
                                                     item.notification, item.attempt + 1))
                self._cv.notify_all()

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with "equal jitter": half fixed, half random (spreads retry storms)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return delay / 2 + self._rng() * delay / 2

    def _report(self, item: _Item, attempt: Attempt, final: bool) -> None:
        try:
            self._on_result(item.notification, item.attempt, attempt, final)
        except Exception as exc:  # noqa: BLE001
            _selfmon.fault("alerts", exc, key="delivery result", strict=False)
