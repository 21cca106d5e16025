"""A ``Router`` with the dashboard, ``/metrics`` and the probe paths, for ``serve`` and ``demo``.

The probes answer from the dashboard's health panel: ``/livez`` and
``/startupz`` say the server runs; ``/readyz`` and ``/healthz`` are 503 when
the health engine reports ``unhealthy`` (``/healthz`` in
``application/health+json``). ``/metrics`` is the Prometheus exposition of the
registry given (the pipeline's), absent without one (a home's files hold no
live registry).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitoring_layer._http import Request, Response, Router

from ._web import mount_dashboard
from .observability_dashboard import ObservabilityDashboard

__all__ = ["build_router", "mount_probes"]

_HEALTH_JSON = {"healthy": "pass", "degraded": "warn", "unknown": "pass", "unhealthy": "fail"}


def mount_probes(router: Router, dashboard: ObservabilityDashboard) -> None:
    """``/livez``, ``/startupz``, ``/readyz`` and ``/healthz`` answered from ``dashboard``'s health panel."""

    def alive(_request: Request) -> Response:
        return Response.text("ok\n")

    def ready(_request: Request) -> Response:
        status = dashboard.get_health_panel()["status"]
        return Response.text(f"{status}\n", 503 if status == "unhealthy" else 200)

    def health(_request: Request) -> Response:
        panel = dashboard.get_health_panel()
        checks = {c["component"]: [{"status": _HEALTH_JSON.get(c["status"], "pass"), "observedValue": c["status"]}]
                  for c in panel["components"]}
        status = _HEALTH_JSON.get(panel["status"], "pass")
        return Response.json({"status": status, "checks": checks}, 503 if status == "fail" else 200,
                             content_type="application/health+json")

    for path, handler in (("/livez", alive), ("/startupz", alive), ("/readyz", ready), ("/healthz", health)):
        router.add(path, handler)


def build_router(dashboard: ObservabilityDashboard, *, prometheus_registry: Any = None,
                 token: str | None = None, environ: Any = None) -> Router:
    """The dashboard's page and API, the probes, and ``/metrics`` when a registry is given."""
    router = Router()
    mount_dashboard(router, dashboard, token=token, environ=environ)
    mount_probes(router, dashboard)
    if prometheus_registry is not None:
        def metrics(_request: Request) -> Response:
            return Response(200, generate_latest(prometheus_registry), CONTENT_TYPE_LATEST)

        router.add("/metrics", metrics)
    return router
