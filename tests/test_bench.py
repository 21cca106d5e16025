"""`monitoring-layer bench --quick` produces every row, with positive figures (no speed assertions)."""

import json

import pytest

from monitoring_layer.bench._cases import FACADE, PROM, RAW_OTEL
from monitoring_layer.cli import main

pytestmark = pytest.mark.integration


def test_quick_bench_produces_every_row(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    report = json.loads(out.read_text())

    # three rounds judge nothing: figures only, said to be indicative; the sections are named on stderr
    assert report["indicative"] is True and report["targets"] == []
    assert "Targets" not in printed and " NO " not in printed and "indicative" in printed
    assert captured.err.splitlines()[:7] == [
        "bench: operations: facades, raw OpenTelemetry and prometheus_client (3 rounds)…",
        "bench: JSON files: write rate with the file filled to its cap…",
        "bench: memory: peak RSS of large workloads, each in a fresh interpreter…",
        "bench: dashboard: queries over the traces…",
        "bench: alert rules: evaluations per second…",
        "bench: /metrics scrape: one embedded server, with and without a recording thread…",
        "bench: health checks: run_all_checks throughput and /healthz…",
    ]

    assert report["machine"]["cores"] >= 1 and report["machine"]["versions"]["opentelemetry-sdk"]
    groups: dict[str, set[str]] = {}
    for row in report["operations"]:
        assert row["ops_per_s"] > 0 and row["us_per_op"] > 0
        groups.setdefault(row["group"], set()).add(row["contender"])
        assert row["group"] in printed
    for group in ("counter +1, one label", "gauge set, one label", "histogram observe, one label"):
        assert {RAW_OTEL, PROM} <= groups[group]
        assert groups[f"{group}, 8 threads"] == {FACADE, RAW_OTEL, PROM}  # a worker pool on one series
    assert RAW_OTEL in groups["log info record"] and RAW_OTEL in groups["span start + end"]
    for row in report["operations"]:
        if row["contender"] == FACADE and RAW_OTEL in groups[row["group"]]:
            assert row["vs_raw_otel"] > 0

    signals = {(r["signal"], r["cap"]) for r in report["export"]}
    assert signals == {("spans", 1000), ("logs", 1000), ("metric points", 1000)}
    assert all(r["records_per_s"] > 0 and r["file_bytes"] > 0 for r in report["export"])
    assert report["memory"] and all(r["peak_rss_mib"] > 0 for r in report["memory"])
    operations = {r["operation"] for r in report["dashboard"]}
    assert {"get_dashboard_summary()", "GET /api/summary"} <= operations
    assert all(r["traces"] == 1000 and r["ms_per_call"] > 0 for r in report["dashboard"])
    assert "GET /api/summary" in printed
    cases = {r["case"]: r for r in report["alerts"]}
    assert set(cases) == {"100 rules, one non-firing reading", "10,000 rules over 1,000 series"}
    assert all(r["rule_evaluations_per_s"] > 0 and r["ms_per_collection"] > 0 for r in cases.values())
    assert "Alert rules" in printed
    assert [(r["client"], r["recorder"]) for r in report["scrape"]] == [
        ("in-process", "idle"), ("in-process", "busy"), ("prometheus-like", "idle"), ("prometheus-like", "busy")]
    assert all(r["series"] == 1_000 and r["bytes"] > 0 for r in report["scrape"])

    health = {row["case"]: row for row in report["health"]}
    assert len(health) == 4 and all(row["value"] > 0 for row in health.values())
    slow = next(row for case, row in health.items() if "sleeping 100 ms" in case)
    assert 0 < slow["ratio_to_sequential"]
    assert "Health checks" in printed


def test_quick_sustained_section_has_every_contender(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--only", "sustained", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "operations" not in report  # --only ran that section alone
    rows = {(r["workload"], r["setup"]) for r in report["sustained"]}
    for workload in ("root-span", "trace-5", "log"):
        assert {(workload, "facade"), (workload, "lean"), (workload, "lean-otlp")} <= rows
    assert {("histogram", "facade"), ("histogram", "lean")} <= rows
    for workload in ("root-span-threads", "log-threads"):  # a worker pool recording at once
        assert {(workload, "facade"), (workload, "lean")} <= rows
    for row in report["sustained"]:
        threaded = row["workload"].endswith("-threads")
        assert row.get("threads") == (8 if threaded else None)
        assert bool(row["windows"]) is not threaded  # the threads' operations interleave: no windows
        assert row["us_per_op"] > 0 and row["gc_tracked_objects"] > 0
        assert row["cpu_us_per_op"] > 0
        assert row["ops"] >= 3_000  # per span for the 5-child traces: the count is of spans
        if row["setup"] != "lean":
            assert row["vs_lean"] > 0 and row["cpu_vs_lean"] > 0
    host = {r["setup"]: r for r in report["host"]}
    assert set(host) == {"none", "lean", "facade"}
    assert host["none"]["recorded_per_s"] == 0 and host["facade"]["recorded_per_s"] > 0
    assert "Sustained load" in (printed := capsys.readouterr().out) and "CPU vs lean" in printed


def test_contenders_run_in_processes_that_never_import_the_library():
    # A lean contender that imported monitoring_layer would carry our modules' objects through
    # every full collection: slower than what a user of the OTel SDK alone runs.
    from monitoring_layer.bench._sustained import _run

    lean = _run("lean", "log", 300, 0, None)
    assert lean["imported_monitoring_layer"] is False and lean["ops"] >= 300
    baseline = _run("none", "host", 0, 0.2, None)
    assert baseline["imported_monitoring_layer"] is False
    facade = _run("facade", "log", 300, 0, None)
    assert facade["imported_monitoring_layer"] is True
    assert facade["gc_tracked_objects"] > lean["gc_tracked_objects"]


def test_a_row_s_windows_are_each_window_s_median_over_the_runs():
    from monitoring_layer.bench._sustained import _median_run, window_medians

    def run(us, *costs):
        return {"us_per_op": us, "cpu_us_per_op": us, "windows": [
            {"ops": ops, "us_per_op": cost} for ops, cost in zip((1_000, 3_000, 10_000, 30_000), costs)]}

    runs = [run(66.0, 42.0, 61.0, 69.0), run(67.0, 65.0, 64.0, 68.0, 70.0), run(68.0, 66.0, 40.0, 70.0)]
    # One run's cheap window is outvoted; the 30,000 window only one run reached is left out.
    assert window_medians(runs) == [{"ops": 1_000, "us_per_op": 65.0}, {"ops": 3_000, "us_per_op": 61.0},
                                    {"ops": 10_000, "us_per_op": 69.0}]
    row = _median_run(runs)
    assert row["us_per_op"] == 67.0 and row["windows"] == window_medians(runs) and row["runs"] == 3
    assert window_medians([run(1.0, 5.0)]) == [{"ops": 1_000, "us_per_op": 5.0}]
    assert window_medians([]) == []


def test_sustained_targets_judge_the_rows():
    from monitoring_layer.bench._sustained import sustained_targets

    def row(workload, setup, us, cap=None, windows=(10.0, 10.5)):
        return {"workload": workload, "setup": setup, "cap": cap, "us_per_op": us,
                "vs_lean": us / 10.0 if setup != "lean" else None,
                "windows": [{"ops": 1000 * (i + 1), "us_per_op": w} for i, w in enumerate(windows)],
                "window_spread": max(windows) / min(windows)}

    rows = [row("trace-5", "lean", 10.0), row("trace-5", "facade", 12.0, cap=1_000),
            row("trace-5", "facade", 15.0, cap=100_000, windows=(10.0, 20.0)), row("log", "facade", 11.0)]
    host = [{"setup": "none", "slowdown": 1.0, "longest_pause_ms": 5, "gc_tracked_objects": 100},
            {"setup": "lean", "slowdown": 1.1, "longest_pause_ms": 5, "gc_tracked_objects": 100},
            {"setup": "facade", "slowdown": 1.2, "longest_pause_ms": 80, "gc_tracked_objects": 300}]
    verdicts = {t["target"]: t["met"] for t in sustained_targets(rows, host)}
    assert verdicts["trace: root + 5 children, per span (cap 1,000): <= 1.3x lean OTel"] is True
    assert verdicts["trace: root + 5 children, per span (cap 100,000): <= 1.3x lean OTel"] is False
    assert verdicts["log info record: <= 1x lean OTel"] is False
    assert verdicts["trace spans flat within 10% across caps 1,000, 100,000"] is False
    assert any(k.startswith("trace: root + 5 children, per span (cap 100,000): flat") and v is False
               for k, v in verdicts.items())
    assert verdicts["foreground thread: no pause over 50 ms"] is False
    assert verdicts["GC-tracked objects at the default caps <= 2x lean OTel"] is False
    assert verdicts["foreground thread at 2,000 spans/s + 2,000 logs/s: slowdown <= 1.3x lean OTel's"] is True
