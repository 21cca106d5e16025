"""Self-monitoring: contain faults, count them, log each kind once.

The library must never hurt the host application. Every fault at record or
export time goes through here:

* ``fault(kind, exc, key=...)`` counts it in ``monitoring_layer_errors_total{kind}``
  and logs it once per ``(kind, key)`` through the ``monitoring_layer`` logger;
  under ``MONITORING_STRICT`` it raises instead, so test suites see mistakes.
* ``dropped(signal, reason, n)`` counts what a bound threw away in
  ``monitoring_layer_dropped_total{signal, reason}``.

The counts are plain integers under one lock (cheap, fork-safe). The pipeline
publishes them as OTel observable counters, so they reach every reader:
Prometheus, the JSON file, OTLP.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from monitoring_layer import config

__all__ = ["KNOWN_DROPS", "KNOWN_ERROR_KINDS", "DropTally", "contained", "counts", "counts_with_known", "dropped",
           "drops_held", "fault", "logger", "reset"]

#: Every ``kind`` the package counts in ``monitoring_layer_errors_total``: exported at 0
#: from the start, so an alert on any of them can be written before the first fault.
KNOWN_ERROR_KINDS: tuple[str, ...] = (
    "alert_delivery", "alerts", "compat", "corrupt_file", "dashboard", "encode", "export", "flush", "health", "instrumentation", "lifecycle", "logs_bridge",
    "logs_record", "logs_scrub",
    "logs_store", "metric_conflict", "metric_type", "metric_value", "prometheus_server", "readings", "serve",
    "setup", "shutdown", "tracing",
)
#: Every ``(signal, reason)`` counted in ``monitoring_layer_dropped_total``, exported at 0 from the start.
KNOWN_DROPS: tuple[tuple[str, str], ...] = (
    ("alerts", "active_alerts_cap"), ("alerts", "alerts_file"), ("alerts", "audit_buffer"), ("alerts", "audit_cap"),
    ("alerts", "audit_retention"), ("alerts", "history"), ("alerts", "incidents"), ("alerts", "incidents_file"),
    ("alerts", "queue_full"), ("alerts", "rate_series"), ("alerts", "silences"), ("alerts", "stopped"),
    ("dashboard", "rollup_max_minutes"), ("dashboard", "rollup_max_open_traces"),
    ("files", "quarantine_max"), ("files", "stale_temp_file"),
    ("health", "check_still_hanging"),
    ("integration", "instances"),
    ("logs", "already_shutdown"), ("logs", "attribute_limit"), ("logs", "batch_fault"), ("logs", "memory_evicted"),
    ("logs", "queue_full"),
    ("logs", "retention_age"), ("logs", "retention_count"), ("logs", "unencodable"),
    ("metrics", "cardinality_overflow"), ("metrics", "counter_overflow"), ("metrics", "gauge_overflow"),
    ("metrics", "negative_value"), ("metrics", "retention_age"), ("metrics", "retention_count"),
    ("spans", "max_active_spans"), ("spans", "max_spans_per_trace"), ("spans", "memory_max_active"),
    ("spans", "memory_max_spans_per_trace"), ("spans", "retention_count"),
    ("spark", "job_evicted"), ("spark", "pending_jobs"),
    ("traces", "already_shutdown"), ("traces", "batch_fault"), ("traces", "memory_max_traces"), ("traces", "memory_retention_age"), ("traces", "queue_full"),
    ("traces", "retention_age"), ("traces", "retention_count"),
)

#: The library's own diagnostics. Handlers that feed records back into the
#: monitoring pipeline must skip this logger (see the log aggregator).
logger = logging.getLogger("monitoring_layer")

_lock = threading.Lock()
_held = threading.local()  # drops_held(): this thread's drops waiting on a block's outcome
_errors: dict[str, int] = {}
_drops: dict[tuple[str, str], int] = {}
_reported: set[tuple[str, str]] = set()
_kinds_reported: set[str] = set()
#: Distinct (kind, key) pairs logged at most; past it new ones are only counted
#: (keys can come from user input, e.g. metric names: the set must stay bounded).
MAX_REPORTED = 1_000


def fault(kind: str, exc: BaseException | str, *, key: str = "", strict: bool | None = None) -> None:
    """Count a contained fault and log it the first time ``(kind, key)`` is seen.

    Raises ``exc`` (or a ``ValueError`` with the message) instead when strict.
    """
    with _lock:
        _errors[kind] = _errors.get(kind, 0) + 1
        # The first fault of each kind is always logged, whatever the cap: an operator must
        # see that exports started failing even after a flood of other faults.
        new_kind = kind not in _kinds_reported
        first = (kind, key) not in _reported and (len(_reported) < MAX_REPORTED or new_kind)
        if first:
            _reported.add((kind, key))
            _kinds_reported.add(kind)
        full = first and len(_reported) == MAX_REPORTED
    if full:  # logged outside the lock: a handler may record (and fault) in turn
        logger.warning("monitoring_layer has logged %d distinct faults; new ones are only counted "
                       "in monitoring_layer_errors_total", MAX_REPORTED)
    if strict is None:
        try:
            strict = config.get_settings().strict
        except ValueError:  # bad settings are reported at setup, never from a record-time fault
            strict = False
    if strict:
        if isinstance(exc, BaseException):
            raise exc
        raise ValueError(exc)
    if first:
        where = f" ({key})" if key else ""
        logger.warning(
            "monitoring_layer contained a fault of kind %s%s: %s; further ones are only counted in "
            "monitoring_layer_errors_total{kind=%r}",
            kind, where, exc, kind,
            exc_info=exc if isinstance(exc, BaseException) else None,
        )


def dropped(signal: str, reason: str, n: int = 1) -> None:
    """Count ``n`` items of ``signal`` dropped by a bound (``reason``)."""
    if n <= 0:
        return
    held = getattr(_held, "drops", None)
    if held is not None:  # inside drops_held(): counted when (and if) its block succeeds
        held[(signal, reason)] = held.get((signal, reason), 0) + n
        return
    with _lock:
        _drops[(signal, reason)] = _drops.get((signal, reason), 0) + n
        _fold_retired()  # here too, so collected tallies never pile up in a process nobody reads


@contextmanager
def drops_held() -> Iterator[None]:
    """Count the drops this thread reports in the block only if the block ends without an exception.

    For work that may be done twice: a file's merge that fails on the document read
    from disk is retried on an empty one (``exporters/_store.py``), and what the failed
    attempt dropped must not be counted beside what the retry drops. Nested blocks
    hand their drops to the enclosing one.
    """
    outer = getattr(_held, "drops", None)
    mine: dict[tuple[str, str], int] = {}
    _held.drops = mine
    try:
        yield
    finally:
        _held.drops = outer
    for (signal, reason), n in mine.items():  # not reached when the block raised
        dropped(signal, reason, n)


@contextmanager
def contained(kind: str, *, key: str = "") -> Iterator[None]:
    """Run a block whose exceptions must not escape: they are counted and logged once."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - containing is the point
        fault(kind, exc, key=key)


class DropTally:
    """Drops of one ``(signal, reason)`` counted on a hot path without this module's lock.

    The owner adds to ``n`` under its own lock (one writer, so no increment is lost);
    ``counts()`` adds every tally's ``n`` to the totals when they are read. For a bound
    that drops once per operation (the trace store's eviction: one per new trace at the
    cap), where a call to ``dropped()`` would be a noticeable share of the operation.
    """

    __slots__ = ("signal", "reason", "n", "__weakref__")

    def __init__(self, signal: str, reason: str) -> None:
        if (signal, reason) not in KNOWN_DROPS:
            raise ValueError(f"({signal!r}, {reason!r}) is not in KNOWN_DROPS")
        self.signal = signal
        self.reason = reason
        self.n = 0
        _TALLIES.add(self)

    def __del__(self) -> None:
        # Counters never go back: a tally's drops outlive its owner. No lock here (a collection
        # may run this inside a block holding _lock): list.append is atomic, counts() folds it.
        n = getattr(self, "n", 0)  # 0 when __init__ refused the reason
        if n:
            _retired.append(((self.signal, self.reason), n))


_TALLIES: weakref.WeakSet[DropTally] = weakref.WeakSet()
#: ``((signal, reason), n)`` of tallies that were collected, not yet folded into ``_drops``.
_retired: list[tuple[tuple[str, str], int]] = []


def _fold_retired() -> None:
    """Move the collected tallies' counts into ``_drops`` (called holding ``_lock``)."""
    while _retired:
        key, n = _retired.pop()
        _drops[key] = _drops.get(key, 0) + n


def counts() -> dict[str, dict]:
    """Snapshot: ``{"errors": {kind: n}, "dropped": {(signal, reason): n}}``."""
    live = list(_TALLIES)  # held: none of these can retire while we add them up
    with _lock:
        _fold_retired()
        drops = dict(_drops)
        errors = dict(_errors)
    for tally in live:
        if tally.n:
            key = (tally.signal, tally.reason)
            drops[key] = drops.get(key, 0) + tally.n
    return {"errors": errors, "dropped": drops}


def counts_with_known() -> dict[str, dict]:
    """``counts()`` with every known kind and drop reason present (0 when nothing happened)."""
    now = counts()
    errors = {kind: 0 for kind in KNOWN_ERROR_KINDS}
    errors.update(now["errors"])
    drops = {key: 0 for key in KNOWN_DROPS}
    drops.update(now["dropped"])
    return {"errors": errors, "dropped": drops}


def reset() -> None:
    """Forget all counts and reports (tests only)."""
    with _lock:
        _errors.clear()
        _drops.clear()
        _reported.clear()
        _kinds_reported.clear()
    for tally in list(_TALLIES):
        tally.n = 0
    _retired.clear()


def after_fork_in_child() -> None:
    """Called first by ``_lifecycle`` in a forked child (``_lifecycle`` imports this module)."""
    # A lock held by another thread at fork time would stay locked forever in
    # the child; replace it. Counts are kept: they describe the parent's past
    # and the child's counters continue from them, like its other cumulatives.
    global _lock
    _lock = threading.Lock()
