"""Block-level context managers (SPEC §8): ``measure_time`` and ``count_operation``.

* ``measure_time(component, operation, metrics)`` records the block's duration
  in ``operation_duration_ms{component,operation,status}``;
* ``count_operation(component, operation, metrics)`` counts the block in
  ``operations_total{component,operation,status}``.

``status`` is ``success``, ``error`` or ``cancelled``; an exception leaving the
block is recorded and propagates unchanged. Both are also usable with
``async with`` (the awaited work inside the block is timed). A collector
fault is contained like in the decorators.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from ._collectors import check_collector, check_text, default, ensure_registered, fault
from ._names import outcome

__all__ = ["count_operation", "measure_time"]

OPERATIONS = "operations_total"
OPERATION_ERRORS = "operation_errors_total"
OPERATION_DURATION = "operation_duration_ms"

_perf = time.perf_counter_ns


class _Block:
    """A reusable (also re-entrant) context manager; subclasses implement ``_record``."""

    __slots__ = ("component", "operation", "metrics_collector", "_starts", "_labels")
    _families: tuple[str, ...] = ()

    def __init__(self, component: str, operation: str, metrics_collector: Any = None) -> None:
        self.component = check_text(component, "component")
        self.operation = check_text(operation, "operation")
        self.metrics_collector = check_collector(metrics_collector, "metrics_collector", "metrics")
        self._starts: list[int] = []
        self._labels: dict[str, dict[str, str]] = {}

    def _metrics(self) -> Any:
        collector = self.metrics_collector if self.metrics_collector is not None else default("metrics")
        ensure_registered(collector, self._families)
        return collector

    def _labels_for(self, status: str) -> dict[str, str]:
        labels = self._labels.get(status)
        if labels is None:
            labels = self._labels[status] = {"component": self.component, "operation": self.operation,
                                             "status": status}
        return labels

    def __enter__(self) -> _Block:
        self._starts.append(_perf())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        elapsed_ms = (_perf() - self._starts.pop()) / 1e6
        try:
            self._record(self._metrics(), elapsed_ms, exc)
        except Exception as problem:  # noqa: BLE001 - the block's outcome is the user's, not ours
            fault(problem, f"{self.component}.{self.operation}")
        # returns None: never swallows the block's exception

    async def __aenter__(self) -> _Block:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def _record(self, metrics: Any, elapsed_ms: float, exc: BaseException | None) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.component!r}, {self.operation!r})"


class measure_time(_Block):  # noqa: N801 - the spec's name
    """Record the duration of a ``with`` block.

    >>> with measure_time("spark", "job_run"):   # doctest: +SKIP
    ...     run_spark_job()
    """

    __slots__ = ()
    _families: tuple[str, ...] = (OPERATION_DURATION,)

    def _record(self, metrics: Any, elapsed_ms: float, exc: BaseException | None) -> None:
        metrics.observe_histogram(OPERATION_DURATION, elapsed_ms, self._labels_for(outcome(exc)))


class count_operation(_Block):  # noqa: N801 - the spec's name
    """Count a ``with`` block as a success or an error.

    >>> with count_operation("kafka", "publish"):  # doctest: +SKIP
    ...     publish_message()
    """

    __slots__ = ()
    _families: tuple[str, ...] = (OPERATIONS,)

    def _record(self, metrics: Any, elapsed_ms: float, exc: BaseException | None) -> None:
        metrics.increment_counter(OPERATIONS, 1, self._labels_for(outcome(exc)))
