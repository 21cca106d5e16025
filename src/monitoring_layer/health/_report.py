"""From the latest results to statuses: checks, components, the system, and the IETF probe documents.

Pure functions over a snapshot of the checks (no locks, no waiting): the
probes and status queries only read what the checks last reported.

* A check with no result yet is ``unknown`` ("not run yet"); a result older than
  ``stale_after`` intervals is ``unknown`` too, marked ``stale``.
* A component is the worst of its checks, where a non-critical check that is
  unhealthy or degraded counts as ``degraded``. A component with no checks is
  ``unknown``.
* A component whose dependency is unhealthy (by its own checks) is at best
  ``degraded``, and its ``reason`` names the dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._status import IETF, HealthStatus, iso, worst

__all__ = ["CheckView", "component_status", "ietf_document", "system_health"]

HEALTHY, DEGRADED, UNHEALTHY, UNKNOWN = (HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY,
                                         HealthStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class CheckView:
    """What the reports need of one registered check: its settings and latest result."""

    component: str
    name: str
    critical: bool
    probe: str
    interval_s: float
    last: Mapping[str, Any] | None


def effective(view: CheckView, now: float, stale_after: float) -> tuple[HealthStatus, dict[str, Any]]:
    """The check's status now, and the result document to show for it."""
    last = view.last
    if last is None:
        return UNKNOWN, {"component": view.component, "check": view.name, "status": UNKNOWN.value,
                         "output": "not run yet", "duration_ms": None, "timestamp": None,
                         "critical": view.critical, "probe": view.probe, "details": {}}
    age = now - last["time_unix_nano"] / 1e9
    if age > stale_after * view.interval_s:
        doc = dict(last)
        doc.update(status=UNKNOWN.value, stale=True,
                   output=f"stale: the last result ({last['status']}) is {age:.0f}s old, more than "
                          f"{stale_after:g} intervals of {view.interval_s:g}s")
        return UNKNOWN, doc
    return HealthStatus(last["status"]), dict(last)


def _contribution(view: CheckView, status: HealthStatus) -> HealthStatus:
    # A failing non-critical check degrades its component; it never makes it unhealthy.
    if not view.critical and status in (UNHEALTHY, DEGRADED):
        return DEGRADED
    return status


def own_status(views: Sequence[CheckView], now: float, stale_after: float) -> HealthStatus:
    """A component's status from its own checks only (no dependencies)."""
    if not views:
        return UNKNOWN
    return worst(_contribution(v, effective(v, now, stale_after)[0]) for v in views)


def component_status(component: str, views: Sequence[CheckView], depends_on: Iterable[str],
                     dependency_status: Callable[[str], HealthStatus], now: float,
                     stale_after: float) -> dict[str, Any]:
    """``{component, status, reason, checks, depends_on}`` (see the module docstring)."""
    statuses: list[HealthStatus] = []
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    for view in views:
        status, doc = effective(view, now, stale_after)
        checks[view.name] = doc
        counted = _contribution(view, status)
        statuses.append(counted)
        if status is not HEALTHY:
            what = f"check {view.name!r} is {status.value}"
            if not view.critical and counted is not status:
                what += " (non-critical)"
            output = doc.get("output")
            reasons.append(f"{what}: {output}" if output else what)
    overall = worst(statuses) if views else UNKNOWN
    if not views:
        reasons.append("no checks registered")
    deps = list(depends_on)
    for dependency in deps:
        if dependency_status(dependency) is UNHEALTHY:
            overall = worst((overall, DEGRADED))
            reasons.append(f"depends on {dependency!r}, which is unhealthy")
    return {"component": component, "status": overall.value, "reason": "; ".join(reasons),
            "checks": checks, "depends_on": deps}


def system_health(components: Mapping[str, dict[str, Any]], now: float) -> dict[str, Any]:
    """``{status, timestamp, components, summary}``: worst component wins (healthy when none)."""
    statuses = [HealthStatus(c["status"]) for c in components.values()]
    summary = {s.value: 0 for s in HealthStatus}
    for status in statuses:
        summary[status.value] += 1
    return {"status": worst(statuses).value, "timestamp": iso(now), "time_unix_nano": int(now * 1e9),
            "components": dict(components), "summary": summary}


def ietf_document(components: Mapping[str, dict[str, Any]], *, probe: str | None,
                  never_run_fails: bool) -> tuple[int, dict[str, Any]]:
    """``(http_status, document)`` in the IETF health-check draft format (``application/health+json``).

    ``components`` are ``component_status`` documents restricted to the probe's
    checks. 200 for ``pass`` and ``warn``, 503 for ``fail``. With
    ``never_run_fails`` (the startup probe) a check that has not run yet fails.
    """
    overall: list[str] = []
    checks: dict[str, list[dict[str, Any]]] = {}
    for name, component in components.items():
        status = IETF[HealthStatus(component["status"])]
        for check_name, result in component["checks"].items():
            check_status = IETF[HealthStatus(result["status"])]
            if never_run_fails and result.get("timestamp") is None:
                check_status = status = "fail"
            entry: dict[str, Any] = {"componentId": name, "componentType": "component", "status": check_status}
            if result.get("observed_value") is not None:
                entry["observedValue"] = result["observed_value"]
            if result.get("observed_unit"):
                entry["observedUnit"] = result["observed_unit"]
            if result.get("timestamp"):
                entry["time"] = result["timestamp"]
            if check_status != "pass" and result.get("output"):
                entry["output"] = result["output"]
            checks[f"{name}:{check_name}"] = [entry]
        overall.append(status)
    verdict = "fail" if "fail" in overall else "warn" if "warn" in overall else "pass"
    document: dict[str, Any] = {"status": verdict}
    if probe is not None:
        document["description"] = f"{probe} probe"
    document["checks"] = checks
    if verdict != "pass":
        document["output"] = "; ".join(f"{n}: {c['reason']}" for n, c in components.items()
                                       if c["status"] != HEALTHY.value and c["reason"])[:2000]
    return (503 if verdict == "fail" else 200), document
