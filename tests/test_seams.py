"""The seams later components build on: readings, the lifecycle registry, the one server."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import pytest

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer.readings import MetricReading, ReadingsHub, reading_statistic
from monitoring_layer._http import Request, Response, Router, start_server


def test_reading_types_are_checked() -> None:
    with pytest.raises(ValueError, match="type"):
        MetricReading("x", "meter", 1.0)  # type: ignore[arg-type]


def test_reading_statistics_prefer_exact_then_buckets() -> None:
    exact = MetricReading("lat", "histogram", 5.0, count=4, sum=20.0,
                          statistics={"p95": 9.5, "mean": 5.0, "min": 1.0})
    assert reading_statistic(exact, "p95") == 9.5
    assert reading_statistic(exact, "value") == 5.0
    assert reading_statistic(exact, "count") == 4.0
    bucketed = MetricReading("lat", "histogram", 5.0, count=10, sum=50.0,
                             buckets=((1.0, 0), (10.0, 10), (math.inf, 10)))
    assert reading_statistic(bucketed, "mean") == 5.0
    assert reading_statistic(bucketed, "p50") == pytest.approx(5.5)
    assert reading_statistic(bucketed, "max") is None
    with pytest.raises(ValueError, match="statistic"):
        reading_statistic(bucketed, "p959")


def test_hub_publishes_to_subscribers_and_contains_their_faults() -> None:
    hub = ReadingsHub()
    seen: list[int] = []

    def broken(_readings: object) -> None:
        raise RuntimeError("subscriber bug")

    hub.subscribe(broken)
    unsubscribe = hub.subscribe(lambda readings: seen.append(len(readings)))
    before = _selfmon.counts()["errors"].get("readings", 0)
    hub.publish([MetricReading("c", "counter", 3.0)])
    assert seen == [1]
    assert _selfmon.counts()["errors"]["readings"] == before + 1
    assert hub.latest()[0].value == 3.0 and hub.collections == 1
    unsubscribe()
    hub.publish([])
    assert seen == [1]


def test_lifecycle_hooks_run_in_order_and_unregister() -> None:
    calls: list[str] = []
    remove_a = _lifecycle.register("a", flush=lambda: calls.append("flush a"), shutdown=lambda: calls.append("stop a"))
    remove_b = _lifecycle.register("b", flush=lambda: calls.append("flush b"), shutdown=lambda: calls.append("stop b"))
    try:
        _lifecycle.run_flush()
        _lifecycle.run_shutdown()
    finally:
        remove_a()
        remove_b()
    assert calls == ["flush a", "flush b", "stop b", "stop a"]
    with pytest.raises(TypeError, match="flush"):
        _lifecycle.register("c", flush=42)  # type: ignore[arg-type]


def _get(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.mark.integration
def test_server_routes_404_405_and_contains_handler_faults() -> None:
    router = Router()
    router.add("/ok", lambda request: Response.json({"q": request.param("q")}))
    router.add("/api/", lambda request: Response.text(request.path), prefix=True)

    def broken(_request: Request) -> Response:
        raise RuntimeError("handler bug")

    router.add("/broken", broken)
    with start_server(router) as handle:
        assert handle.host == "127.0.0.1"
        assert _get(handle.url + "/ok?q=1") == (200, "application/json", json.dumps({"q": "1"}).replace(" ", "").encode())
        assert _get(handle.url + "/api/logs")[2] == b"/api/logs"
        assert _get(handle.url + "/nope")[0] == 404
        assert _get(handle.url + "/ok", "POST")[0] == 405
        assert _get(handle.url + "/ok", "HEAD")[0] == 200
        assert _get(handle.url + "/broken")[0] == 500
    assert handle.closed
    handle.close()  # safe twice


def test_server_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="port"):
        start_server(Router(), port=70000)
    with pytest.raises(TypeError, match="router"):
        start_server(object())  # type: ignore[arg-type]


def test_reports_are_written_atomically_0600_without_a_lock_file_or_a_merge(tmp_path) -> None:
    import os
    import stat

    from monitoring_layer._encode import write_report

    target = tmp_path / "report.json"
    target.write_text('{"stale": true}')
    write_report(target, {"incidents": [], "name": "café"})
    assert json.loads(target.read_text()) == {"incidents": [], "name": "café"}  # replaced, not merged
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no lock, no temp left
    with pytest.raises(ValueError):
        write_report(target, {"x": float("nan")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
