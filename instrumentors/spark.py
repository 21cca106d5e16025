"""``SparkInstrumentor``: a span and metrics for each PySpark DataFrame action and write.

``instrument()`` wraps the actions of the classic (JVM-backed) ``DataFrame``
(``collect``, ``count``, ``show``, ``toPandas``, ...) and of
``DataFrameWriter`` (``save``, ``saveAsTable``, ``parquet``, ...) in place;
``uninstrument()`` restores the original methods. An action that calls
another (``first`` calls ``head`` calls ``take``) is recorded once, as the
outermost one. Per action:

* an INTERNAL span ``DataFrame.collect`` (or ``DataFrameWriter.parquet``, ...)
  with ``spark.app.name``, ``spark.app.id``, the ids of the jobs it started
  (``spark.job.ids``) and their completed tasks (``spark.task.count``); an
  exception marks it as an error and is re-raised unchanged;
* ``spark_execution_time_ms{app,action}``: its wall-clock duration;
* ``spark_jobs_completed{app,status}`` and ``spark_tasks_completed{app}``: the
  jobs that ended since the previous action, read from Spark's status
  tracker (see ``_spark_jobs``), also at ``monitoring_layer.flush()``;
* ``spark_memory_used_mb{app}``: storage memory in use over the executors.

Spark Connect DataFrames (``pyspark.sql.connect``) have no JVM status tracker
here and are not instrumented.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
import weakref
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.trace import SpanKind

from monitoring_layer import _lifecycle

from ._common import Sink, contained, end_span, fault
from ._spark_jobs import Finished, JobLedger, storage_memory_bytes

__all__ = ["DATAFRAME_ACTIONS", "SparkInstrumentor", "WRITER_ACTIONS"]

_SCOPE = "monitoring_layer.instrumentors.spark"
DATAFRAME_ACTIONS = ("collect", "count", "first", "foreach", "foreachPartition", "head", "isEmpty", "show",
                     "tail", "take", "toArrow", "toPandas")
WRITER_ACTIONS = ("csv", "insertInto", "jdbc", "json", "orc", "parquet", "save", "saveAsTable", "text", "xml")
_MISSING = object()
# True while an instrumented action runs in this context: nested actions are not recorded again
_IN_ACTION: contextvars.ContextVar[bool] = contextvars.ContextVar("monitoring_layer_spark_action", default=False)


def _dataframe_class() -> type:
    try:  # pyspark >= 4: the JVM-backed DataFrame is a subclass of the abstract one
        from pyspark.sql.classic.dataframe import DataFrame
    except ImportError:
        from pyspark.sql.dataframe import DataFrame  # type: ignore[assignment]
    return DataFrame


def _context_of(target: Any) -> Any:
    session = getattr(target, "_spark", None) or target.sparkSession  # a writer's session, or a DataFrame's
    return session.sparkContext


class _Running:
    """One action in flight."""

    __slots__ = ("action", "context", "first_job", "labels", "ledger", "span", "started", "token")

    def __init__(self, action: str, context: Any, ledger: JobLedger, span: Any) -> None:
        self.action = action
        self.context = context
        self.ledger = ledger
        self.span = span
        self.first_job = ledger.start()
        self.labels = {"app": str(context.appName), "action": action}
        # current while the action runs: spans started inside it (a nested library's) become its children
        self.token = otel_context.attach(otel_trace.set_span_in_context(span))
        self.started = time.perf_counter()


class _SparkRecorder:
    """What the wrappers call: starts and ends an action's span and records its metrics."""

    def __init__(self, sink: Sink, settle_timeout_s: float) -> None:
        self.sink = sink
        self.settle_timeout_s = settle_timeout_s
        self._lock = threading.Lock()
        # one ledger per live SparkContext (a stopped and rebuilt context starts again at job 0)
        self._ledgers: weakref.WeakKeyDictionary[Any, JobLedger] = weakref.WeakKeyDictionary()

    def _ledger(self, context: Any) -> JobLedger:
        with self._lock:
            ledger = self._ledgers.get(context)
            if ledger is None:
                ledger = self._ledgers[context] = JobLedger(context)
            return ledger

    def begin(self, target: Any, action: str) -> _Running:
        context = _context_of(target)
        span = self.sink.tracer().start_span(action, kind=SpanKind.INTERNAL, attributes={
            "spark.app.name": str(context.appName), "spark.app.id": str(context.applicationId),
            "spark.action": action})
        try:
            return _Running(action, context, self._ledger(context), span)
        except BaseException:
            span.end()
            raise

    def end(self, running: _Running, exc: BaseException | None) -> None:
        elapsed_ms = (time.perf_counter() - running.started) * 1000.0
        span = running.span
        otel_context.detach(running.token)
        try:
            metrics = self.sink.metrics()
            metrics.observe_histogram("spark_execution_time_ms", elapsed_ms, running.labels)
            with self._lock:  # one settle at a time per recorder: a job is counted once
                finished = running.ledger.settle(self.settle_timeout_s)
            self._count(running.context, finished)
            mine = [f for f in finished if f.job_id >= running.first_job]
            span.set_attribute("spark.job.ids", [f.job_id for f in mine])
            span.set_attribute("spark.task.count", sum(f.tasks for f in mine))
            metrics.set_gauge("spark_memory_used_mb", storage_memory_bytes(running.context) / 1e6,
                              {"app": running.labels["app"]})
        finally:
            end_span(span, exc)

    def _count(self, context: Any, finished: list[Finished]) -> None:
        if not finished:
            return
        metrics = self.sink.metrics()
        app = str(context.appName)
        for job in finished:
            metrics.increment_counter("spark_jobs_completed", 1, {"app": app, "status": job.status.lower()})
            if job.tasks:
                metrics.increment_counter("spark_tasks_completed", job.tasks, {"app": app})

    def settle_all(self) -> None:
        """Count jobs that ended since the last action (the lifecycle's flush hook)."""
        if not self.sink.active:
            return
        with self._lock:
            ledgers = list(self._ledgers.items())
        for context, ledger in ledgers:
            if getattr(context, "_jsc", None) is None:  # stopped
                continue
            with contained("spark settle"):
                with self._lock:
                    finished = ledger.settle(0.0)
                self._count(context, finished)


def _wrap(original: Callable[..., Any], action: str, recorder: _SparkRecorder) -> Callable[..., Any]:
    @functools.wraps(original)
    def action_wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _IN_ACTION.get() or not recorder.sink.active:
            return original(self, *args, **kwargs)
        try:
            running = recorder.begin(self, action)
        except Exception as exc:  # noqa: BLE001
            fault(exc, f"spark {action}")
            return original(self, *args, **kwargs)
        token = _IN_ACTION.set(True)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            _IN_ACTION.reset(token)
            with contained(f"spark {action}"):
                recorder.end(running, exc)
            raise
        _IN_ACTION.reset(token)
        with contained(f"spark {action}"):
            recorder.end(running, None)
        return result

    action_wrapper.__monitoring_layer_original__ = original  # type: ignore[attr-defined]
    return action_wrapper


class SparkInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """PySpark: a span per DataFrame action and write, ``spark_execution_time_ms``,
    ``spark_jobs_completed``, ``spark_tasks_completed`` and ``spark_memory_used_mb``.

    ``instrument(metrics_collector=None, tracer_provider=None, settle_timeout_s=2.0)``: left ``None``,
    the collector and provider are the process-wide ones, looked up at the first action.
    ``settle_timeout_s`` bounds how long an action's end waits for Spark's listener bus, so that
    its own jobs are counted at once (0: never wait; they are counted at the next action or flush).
    """

    _recorder: _SparkRecorder | None = None
    _saved: list[tuple[type, str, Any]] = []
    _unregister: Callable[[], None] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("pyspark >= 3.5",)

    def _instrument(self, **kwargs: Any) -> None:
        from pyspark.sql.readwriter import DataFrameWriter

        settle_timeout_s = kwargs.get("settle_timeout_s", 2.0)
        if not isinstance(settle_timeout_s, (int, float)) or settle_timeout_s < 0:
            raise ValueError(f"settle_timeout_s must be a number >= 0, not {settle_timeout_s!r}")
        sink = Sink("spark", _SCOPE, kwargs.get("metrics_collector"), kwargs.get("tracer_provider"))
        recorder = _SparkRecorder(sink, float(settle_timeout_s))
        saved: list[tuple[type, str, Any]] = []
        targets = ((_dataframe_class(), "DataFrame", DATAFRAME_ACTIONS), (DataFrameWriter, "DataFrameWriter",
                                                                          WRITER_ACTIONS))
        for cls, class_name, names in targets:
            for name in names:
                original = getattr(cls, name, None)
                if original is None:  # not in this pyspark version
                    continue
                saved.append((cls, name, cls.__dict__.get(name, _MISSING)))
                setattr(cls, name, _wrap(original, f"{class_name}.{name}", recorder))
        self._recorder, self._saved = recorder, saved
        self._unregister = _lifecycle.register("spark instrumentor", before_flush=recorder.settle_all)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls, name, original in reversed(self._saved):
            if original is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
        if self._recorder is not None:
            self._recorder.sink.active = False
        if self._unregister is not None:
            self._unregister()
        self._recorder, self._saved, self._unregister = None, [], None
