"""The one server carries every component's routes: serve() answers /metrics and the health probes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_serve_has_metrics_and_the_process_wide_health_probes(process_wide) -> None:
    from monitoring_layer import _defaults, get_health_check_manager, get_metrics_collector, serve

    get_metrics_collector().increment_counter("requests")
    handle = serve()
    try:
        status, content_type, body = _get(handle.url + "/readyz")
        assert (status, content_type) == (200, "application/health+json")
        assert json.loads(body)["status"] == "pass"
        health = get_health_check_manager()
        health.register_check("db", "ping", lambda: False)
        health.run_all_checks()
        status, _, body = _get(handle.url + "/readyz")
        assert status == 503 and json.loads(body)["checks"]["db:ping"][0]["status"] == "fail"
        status, _, body = _get(handle.url + "/metrics")
        assert status == 200 and b"requests_total" in body
        assert _get(handle.url + "/nope")[0] == 404
    finally:
        handle.close()
        _defaults._HEALTH.replace(None)
