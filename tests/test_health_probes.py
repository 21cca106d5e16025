"""Probes over real HTTP (exact codes, content type, body), health as metrics through the pipeline,
the two health files against their schemas, and the process-wide getter and serve_health."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import jsonschema
import pytest

import monitoring_layer
from monitoring_layer import HealthCheckManager, _http
from monitoring_layer.cli import main
from monitoring_layer.exporters import load_schema, validate
from monitoring_layer.health import mount_health
from monitoring_layer.metrics import MetricsCollector

NOW = 1_700_000_000.0
TIME = "2023-11-14T22:13:20.000Z"


def _get(url: str) -> tuple[int, str, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], json.load(response), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], json.load(exc), dict(exc.headers)


@pytest.fixture
def served():
    manager = HealthCheckManager(clock=lambda: NOW, background=False)
    router = _http.Router()
    mount_health(router, manager)
    server = _http.start_server(router, "127.0.0.1", 0)
    yield manager, server.url
    server.close()
    manager.close()


@pytest.mark.integration
def test_probes_answer_health_json_with_exact_codes_and_bodies(served):
    manager, url = served
    state = {"db": True}
    manager.register_check("app", "event_loop", lambda: True, probe="liveness")
    manager.register_check("db", "ping", lambda: {"status": state["db"], "observed_value": 3.5,
                                                  "observed_unit": "ms", "output": "refused"})
    manager.register_check("cache", "hit_rate", lambda: "degraded", critical=False, probe="startup")

    # Nothing ran yet: readiness warns (unknown), startup fails (not started), liveness warns.
    code, ctype, body, headers = _get(url + "/startupz")
    assert (code, ctype) == (503, "application/health+json") and headers["Cache-Control"] == "no-store"
    assert body["status"] == "fail" and body["checks"]["cache:hit_rate"][0]["status"] == "fail"

    manager.run_all_checks()
    code, ctype, body, _ = _get(url + "/readyz")
    assert (code, ctype) == (200, "application/health+json")
    assert body == {"status": "pass", "description": "readiness probe", "checks": {"db:ping": [
        {"componentId": "db", "componentType": "component", "status": "pass", "observedValue": 3.5,
         "observedUnit": "ms", "time": TIME}]}}

    code, _, body, _ = _get(url + "/livez")
    assert code == 200 and body == {"status": "pass", "description": "liveness probe", "checks": {
        "app:event_loop": [{"componentId": "app", "componentType": "component", "status": "pass", "time": TIME}]}}

    code, _, body, _ = _get(url + "/startupz")
    assert code == 200 and body["status"] == "warn"  # a degraded non-critical check warns, never fails

    state["db"] = False
    manager.run_all_checks()
    code, _, body, _ = _get(url + "/readyz")
    assert code == 503
    assert body == {"status": "fail", "description": "readiness probe", "checks": {"db:ping": [
        {"componentId": "db", "componentType": "component", "status": "fail", "observedValue": 3.5,
         "observedUnit": "ms", "time": TIME, "output": "refused"}]},
        "output": "db: check 'ping' is unhealthy: refused"}
    code, _, body, _ = _get(url + "/livez")
    assert code == 200 and body["status"] == "pass"  # liveness never looks at the database

    code, _, body, _ = _get(url + "/healthz")
    assert code == 503 and set(body["checks"]) == {"app:event_loop", "db:ping", "cache:hit_rate"}
    assert "description" not in body

    request = urllib.request.Request(url + "/readyz", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    with refused.value:
        assert refused.value.code == 405


@pytest.mark.integration
def test_liveness_ignores_dependencies_readiness_warns(served):
    manager, url = served
    manager.register_check("kafka", "broker", lambda: False)
    manager.register_check("api", "alive", lambda: True, probe="liveness")
    manager.register_check("api", "ready", lambda: True)
    manager.register_dependency("api", "kafka")
    manager.run_all_checks()
    assert _get(url + "/livez")[:1] == (200,) and _get(url + "/livez")[2]["status"] == "pass"
    code, _, body, _ = _get(url + "/readyz")
    assert code == 503 and "api: depends on 'kafka', which is unhealthy" in body["output"]


def test_an_empty_probe_passes():
    manager = HealthCheckManager(background=False)
    assert manager.probe("liveness") == (200, {"status": "pass", "description": "liveness probe", "checks": {}})
    with pytest.raises(ValueError, match="probe"):
        manager.probe("sideways")
    manager.close()


def test_health_is_metrics_through_the_pipeline(pipeline, home):
    metrics = MetricsCollector(pipeline=pipeline)
    manager = HealthCheckManager(metrics_collector=metrics, background=False)
    manager.register_check("db", "ping", lambda: True)
    manager.register_check("db", "disk", lambda: "degraded")
    manager.register_check("kafka", "broker", lambda: False)
    manager.register_check("odd", "none", lambda: None)
    manager.run_all_checks()
    assert pipeline.flush()

    doc = json.loads((home / "metrics/metrics_registry.json").read_text())
    gauge = doc["metrics"]["health_check_status"]
    values = {(s["labels"]["component"], s["labels"]["check"]): s["points"][-1]["value"] for s in gauge["series"]}
    assert values == {("db", "ping"): 1, ("db", "disk"): 0.5, ("kafka", "broker"): 0, ("odd", "none"): -1}
    durations = doc["metrics"]["health_check_duration_ms"]
    assert {s["labels"]["check"] for s in durations["series"]} == {"ping", "disk", "broker", "none"}

    text = metrics.export_prometheus_format()
    assert 'health_check_status{check="broker",component="kafka"' in text
    assert "health_check_duration_seconds_bucket{" in text
    manager.close()


def test_health_files_match_their_schemas_and_check_accepts_them(home, tmp_path):
    manager = HealthCheckManager(home=home, background=False, max_history=3)
    manager.register_check("db", "ping", lambda: {"status": True, "observed_value": 1, "observed_unit": "x"})
    manager.register_check("kafka", "broker", lambda: False, depends_on=())
    manager.register_dependency("api", "kafka")
    manager.register_check("api", "self", lambda: True)
    for _ in range(5):
        manager.run_all_checks()
    manager.flush()
    status = json.loads((home / "health/health_status.json").read_text())
    history = json.loads((home / "health/health_history.json").read_text())
    for doc, name in ((status, "health_status"), (history, "health_history")):
        schema = load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(doc, schema)
        assert validate(doc, schema) == []
    assert status["status"] == "unhealthy" and status["components"]["api"]["status"] == "degraded"
    assert len(history["checks"]["db:ping"]) == 3  # bounded, newest kept
    assert main(["check", "--home", str(home)]) == 0

    # Another process's components are kept when this one writes.
    other = HealthCheckManager(home=home, background=False)
    other.register_check("spark", "driver", lambda: True)
    other.run_all_checks()
    other.flush()
    status = json.loads((home / "health/health_status.json").read_text())
    assert set(status["components"]) == {"api", "db", "kafka", "spark"}
    manager.close()
    other.close()


@pytest.fixture
def process_health(process_wide):
    from monitoring_layer import _defaults

    _defaults._HEALTH.replace(None)
    yield process_wide
    _defaults._HEALTH.replace(None)  # closes the manager built on this test's pipeline


@pytest.mark.integration
def test_process_wide_manager_and_serve_health(process_health, home):
    health = monitoring_layer.get_health_check_manager()
    assert health is monitoring_layer.get_health_check_manager() and health.home == home
    health.register_check("db", "ping", lambda: True)
    health.run_check("db", "ping")
    server = monitoring_layer.serve_health(host="127.0.0.1", port=0)
    try:
        code, ctype, body, _ = _get(server.url + "/readyz")
        assert (code, ctype) == (200, "application/health+json") and body["status"] == "pass"
        assert _get(server.url + "/healthz")[2]["checks"]["db:ping"][0]["status"] == "pass"
    finally:
        server.close()
    monitoring_layer.flush()  # the pipeline's files, then the lifecycle hooks: the health files
    doc = json.loads((home / "metrics/metrics_registry.json").read_text())
    assert doc["metrics"]["health_check_status"]["series"][0]["points"][-1]["value"] == 1
    assert json.loads((home / "health/health_status.json").read_text())["status"] == "healthy"
    readings = [r for r in process_health.readings.latest() if r.name == "health_check_status"]
    assert [(r.labels["component"], r.labels["check"], r.value) for r in readings] == [("db", "ping", 1.0)]


@pytest.mark.integration
def test_readme_health_snippet_runs(run_python):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Health checks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0].replace("port=8081", "port=0")
    proc = run_python(code + "\nprint(health.get_component_status('api')['status'])\nserver.close()\n")
    assert proc.stdout.strip().splitlines()[-1] in ("degraded", "unhealthy")
