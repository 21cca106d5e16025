"""The dashboard's HTTP routes on a real server on loopback: statuses, types, token, POST-only, escaping."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from importlib import resources

import pytest
from _dashboard_seed import FakeAlerts, FakeHealth, seed

from monitoring_layer._http import Router, start_server
from monitoring_layer.dashboard import ObservabilityDashboard, mount_dashboard
from monitoring_layer.logging import LogAggregator
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.tracing import TracingCollector

pytestmark = pytest.mark.integration

API = ["summary", "metrics", "traces", "logs", "health", "alerts", "timeline", "performance", "services"]
TOKEN = "s3cret-token"


def request(url: str, method: str = "GET", token: str | None = None, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def dashboard(pipeline):
    metrics = MetricsCollector(pipeline=pipeline)
    logs = LogAggregator(pipeline.logger_provider, settings=pipeline.settings)
    traces = TracingCollector(pipeline.tracer_provider, settings=pipeline.settings)
    board = ObservabilityDashboard(metrics, logs, traces, health_manager=FakeHealth(), alert_manager=FakeAlerts())
    seed(metrics, logs, traces)
    yield board
    metrics.close()


def serve(dashboard, token=None, environ=None):
    router = Router()
    mount_dashboard(router, dashboard, token=token, environ=environ if environ is not None else {})
    return start_server(router, "127.0.0.1", 0)


def test_every_route_answers_with_its_content_type(dashboard):
    with serve(dashboard) as server:
        status, headers, body = request(server.url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<script src="/static/dashboard.js"' in body
        for path, kind in (("/static/dashboard.js", "text/javascript"), ("/static/dashboard.css", "text/css")):
            status, headers, _ = request(server.url + path)
            assert status == 200 and headers["Content-Type"].startswith(kind), path
        for name in API:
            status, headers, body = request(server.url + f"/api/{name}")
            assert status == 200 and headers["Content-Type"] == "application/json", name
            assert isinstance(json.loads(body), dict)
            assert headers["Cache-Control"] == "no-store"
        assert request(server.url + "/nope")[0] == 404
        assert request(server.url + "/api/nope")[0] == 404


def test_query_parameters_filter(dashboard):
    with serve(dashboard) as server:
        errors = json.loads(request(server.url + "/api/traces?status=error&limit=100")[2])
        assert errors["count"] == 4 and {t["status"] for t in errors["traces"]} == {"ERROR"}
        trace_id = errors["traces"][0]["trace_id"]
        trace = json.loads(request(server.url + f"/api/traces?trace_id={trace_id}")[2])
        assert trace["trace_id"] == trace_id and trace["spans"]
        assert request(server.url + "/api/traces?trace_id=" + "0" * 32)[0] == 404
        logs = json.loads(request(server.url + "/api/logs?component=api&level=ERROR")[2])["logs"]
        assert len(logs) == 2 and {r["component"] for r in logs} == {"api"}
        assert json.loads(request(server.url + "/api/logs?query=deadlock")[2])["count"] == 1
        alerts = json.loads(request(server.url + "/api/alerts?severity=Critical")[2])
        assert [a["alert_id"] for a in alerts["alerts"]] == ["a1"]
        metric = json.loads(request(server.url + "/api/metrics?name=request_latency")[2])
        assert metric["count"] == 1
        timeline = json.loads(request(server.url + "/api/timeline?hours=2&bucket_minutes=10")[2])
        assert timeline["bucket_minutes"] == 10
        status, _, body = request(server.url + "/api/traces?limit=many")
        assert status == 400 and "limit" in json.loads(body)["error"]
        assert request(server.url + "/api/logs?level=LOUD")[0] == 400


def test_security_headers_forbid_inline_script_and_framing(dashboard):
    with serve(dashboard) as server:
        for path in ("/", "/api/summary"):
            _, headers, _ = request(server.url + path)
            csp = headers["Content-Security-Policy"]
            script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
            assert "'self'" in script_src and "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "frame-ancestors 'none'" in csp
            assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_never_parses_data_as_html():
    static = resources.files("monitoring_layer.dashboard").joinpath("static")
    script = static.joinpath("dashboard.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    page = static.joinpath("index.html").read_text()
    assert "<script>" not in page and not re.search(r"\son[a-z]+\s*=", page)  # no inline script or handler


def test_the_api_returns_payloads_as_data_and_no_secret(dashboard):
    with serve(dashboard) as server:
        everything = b"".join(request(server.url + f"/api/{name}")[2] for name in API)
    assert b"SECRET-TOKEN" not in everything and b"hooks.example" not in everything
    assert b"<script>" in everything  # the XSS payloads travel as JSON strings; the page shows them as text


def test_token_is_required_on_the_api_when_configured(dashboard):
    with serve(dashboard, environ={"MONITORING_DASHBOARD_TOKEN": TOKEN}) as server:
        assert request(server.url + "/")[0] == 200  # the page holds no data
        for name in API:
            status, headers, _ = request(server.url + f"/api/{name}")
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), name
            assert request(server.url + f"/api/{name}", token="wrong")[0] == 401
            assert request(server.url + f"/api/{name}", token=TOKEN)[0] == 200
        summary = json.loads(request(server.url + "/api/summary", token=TOKEN)[2])
        assert summary["auth_required"] is True and summary["actions_enabled"] is True


def test_actions_are_post_only_and_need_the_token(dashboard):
    alerts = dashboard.alert_manager
    with serve(dashboard, token=TOKEN) as server:
        url = server.url + "/api/alerts/acknowledge"
        assert request(url)[0] == 405
        assert request(url, "POST", body={"alert_id": "a1"})[0] == 401
        assert request(url, "POST", token=TOKEN, body={"alert_id": "a1", "by": "oncall"})[0] == 200
        assert request(url, "POST", token=TOKEN, body={"alert_id": "zz"})[0] == 404
        assert request(url, "POST", token=TOKEN, body={})[0] == 400
        assert request(server.url + "/api/alerts/resolve", "POST", token=TOKEN, body={"alert_id": "a1"})[0] == 200
        status, _, body = request(url, "POST", token=TOKEN, body={"alert_id": "a1"})
        assert status == 409 and b"resolved" in body  # the engine refused: the alert is resolved
    assert alerts.actions == [("ack", "a1", "oncall"), ("ack", "zz", "dashboard"), ("resolve", "a1", "dashboard"),
                              ("ack", "a1", "dashboard")]
    with serve(dashboard) as server:  # no token configured: nobody may act
        status, _, body = request(server.url + "/api/alerts/resolve", "POST", body={"alert_id": "a2"})
        assert status == 403 and b"MONITORING_DASHBOARD_TOKEN" in body
        assert json.loads(request(server.url + "/api/summary")[2])["actions_enabled"] is False


def test_a_home_dashboard_cannot_act(tmp_path):
    with serve(ObservabilityDashboard.from_home(tmp_path), token=TOKEN) as server:
        status, _, _ = request(server.url + "/api/alerts/acknowledge", "POST", token=TOKEN, body={"alert_id": "a1"})
        assert status == 409
        assert json.loads(request(server.url + "/api/summary", token=TOKEN)[2])["actions_enabled"] is False


def test_mount_checks_its_arguments(dashboard):
    with pytest.raises(TypeError, match="router"):
        mount_dashboard(object(), dashboard)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dashboard"):
        mount_dashboard(Router(), object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token"):
        mount_dashboard(Router(), dashboard, token="  ")


def test_serve_puts_the_dashboard_on_the_one_server(process_wide):
    import monitoring_layer

    traces = monitoring_layer.get_tracing_collector()
    trace_id = traces.start_trace(service="served")
    traces.end_trace(trace_id)
    monitoring_layer.get_log_aggregator().error("api", "served error")
    handle = monitoring_layer.serve(host="127.0.0.1", port=0)
    try:
        status, headers, body = request(handle.url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        summary = json.loads(request(handle.url + "/api/summary")[2])
        assert summary["counts"]["traces"] == 1 and summary["counts"]["log_errors"] == 1
        assert request(handle.url + "/metrics")[0] == 200
        for probe in ("/livez", "/readyz", "/startupz", "/healthz"):  # the health engine's, on the same server
            status, headers, _ = request(handle.url + probe)
            assert status == 200 and headers["Content-Type"] == "application/health+json", probe
        assert monitoring_layer.get_observability_dashboard() is monitoring_layer.get_observability_dashboard()
    finally:
        handle.close()


def test_token_comes_from_the_settings_and_configure(dashboard):
    from monitoring_layer import config

    config.configure(dashboard_token=TOKEN)
    router = Router()
    mount_dashboard(router, dashboard)  # no environ given: the process-wide settings
    with start_server(router, "127.0.0.1", 0) as server:
        assert request(server.url + "/api/summary")[0] == 401
        assert request(server.url + "/api/summary", token=TOKEN)[0] == 200
    with pytest.raises(ValueError, match="MONITORING_DASHBOARD_TOKEN"):
        with serve(dashboard, environ={"MONITORING_DASHBOARD_TOKEN": "  "}):
            pass
