"""The dashboard's HTTP handlers, mounted on a ``_http.Router`` of the one server.

``mount_dashboard(router, dashboard, token=None)`` adds:

* ``GET /``: the page (HTML), ``GET /static/dashboard.js`` and ``/static/dashboard.css``:
  files shipped in the package, no CDN, works offline;
* ``GET /api/summary|metrics|traces|logs|health|alerts|timeline|performance|services``:
  the panels as JSON, their filters as query parameters (``/api/traces?trace_id=``
  answers one trace for the waterfall);
* ``POST /api/alerts/acknowledge`` and ``/api/alerts/resolve`` with a JSON body
  ``{"alert_id": "...", "by": "..."}``: POST only (405 otherwise).

Security: every response carries a Content-Security-Policy that allows scripts
and styles from this origin only (no inline script, so injected markup cannot
run), ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``; the page
builds its DOM with ``textContent`` only. With a token (the argument, else the
``dashboard_token`` setting, ``MONITORING_DASHBOARD_TOKEN``), ``/api/*`` and the actions require
``Authorization: Bearer <token>`` (401 otherwise, compared in constant time).
Actions need a token to be configured at all (403 without one): a dashboard
anyone on the machine can open must not let anyone silence alerts. Panels
never carry secrets (the engines' channel configs are removed before).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from monitoring_layer import config
from monitoring_layer._http import Request, Response, Router

from .observability_dashboard import ObservabilityDashboard

__all__ = ["CSP", "TOKEN_ENV", "mount_dashboard"]

TOKEN_ENV = "MONITORING_DASHBOARD_TOKEN"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}


class BadRequest(ValueError):
    """A query parameter or body the API cannot use (answered 400)."""


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _secure(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _secure(Response.json({"error": message}, status, headers=headers))


def _int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.param(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None


def _float(request: Request, name: str, default: float) -> float:
    raw = request.param(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {raw!r}") from None


def _text(request: Request, name: str) -> str | None:
    value = request.param(name)
    return value or None


def mount_dashboard(router: Router, dashboard: ObservabilityDashboard, token: str | None = None, *,
                    environ: Mapping[str, str] | None = None) -> None:
    """Add the dashboard's page, API and actions to ``router`` (see the module docstring)."""
    if not isinstance(router, Router):
        raise TypeError(f"router must be a Router, got {type(router).__name__}")
    if not isinstance(dashboard, ObservabilityDashboard):
        raise TypeError(f"dashboard must be an ObservabilityDashboard, got {type(dashboard).__name__}")
    if token is None:
        # The dashboard_token setting: from ``environ`` alone when given (a command that reads only
        # the settings it uses), else the process-wide settings (so ``configure()`` applies).
        token = (config.get_settings().dashboard_token if environ is None
                 else config.resolve_setting("dashboard_token", environ))
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ValueError("token must be a non-empty string or None")
    expected = token.encode() if token else None

    def authorized(request: Request) -> bool:
        if expected is None:
            return True
        header = request.header("Authorization") or ""
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def page(name: str, content_type: str) -> Callable[[Request], Response]:
        body = _static(name)

        def handler(_request: Request) -> Response:
            return _secure(Response(200, body, content_type))

        return handler

    for path, (name, content_type) in _STATIC.items():
        router.add(path, page(name, content_type))

    def api(build: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            if not authorized(request):
                return _error(401, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="dashboard"'})
            try:
                document = build(request)
            except (BadRequest, ValueError, TypeError) as exc:
                return _error(400, str(exc))
            if document is None:
                return _error(404, "not found")
            return _secure(Response.json(document))

        return handler

    def summary(_r: Request) -> Any:
        document = dashboard.get_dashboard_summary()
        document["auth_required"] = expected is not None
        document["actions_enabled"] = bool(document["actions_enabled"] and expected is not None)
        return document

    def traces(r: Request) -> Any:
        trace_id = _text(r, "trace_id")
        if trace_id is not None:
            return dashboard.get_trace(trace_id)
        return dashboard.get_traces_panel(status=_text(r, "status"), service=_text(r, "service"),
                                          limit=_int(r, "limit", 50) or 0)

    def alerts(r: Request) -> Any:
        document = dashboard.get_alerts_panel(severity=_text(r, "severity"))
        document["actions_enabled"] = bool(document["actions_enabled"] and expected is not None)
        return document

    routes: dict[str, Callable[[Request], Any]] = {
        "/api/summary": summary,
        "/api/metrics": lambda r: dashboard.get_metrics_panel(metric_name=_text(r, "name") or _text(r, "metric_name")),
        "/api/traces": traces,
        "/api/logs": lambda r: dashboard.get_logs_panel(
            component=_text(r, "component"), level=_text(r, "level"), query=_text(r, "query"),
            limit=_int(r, "limit", 100) or 0),
        "/api/health": lambda r: dashboard.get_health_panel(),
        "/api/alerts": alerts,
        "/api/timeline": lambda r: dashboard.get_timeline_data(
            hours=_float(r, "hours", 24), bucket_minutes=_int(r, "bucket_minutes", None)),
        "/api/performance": lambda r: dashboard.get_performance_metrics(),
        "/api/services": lambda r: dashboard.get_service_status(),
    }
    for path, build in routes.items():
        router.add(path, api(build))

    def action(name: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            if expected is None:
                return _error(403, f"actions are disabled: set {TOKEN_ENV} to enable them")
            if not authorized(request):
                return _error(401, "a bearer token is required", {"WWW-Authenticate": 'Bearer realm="dashboard"'})
            if dashboard.read_only:
                return _error(409, "this dashboard is read-only: no alert engine to act through")
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return _error(400, "the body must be JSON: {\"alert_id\": ..., \"by\": ...}")
            if not isinstance(body, dict) or not isinstance(body.get("alert_id"), str) or not body["alert_id"]:
                return _error(400, "alert_id (a non-empty string) is required")
            by = body.get("by")
            by = by if isinstance(by, str) and by.strip() else "dashboard"
            act = dashboard.acknowledge_alert if name == "acknowledge" else dashboard.resolve_alert
            try:
                done = act(body["alert_id"], by=by[:100])
            except ValueError as exc:  # the engine refused the transition (e.g. already resolved)
                return _error(409, str(exc))
            if not done:
                return _error(404, f"no alert {body['alert_id']!r} to {name}")
            return _secure(Response.json({"ok": True, "alert_id": body["alert_id"], "action": name}))

        return handler

    for name in ("acknowledge", "resolve"):
        router.add(f"/api/alerts/{name}", action(name), methods=("POST",))
