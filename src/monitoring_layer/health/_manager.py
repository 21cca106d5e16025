"""``HealthCheckManager``: registers checks, runs them concurrently with hard timeouts, keeps results.

See docs/health.md. Running (``run_check``, ``run_all_checks``, the background
runner) starts every selected check at once on the ``CheckPool`` and waits for
each until its own deadline, so a batch takes about as long as its slowest
check. Queries (``get_component_status``, ``get_system_health``, the probes)
never run or wait for a check: they read the latest results.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer._encode import report_path, write_report

from ._checks import EXTERNAL_ATTRIBUTE
from ._deps import DependencyGraph, component_names
from ._files import HealthFiles
from ._pool import CheckPool, Task
from ._report import CheckView, component_status, ietf_document, own_status, system_health
from ._status import METRIC_VALUE, HealthStatus, iso, normalise

__all__ = ["PROBES", "HealthCheckManager", "UnknownCheckError"]

#: The probe a check belongs to (the Kubernetes probes).
PROBES = ("readiness", "liveness", "startup")
STATUS_METRIC = "health_check_status"
DURATION_METRIC = "health_check_duration_ms"


class UnknownCheckError(KeyError):
    """Raised by ``run_check`` / ``get_check_history`` for a check that was never registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown check"


@dataclass(eq=False, slots=True)
class _Check:
    component: str
    name: str
    func: Callable[[], Any]
    is_async: bool
    timeout_s: float
    interval_s: float
    critical: bool
    probe: str
    history: collections.deque[dict[str, Any]]
    last: dict[str, Any] | None = None
    next_due: float = 0.0
    hanging: Task | None = None       # the timed-out call still running, never started twice
    hanging_since: float = 0.0
    running: Task | None = None       # the call in flight; a second caller waits for it
    runs: int = field(default=0)

    @property
    def key(self) -> str:
        return f"{self.component}:{self.name}"

    def view(self) -> CheckView:
        return CheckView(self.component, self.name, self.critical, self.probe, self.interval_s, self.last)


class HealthCheckManager:
    """Health checks of the application's components (SPEC §4).

    >>> health = HealthCheckManager()
    >>> health.register_check("db", "ping", lambda: True, interval_s=10)
    >>> health.run_check("db", "ping")["status"]
    'healthy'

    ``metrics_collector``: a ``MetricsCollector`` that receives
    ``health_check_status{component,check}`` and ``health_check_duration_ms``
    (None: no metrics). ``clock``: epoch seconds, for timestamps and staleness.
    ``home``: the ``MONITORING_HOME`` whose ``health/`` files are written (None:
    no files). ``background``: run each check every ``interval_s`` on a runner
    thread, started by the first ``register_check`` (or ``start()``).
    """

    def __init__(self, metrics_collector: Any = None, *, clock: Callable[[], float] = time.time,
                 home: str | os.PathLike[str] | None = None, background: bool = True,
                 max_history: int = 100, max_checks: int = 10_000, max_workers: int = 64,
                 write_interval_s: float = 10.0, stale_after_intervals: float = 3.0) -> None:
        for name, value in (("max_history", max_history), ("max_checks", max_checks), ("max_workers", max_workers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        _positive("write_interval_s", write_interval_s)
        _positive("stale_after_intervals", stale_after_intervals)
        if not callable(clock):
            raise TypeError(f"clock must be callable, not {type(clock).__name__}")
        self._metrics = metrics_collector
        self._clock = clock
        self.home = Path(home) if home is not None else None
        self._background = bool(background)
        self.max_history = max_history
        self.max_checks = max_checks
        self.write_interval_s = float(write_interval_s)
        self.stale_after = float(stale_after_intervals)
        self._lock = threading.RLock()
        self._checks: dict[tuple[str, str], _Check] = {}
        self._deps = DependencyGraph()
        self._pool = CheckPool(max_workers=max_workers)
        self._files = HealthFiles(self.home, history_limit=max_history) if self.home is not None else None
        self._dirty = False
        self._last_write = time.monotonic()  # the runner's first write comes one interval after start
        self._counts = {"runs": 0, "timeouts": 0, "skipped_hanging": 0, "late_completions": 0, "errors": 0}
        self._runner: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        if metrics_collector is not None:
            metrics_collector.register_metric(
                STATUS_METRIC, "gauge",
                "Latest result of each health check: 1 healthy, 0.5 degraded, 0 unhealthy, -1 unknown.")
            metrics_collector.register_metric(DURATION_METRIC, "histogram", "Duration of health checks.", "ms")
        self._unregister = _lifecycle.register("health", after_fork_child=self._after_fork_child,
                                               flush=self.flush, shutdown=self.close)

    # ------------------------------------------------------------------ registration

    def register_check(self, component: str, check_name: str, check_func: Callable[[], Any], *,
                       timeout_s: float = 5.0, interval_s: float = 30.0, critical: bool = True,
                       probe: str = "readiness", depends_on: str | Iterable[str] = ()) -> None:
        """Register ``check_func`` (sync or async, no arguments) as ``component``'s check ``check_name``.

        It returns a bool, a status string or a dict with ``status`` (plus
        ``observed_value``, ``observed_unit``, ``output``, other details);
        raising means unhealthy. Registering the same name again replaces the
        check and keeps its history. ``depends_on`` adds dependencies of the
        component (see ``register_dependency``).
        """
        _name("component", component)
        _name("check_name", check_name)
        if ":" in component:
            raise ValueError(f"component must not contain ':' (probe keys are 'component:check'), not {component!r}")
        if not callable(check_func):
            raise TypeError(f"check_func must be callable, not {type(check_func).__name__}")
        _positive("timeout_s", timeout_s)
        _positive("interval_s", interval_s)
        if not isinstance(critical, bool):
            raise TypeError(f"critical must be a bool, not {type(critical).__name__}")
        if probe not in PROBES:
            raise ValueError(f"probe must be one of {', '.join(PROBES)}, not {probe!r}")
        dependencies = component_names(depends_on, "depends_on")
        if probe == "liveness":
            external = getattr(check_func, EXTERNAL_ATTRIBUTE, None)
            if external is not None:
                raise ValueError(
                    f"check_func is a {external} check, which depends on an external system; a liveness probe "
                    "must not (an outage there would make Kubernetes restart every healthy pod). Register it "
                    "with probe='readiness'.")
            if dependencies:
                raise ValueError("depends_on is not allowed with probe='liveness': liveness never depends on "
                                 "other components; register the dependency for readiness instead")
        if dependencies:
            self._deps.add(component, dependencies)
        with self._lock:
            old = self._checks.get((component, check_name))
            if old is None and len(self._checks) >= self.max_checks:
                raise ValueError(f"cannot register more than max_checks={self.max_checks} checks")
            check = _Check(component, check_name, check_func, _is_async(check_func), float(timeout_s),
                           float(interval_s), critical, probe,
                           old.history if old is not None else collections.deque(maxlen=self.max_history))
            if old is not None:
                check.last, check.hanging, check.hanging_since = old.last, old.hanging, old.hanging_since
            check.next_due = self._clock()
            self._checks[(component, check_name)] = check
        if self._background:
            self.start()
            self._wake.set()

    def unregister_check(self, component: str, check_name: str) -> None:
        """Remove a check (its history goes with it)."""
        _is_text("component", component)
        _is_text("check_name", check_name)
        with self._lock:
            if self._checks.pop((component, check_name), None) is None:
                raise UnknownCheckError(f"no check {check_name!r} registered for component {component!r}")

    def register_dependency(self, component: str, depends_on: str | Iterable[str]) -> None:
        """``component`` needs ``depends_on`` (a name or names): while one of them is unhealthy,
        ``component`` is at best degraded. A cycle is refused with ``ValueError``."""
        _name("component", component)
        self._deps.add(component, component_names(depends_on, "depends_on"))

    # ------------------------------------------------------------------ running

    def run_check(self, component: str, check_name: str) -> dict[str, Any]:
        """Run one check now (waiting at most its timeout) and return its result."""
        return self._run([self._get(component, check_name)])[0]

    def run_all_checks(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Run every check concurrently; ``{component: {check_name: result}}``.

        Takes about as long as the slowest check (each is cut at its timeout).
        """
        with self._lock:
            checks = list(self._checks.values())
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for check, result in zip(checks, self._run(checks), strict=True):
            results.setdefault(check.component, {})[check.name] = result
        return results

    def run_due_checks(self) -> int:
        """Run the checks whose interval has elapsed (what the background runner does); how many ran."""
        now = self._clock()
        with self._lock:
            due = [c for c in self._checks.values() if c.next_due <= now]
        if due:
            self._run(due)
        return len(due)

    def _get(self, component: str, check_name: str) -> _Check:
        _is_text("component", component)
        _is_text("check_name", check_name)
        with self._lock:
            check = self._checks.get((component, check_name))
        if check is None:
            raise UnknownCheckError(f"no check {check_name!r} registered for component {component!r}")
        return check

    def _run(self, checks: list[_Check]) -> list[dict[str, Any]]:
        launched: list[tuple[_Check, Task | None]] = [(check, self._launch(check)) for check in checks]
        return [self._collect(check, task) for check, task in launched]

    def _launch(self, check: _Check) -> Task | None:
        with self._lock:
            hanging = check.hanging
            if hanging is not None and not hanging.future.done():
                return None  # never start a check again while its last call still hangs
            running = check.running
            if running is not None and running.recorded is None:
                return running  # already running (the runner and a caller at once): wait for that call
            if check.is_async:
                task = self._pool.submit_async(_timed_async(check.func))
            else:
                task = self._pool.submit(_timed(check.func))
            check.running = task
            return task

    def _collect(self, check: _Check, task: Task | None) -> dict[str, Any]:
        if task is not None:
            result = self._outcome(check, task)
            with self._lock:
                if task.recorded is None:
                    task.recorded = self._record(check, *result)
                return task.recorded  # type: ignore[no-any-return]
        self._count("skipped_hanging")
        _selfmon.dropped("health", "check_still_hanging")
        since = self._clock() - check.hanging_since
        with self._lock:
            return self._record(check, HealthStatus.UNHEALTHY,
                                f"still running {since:.0f}s after it timed out; not started again until it "
                                "returns", {}, 0.0)

    def _outcome(self, check: _Check, task: Task) -> tuple[HealthStatus, str, dict[str, Any], float]:
        if task.recorded is not None:
            return HealthStatus.UNKNOWN, "", {}, 0.0  # another waiter has recorded it; ignored
        remaining = check.timeout_s - (time.perf_counter() - task.started)
        try:
            outcome = task.future.result(timeout=max(0.0, remaining))
        except (FutureTimeout, CancelledError, asyncio.CancelledError):
            with self._lock:
                if task.recorded is not None:
                    return HealthStatus.UNKNOWN, "", {}, 0.0
                self._counts["timeouts"] += 1
                if self._pool.abandon(task):
                    check.hanging, check.hanging_since = task, self._clock()
                    task.future.add_done_callback(lambda _f: self._returned(check, task))
            return HealthStatus.UNHEALTHY, f"timed out after {check.timeout_s:g}s", {}, check.timeout_s * 1000.0
        value, error, duration_ms = outcome
        if error is not None:
            self._count("errors")
            return HealthStatus.UNHEALTHY, _describe(error), {}, duration_ms
        status, output, details = normalise(value)
        return status, output, details, duration_ms

    def _returned(self, check: _Check, task: Task) -> None:
        with self._lock:
            if check.hanging is task:
                check.hanging = None
            self._counts["late_completions"] += 1

    def _record(self, check: _Check, status: HealthStatus, output: str, details: dict[str, Any],
                duration_ms: float) -> dict[str, Any]:
        now = self._clock()
        result: dict[str, Any] = {
            "component": check.component, "check": check.name, "status": status.value, "output": output,
            "duration_ms": round(duration_ms, 3), "timestamp": iso(now), "time_unix_nano": int(now * 1e9),
            "critical": check.critical, "probe": check.probe,
        }
        for key in ("observed_value", "observed_unit"):
            if key in details:
                result[key] = details.pop(key)
        result["details"] = details
        with self._lock:
            check.last = result
            check.history.append(result)
            check.next_due = now + check.interval_s
            check.runs += 1
            self._counts["runs"] += 1
            self._dirty = True
        # Under the manager's lock (results are recorded in order); the facade's calls are a dict
        # lookup and an add, and never call back into this manager.
        metrics = self._metrics
        if metrics is not None:
            labels = {"component": check.component, "check": check.name}
            with _selfmon.contained("health", key="metrics"):
                metrics.set_gauge(STATUS_METRIC, METRIC_VALUE[status], labels=labels)
                metrics.observe_histogram(DURATION_METRIC, duration_ms, labels=labels)
        return result

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    # ------------------------------------------------------------------ queries

    def _views(self) -> dict[str, list[CheckView]]:
        with self._lock:
            checks = list(self._checks.values())
        grouped: dict[str, list[CheckView]] = {}
        for check in checks:
            grouped.setdefault(check.component, []).append(check.view())
        return grouped

    def _components(self, grouped: dict[str, list[CheckView]], *, dependencies: bool = True,
                    only: Iterable[str] | None = None,
                    full: dict[str, list[CheckView]] | None = None) -> dict[str, dict[str, Any]]:
        # ``full``: every check, when ``grouped`` is a probe's subset (a dependency's status is
        # always judged on all its checks).
        now = self._clock()
        own: dict[str, HealthStatus] = {}

        def dependency_status(name: str) -> HealthStatus:
            if name not in own:
                own[name] = own_status(all_views.get(name, []), now, self.stale_after)
            return own[name]

        all_views = full if full is not None else grouped
        names = list(only) if only is not None else sorted(grouped)
        return {name: component_status(name, grouped.get(name, []),
                                       self._deps.of(name) if dependencies else (), dependency_status, now,
                                       self.stale_after)
                for name in names}

    def get_component_status(self, component: str) -> dict[str, Any]:
        """``{component, status, reason, checks, depends_on}``: worst check wins; an unhealthy
        dependency makes it at best degraded. ``unknown`` with a reason when no check is registered."""
        _is_text("component", component)
        return self._components(self._views(), only=[component])[component]

    def get_system_health(self) -> dict[str, Any]:
        """``{status, timestamp, components, summary}``: the worst component wins."""
        return system_health(self._components(self._views()), self._clock())

    def probe(self, probe: str | None) -> tuple[int, dict[str, Any]]:
        """``(http_status, health+json document)`` for ``probe`` (None: every check)."""
        if probe is not None and probe not in PROBES:
            raise ValueError(f"probe must be one of {', '.join(PROBES)} or None, not {probe!r}")
        full = grouped = self._views()
        if probe is not None:
            grouped = {c: [v for v in views if v.probe == probe] for c, views in full.items()}
            grouped = {c: views for c, views in grouped.items() if views}
        # Liveness never depends on other components, so dependencies are not looked at.
        components = self._components(grouped, dependencies=probe != "liveness", full=full)
        return ietf_document(components, probe=probe, never_run_fails=probe == "startup")

    def get_check_history(self, component: str, check_name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The check's latest results, newest first (at most ``limit``, and at most ``max_history`` kept)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
        check = self._get(component, check_name)
        with self._lock:
            history = list(check.history)
        history.reverse()
        return history[:limit]

    def stats(self) -> dict[str, Any]:
        """Counters: ``runs``, ``timeouts``, ``skipped_hanging`` (not restarted while hanging),
        ``late_completions``, ``errors``; ``hanging`` now; the worker pool's state."""
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
            counts["checks"] = len(self._checks)
            counts["hanging"] = sum(1 for c in self._checks.values()
                                    if c.hanging is not None and not c.hanging.future.done())
        counts["pool"] = self._pool.stats()
        return counts

    def export_health_report(self, path: str | os.PathLike[str]) -> Path:
        """Write one JSON document (system health, every check's history, dependencies, counters) to
        ``path``, atomically; returns the path."""
        target = report_path(path)
        with self._lock:
            history = {c.key: list(reversed(c.history)) for c in self._checks.values()}
        report = {"generated": iso(self._clock()), "system": self.get_system_health(), "history": history,
                  "dependencies": self._deps.snapshot(), "stats": self.stats()}
        return write_report(target, report)

    # ------------------------------------------------------------------ files and lifecycle

    def write_files(self) -> None:
        """Write ``health/health_status.json`` and ``health/health_history.json`` now (no-op without a home)."""
        if self._files is None:
            return
        with self._lock:
            history = {c.key: list(reversed(c.history)) for c in self._checks.values()}
            self._dirty = False
        self._last_write = time.monotonic()
        self._files.write(self.get_system_health(), history)

    def flush(self) -> None:
        """Write the files if a result arrived since they were last written."""
        if self._dirty:
            with _selfmon.contained("health", key="write files"):
                self.write_files()

    def start(self) -> None:
        """Start the background runner (each check every ``interval_s``); safe to call twice."""
        with self._lock:
            if self._closed or (self._runner is not None and self._runner.is_alive()):
                return
            self._stop = threading.Event()
            self._runner = threading.Thread(target=self._run_forever, name="monitoring-layer-health-runner",
                                            daemon=True)
            self._runner.start()

    def _run_forever(self) -> None:
        stop = self._stop
        while not stop.is_set():
            try:
                self.run_due_checks()
                if self._dirty and time.monotonic() - self._last_write >= self.write_interval_s:
                    self.write_files()
            except Exception as exc:  # noqa: BLE001 - the runner must survive anything
                _selfmon.fault("health", exc, key="runner", strict=False)
            now = self._clock()
            with self._lock:
                next_due = min((c.next_due for c in self._checks.values()), default=now + self.write_interval_s)
            delay = min(max(next_due - now, 0.01), self.write_interval_s)
            self._wake.wait(delay)
            self._wake.clear()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background runner (a check it is waiting on keeps its own timeout)."""
        self._stop.set()
        self._wake.set()
        runner = self._runner
        if runner is not None and runner is not threading.current_thread():
            runner.join(timeout_s)

    def close(self) -> None:
        """Stop the runner, write the files once more, stop the async loop. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.stop()
        self.flush()
        self._pool.close()
        self._unregister()

    def _after_fork_child(self) -> None:
        # Threads do not survive fork: new locks, no workers, nothing hanging, and the
        # runner started again when the parent had one (the child checks its own health).
        self._lock = threading.RLock()
        self._pool.after_fork_child()
        for check in self._checks.values():
            check.hanging = check.running = None
        was_running = self._runner is not None and not self._stop.is_set()
        self._runner = None
        self._wake = threading.Event()
        if was_running and not self._closed:
            self.start()

    def __repr__(self) -> str:
        return f"<HealthCheckManager {len(self._checks)} checks>"


def _name(argument: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{argument} must be a non-empty string")


def _is_text(argument: str, value: object) -> None:
    """A name given to a query must be a string (a list would fail as an unhashable key)."""
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a string, not {type(value).__name__}")


def _positive(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number of seconds, not {type(value).__name__}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int beyond a float
        finite = False
    if not (finite and value > 0):
        raise ValueError(f"{argument} must be a positive finite number, not {value!r}")


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    return call is not None and inspect.iscoroutinefunction(call)


def _timed(func: Callable[[], Any]) -> Callable[[], tuple[Any, BaseException | None, float]]:
    """``func`` as ``(value, error, duration_ms)``, measured on the worker (queueing excluded)."""

    def call() -> tuple[Any, BaseException | None, float]:
        start = time.perf_counter()
        try:
            value = func()
            if inspect.isawaitable(value):  # a sync callable that returned a coroutine
                value = asyncio.run(_await(value))
        except Exception as exc:  # noqa: BLE001 - a raising check is unhealthy
            return None, exc, (time.perf_counter() - start) * 1000.0
        return value, None, (time.perf_counter() - start) * 1000.0

    return call


def _timed_async(func: Callable[[], Any]) -> Callable[[], Any]:
    async def call() -> tuple[Any, BaseException | None, float]:
        start = time.perf_counter()
        try:
            value = await func()
        except Exception as exc:  # noqa: BLE001 - a raising check is unhealthy
            return None, exc, (time.perf_counter() - start) * 1000.0
        return value, None, (time.perf_counter() - start) * 1000.0

    return call


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
