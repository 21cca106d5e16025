"""Counting a SparkContext's finished jobs and tasks through Spark's own status tracker.

Spark numbers jobs 0, 1, 2, ... per SparkContext. ``JobLedger`` keeps a
cursor: the first job id it has not seen yet. ``start()`` places it after every
job the tracker already knows (jobs before the first instrumented action are
not ours to count); ``settle()`` walks forward from it with
``getJobInfo(id)`` until an id is unknown, and counts each job once it is
SUCCEEDED or FAILED: one job, and the completed tasks of its stages (a stage
skipped because its shuffle output was reused has none). Jobs still running
stay pending and are settled at a later call. Every job of the context is
counted, whichever code started it (an RDD action, another thread).

Spark updates the tracker from its listener bus, a moment after the job ends;
``settle(wait_s=...)`` first waits (at most ``wait_s``) for the bus to drain
through ``SparkContext.listenerBus().waitUntilEmpty``, reached through the
Java gateway: not a public Python API, so a failure there is reported once and
waiting is given up (jobs are then counted at the next settle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring_layer import _selfmon

__all__ = ["Finished", "JobLedger", "MAX_PENDING", "storage_memory_bytes"]

#: Unfinished jobs one ledger remembers; beyond, the oldest are dropped (and counted).
MAX_PENDING = 10_000
_DONE = ("SUCCEEDED", "FAILED")


@dataclass(frozen=True, slots=True)
class Finished:
    """One job that ended: its id, ``SUCCEEDED``/``FAILED``, and its stages' completed tasks."""

    job_id: int
    status: str
    tasks: int


class JobLedger:
    """Jobs of one SparkContext: which were counted, which still run."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.cursor: int | None = None
        self.pending: dict[int, None] = {}
        self._can_wait = True

    def _tracker(self) -> Any:
        return self.context.statusTracker()

    def start(self) -> int:
        """Place the cursor after the jobs Spark knows already (once); returns it."""
        if self.cursor is None:
            tracker = self._tracker()
            known = list(tracker.getJobIdsForGroup(None)) + list(tracker.getActiveJobsIds())
            cursor = max(known) + 1 if known else 0
            while tracker.getJobInfo(cursor) is not None:  # jobs of a job group are not in the lists above
                cursor += 1
            self.cursor = cursor
        return self.cursor

    def settle(self, wait_s: float = 0.0) -> list[Finished]:
        """The jobs that finished since the last call (each reported once)."""
        if self.cursor is None:
            return []
        if wait_s > 0 and self._can_wait:
            self._drain_listener_bus(wait_s)
        tracker = self._tracker()
        while tracker.getJobInfo(self.cursor) is not None:
            self.pending[self.cursor] = None
            self.cursor += 1
        excess = len(self.pending) - MAX_PENDING
        if excess > 0:  # the oldest unfinished jobs are given up
            for job_id in list(self.pending)[:excess]:
                del self.pending[job_id]
            _selfmon.dropped("spark", "pending_jobs", excess)
        finished = []
        for job_id in list(self.pending):
            info = tracker.getJobInfo(job_id)
            if info is None:  # evicted from Spark's bounded job list before we saw it end
                del self.pending[job_id]
                _selfmon.dropped("spark", "job_evicted", 1)
                continue
            if info.status in _DONE:
                del self.pending[job_id]
                tasks = 0
                for stage_id in info.stageIds:
                    stage = tracker.getStageInfo(stage_id)
                    if stage is not None:
                        tasks += stage.numCompletedTasks
                finished.append(Finished(job_id, info.status, tasks))
        return finished

    def _drain_listener_bus(self, wait_s: float) -> None:
        try:
            self.context._jsc.sc().listenerBus().waitUntilEmpty(int(wait_s * 1000))
        except Exception as exc:  # noqa: BLE001 - an API outside Spark's Python surface
            text = str(exc)
            if "TimeoutException" in text or "timed out" in text.lower():
                return  # a busy bus: whatever is not settled now is settled next time
            self._can_wait = False
            _selfmon.fault("instrumentation", exc, key="spark listenerBus.waitUntilEmpty", strict=False)


def storage_memory_bytes(context: Any) -> int:
    """Storage memory in use over all executors and the driver (on-heap plus off-heap), in bytes.

    What Spark's UI shows as "Storage Memory": cached blocks and broadcasts.
    """
    infos = context._jsc.sc().statusTracker().getExecutorInfos()
    return sum(int(i.usedOnHeapStorageMemory()) + int(i.usedOffHeapStorageMemory()) for i in infos)
