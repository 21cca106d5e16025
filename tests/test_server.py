"""The one embedded server: /metrics with content negotiation, 404 elsewhere, mounts, serve()."""

from __future__ import annotations

import gzip
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import monitoring_layer
from monitoring_layer import config, server
from monitoring_layer._http import Request, Response, Router
from monitoring_layer.metrics import MetricsCollector
from monitoring_layer.pipeline import Pipeline

from _requires import require

pytestmark = pytest.mark.integration


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


@pytest.fixture
def served() -> Iterator[Pipeline]:
    settings = config.resolve_settings(overrides={"export_interval_s": 3600, "prometheus_port": 0})
    built = Pipeline(settings)
    yield built
    built.shutdown()


def test_metrics_port_serves_metrics_and_404_elsewhere(served: Pipeline) -> None:
    host, port = served.prometheus_address  # type: ignore[misc]
    assert host == "127.0.0.1"
    metrics = MetricsCollector(pipeline=served)
    metrics.increment_counter("app_requests")
    served.flush()
    served.flush()
    base = f"http://{host}:{port}"
    status, headers, body = _get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert text.count("# HELP app_requests_total ") == 1
    promtool = require("promtool", "Debian package 'prometheus' provides promtool")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ("/anything", "/", "/metrics/x", "/healthzz"):
        assert _get(base + path)[0] == 404, path
    # The health probes are mounted on the one server (no check registered: pass).
    status, headers, body = _get(base + "/healthz")
    assert (status, headers["Content-Type"]) == (200, "application/health+json")


def test_metrics_content_negotiation_and_gzip(served: Pipeline) -> None:
    host, port = served.prometheus_address  # type: ignore[misc]
    MetricsCollector(pipeline=served).increment_counter("app_requests")
    url = f"http://{host}:{port}/metrics"
    status, headers, body = _get(url, {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.decode().rstrip().endswith("# EOF")
    status, headers, body = _get(url, {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"
    assert b"app_requests_total" in gzip.decompress(body)
    status, _headers, body = _get(url + "?name[]=app_requests_total")
    assert status == 200 and b"app_requests_total" in body and b"target_info" not in body


def test_mounts_reach_new_and_live_routers(pipeline: Pipeline) -> None:
    def hello(router: Router, mounted_on: object) -> None:
        assert mounted_on is pipeline
        router.add("/hello", lambda _request: Response.text("hi\n"))

    with server.start(pipeline) as handle:
        assert _get(handle.url + "/hello")[0] == 404
        remove = server.add_mount(hello)  # a component that starts after the server
        try:
            status, _headers, body = _get(handle.url + "/hello")
            assert (status, body) == (200, b"hi\n")
            router = server.build_router(pipeline)
            assert router.dispatch(Request("GET", "/hello")).status == 200
        finally:
            remove()
        assert server.build_router(pipeline).dispatch(Request("GET", "/hello")).status == 404


def test_extra_mounts_only_for_that_router(pipeline: Pipeline) -> None:
    def api(router: Router, _pipeline: object) -> None:
        router.add("/api/", lambda request: Response.json({"path": request.path}), prefix=True)

    router = server.build_router(pipeline, extra_mounts=[api])
    assert router.dispatch(Request("GET", "/api/x")).status == 200
    assert server.build_router(pipeline).dispatch(Request("GET", "/api/x")).status == 404


def test_serve_on_the_process_wide_pipeline(process_wide: Pipeline) -> None:
    monitoring_layer.get_metrics_collector().increment_counter("served_total_jobs")
    handle = monitoring_layer.serve(host="127.0.0.1", port=0)
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        status, _headers, body = _get(handle.url + "/metrics")
        assert status == 200 and b"served_total_jobs_total" in body
        assert _get(handle.url + "/nope")[0] == 404
    finally:
        handle.close()
        handle.close()  # safe twice
    with pytest.raises(OSError):
        urllib.request.urlopen(handle.url + "/metrics", timeout=2)  # noqa: S310
