"""`traces`, `logs` and `metrics` on a home written by two processes: exact output, --json, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitoring_layer.cli import main

TESTS = Path(__file__).parent
T0 = 1_795_000_000_000_000_000
NOW = T0 + 65 * 1_000_000_000  # five seconds after the newest record

TRACE_A = "a1" * 16
TRACE_B = "b2" * 16


def seed(run_python, part: str) -> None:
    """Write one part of tests/_seeded_home.py's fixed home from a fresh process."""
    run_python(f"import os, pathlib, sys; sys.path.insert(0, {str(TESTS)!r}); import _seeded_home; "
               f"_seeded_home.write(pathlib.Path(os.environ['MONITORING_HOME']), {part!r})")


@pytest.fixture
def seeded(home, run_python):
    """A home with fixed content, written by two processes one after the other through the store."""
    seed(run_python, "a")
    seed(run_python, "b")
    return home


def cli(*argv: str, now: int = NOW) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, clock=lambda: now)
    return status, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------- traces


def test_traces_list_exact(seeded):
    status, out, err = cli("traces", "list", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out == (
        "TRACE                             START (UTC)              DURATION  STATUS   SPANS  SERVICE  NAME\n"
        "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2  2026-11-18 11:07:40.000    2.5 ms  SUCCESS      1  api      GET /health\n"
        "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1  2026-11-18 11:06:40.000  120.0 ms  ERROR        3  etl      load_batch\n"
    )


@pytest.mark.parametrize(("options", "expected"), [
    (["--status", "error"], [TRACE_A]),
    (["--status", "success"], [TRACE_B]),
    (["--status", "OK"], [TRACE_B]),  # the schema 1 word, still accepted
    (["--service", "etl"], [TRACE_A]),
    (["--slow", "100"], [TRACE_A]),
    (["--since", "30s"], [TRACE_B]),       # A ended 65 s before NOW
    (["--since", "2m"], [TRACE_B, TRACE_A]),
    (["--limit", "1"], [TRACE_B]),
    (["--limit", "0"], [TRACE_B, TRACE_A]),
])
def test_traces_list_filters(seeded, options, expected):
    status, out, _ = cli("traces", "list", "--home", str(seeded), "--json", *options)
    assert status == 0
    doc = json.loads(out)
    assert [t["trace_id"] for t in doc["traces"]] == expected
    assert "spans" not in doc["traces"][0]


def test_traces_list_nothing_matched_is_exit_1(seeded):
    status, out, err = cli("traces", "list", "--home", str(seeded), "--service", "nope")
    assert (status, out) == (1, "")
    assert "no trace matches" in err
    status, out, _ = cli("traces", "list", "--home", str(seeded), "--service", "nope", "--json")
    assert status == 1 and json.loads(out)["traces"] == []


def test_traces_show_exact_waterfall(seeded):
    status, out, err = cli("traces", "show", "a1a1", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "trace a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1  load_batch  service etl  ERROR  120.0 ms  3 spans  "
        "started 2026-11-18 11:06:40.000 UTC",
        "",
        "SPAN             COMPONENT  STATUS   DURATION  0 ─────────────────────────────── 120.0 ms",
        "load_batch       etl        SUCCESS  120.0 ms  ▏████████████████████████████████████████▏",
        "    tags rows=700",
        "  read_csv       reader     SUCCESS   40.0 ms  ▏ █████████████                          ▏",
        "      event +35.0 ms rows_read rows=500",
        "  write_parquet  writer     ERROR     68.0 ms  ▏                ███████████████████████ ▏",
        "      status: disk full",
        "      tags table=orders",
    ]


def test_traces_show_json_is_the_trace(seeded):
    status, out, _ = cli("traces", "show", TRACE_B, "--home", str(seeded), "--json")
    assert status == 0
    trace = json.loads(out)["trace"]
    assert trace["trace_id"] == TRACE_B and [s["name"] for s in trace["spans"]] == ["GET /health"]


def test_traces_show_unknown_is_1_and_ambiguous_is_2(seeded, run_python):
    assert cli("traces", "show", "ffff", "--home", str(seeded))[0] == 1
    status, _, err = cli("traces", "show", "ab", "--home", str(seeded))
    assert status == 2 and "at least 4 characters" in err


# --------------------------------------------------------------------------- logs


def test_logs_exact_oldest_first_from_both_processes(seeded):
    status, out, err = cli("logs", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out == (
        "2026-11-18 11:06:40.001 INFO     etl: batch started  trace=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"
        "2026-11-18 11:06:40.118 ERROR    writer: write failed: disk full  error=OSError "
        "trace=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"
        "2026-11-18 11:07:40.000 WARNING  api: slow dependency: cache\n"
        "2026-11-18 11:07:40.001 DEBUG    api: probe answered\n"
    )


@pytest.mark.parametrize(("options", "expected"), [
    (["--level", "warning"], ["write failed: disk full", "slow dependency: cache"]),
    (["--component", "api"], ["slow dependency: cache", "probe answered"]),
    (["--grep", "DISK"], ["write failed: disk full"]),
    (["--grep", "oserror"], ["write failed: disk full"]),  # attributes are searched too
    (["--trace", "a1a1a1"], ["batch started", "write failed: disk full"]),
    (["--since", "10s"], ["slow dependency: cache", "probe answered"]),
    (["--limit", "1"], ["probe answered"]),
])
def test_logs_filters(seeded, options, expected):
    status, out, _ = cli("logs", "--home", str(seeded), "--json", *options)
    assert status == 0
    assert [r["message"] for r in json.loads(out)["records"]] == expected


def test_logs_nothing_matched_is_exit_1(seeded):
    status, out, err = cli("logs", "--home", str(seeded), "--grep", "no such text")
    assert (status, out) == (1, "") and "no log record matches" in err


# --------------------------------------------------------------------------- metrics


def test_metrics_list_exact(seeded):
    status, out, err = cli("metrics", "list", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out == (
        "NAME            TYPE       UNIT  SERIES  POINTS  DESCRIPTION\n"
        "batch_duration  histogram  ms         1       2\n"
        "rows_loaded     counter    1          2       3  Rows loaded\n"
    )
    listed = json.loads(cli("metrics", "list", "--home", str(seeded), "--json")[1])["metrics"]
    assert [(m["name"], m["series"], m["points"]) for m in listed] == [("batch_duration", 1, 2), ("rows_loaded", 2, 3)]


def test_metrics_show_exact_per_series_from_both_processes(seeded):
    status, out, err = cli("metrics", "show", "rows_loaded", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "rows_loaded  counter  unit 1  prometheus rows_loaded_total  — Rows loaded",
        "  series table=orders  source etl/100  2 points",
        "    count 2  sum 700  mean 350  min 200  max 500  p50 350  p95 485  p99 497",
        "    lifetime count 2  sum 700",
        "    recent █▁  (2 points, 200 .. 500)",
        "  series table=users  source api/200  1 point",
        "    count 1  sum 30  mean 30  min 30  max 30  p50 30  p95 30  p99 30",
        "    lifetime count 1  sum 30",
        "    recent ▄  (1 point, 30 .. 30)",
    ]


def test_metrics_show_an_otel_histogram_from_its_buckets(seeded):
    status, out, _ = cli("metrics", "show", "batch_duration", "--home", str(seeded), "--json")
    assert status == 0
    (series,) = json.loads(out)["series"]
    # newest cumulative point: 4 observations, buckets (≤5: 1, ≤10: 0, ≤25: 2, +Inf: 1)
    assert series["statistics"] == {"count": 4, "sum": 62.5, "mean": 15.625, "min": 4.0, "max": 30.0,
                                    "p50": 17.5, "p95": 25.0, "p99": 25.0}
    assert series["recent"] == [12.5, 15.625]


def test_metrics_show_by_prometheus_name_and_labels(seeded):
    status, out, _ = cli("metrics", "show", "rows_loaded_total", "--labels", "table=users", "--home", str(seeded),
                         "--json")
    assert status == 0
    doc = json.loads(out)
    assert doc["name"] == "rows_loaded" and [s["source"] for s in doc["series"]] == ["api/200"]
    assert cli("metrics", "show", "rows_loaded", "--labels", "table=none", "--home", str(seeded))[0] == 1
    assert cli("metrics", "show", "no_such_metric", "--home", str(seeded))[0] == 1


# --------------------------------------------------------------------------- every command


READERS = [["traces", "list"], ["traces", "show", TRACE_A], ["logs"], ["metrics", "list"],
           ["metrics", "show", "rows_loaded"], ["check"]]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_missing_home_is_exit_2(tmp_path, command):
    status, out, err = cli(*command, "--home", str(tmp_path / "no" / "such"))
    assert (status, out) == (2, "")
    assert f"no monitoring home at {tmp_path / 'no' / 'such'}" in err


@pytest.mark.parametrize("command", READERS[:-1], ids=" ".join)
def test_an_empty_home_is_exit_1_and_says_the_file_is_absent(home, command):
    home.mkdir()
    status, out, err = cli(*command, "--home", str(home))
    assert status == 1 and out == "" and "does not exist yet" in err


@pytest.mark.parametrize("command", READERS[:-1], ids=" ".join)
def test_a_corrupt_file_is_exit_2_and_left_alone(seeded, command):
    for relative in ("traces/traces.json", "logs/logs.json", "metrics/metrics_registry.json"):
        (seeded / relative).write_text("{half a docu")
    status, out, err = cli(*command, "--home", str(seeded))
    assert (status, out) == (2, "") and "is not valid JSON" in err
    assert (seeded / "logs/logs.json").read_text() == "{half a docu"


@pytest.mark.parametrize("argv", [["logs", "--since", "10 minutes"], ["logs", "--since", "5w"],
                                  ["traces", "list", "--limit", "-1"], ["logs", "--level", "LOUD"],
                                  ["metrics", "show", "x", "--labels", "novalue"], ["traces"]])
def test_bad_usage_is_exit_2(seeded, argv, capsys):
    assert main(argv) == 2
    assert "usage: monitoring-layer" in capsys.readouterr().err


def test_home_comes_from_monitoring_home_and_other_settings_are_not_read(seeded, monkeypatch):
    monkeypatch.setenv("MONITORING_EXPORT_INTERVAL", "abc")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "not a port")
    assert cli("logs", "--limit", "1")[1].endswith("api: probe answered\n")
    assert cli("check")[0] == 0


def test_readers_take_no_lock(seeded):
    """A writer holding the lock forever does not stop a reader (the rename makes reads consistent)."""
    import fcntl
    import os

    fd = os.open(seeded / "logs/logs.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert cli("logs", "--home", str(seeded))[0] == 0
    finally:
        os.close(fd)


def test_readme_examples_are_the_real_output(seeded, run_python):
    import re
    import shlex

    for part in ("a", "b"):  # the health files too
        run_python(f"import os, pathlib, sys; sys.path.insert(0, {str(TESTS)!r}); import _seeded_home; "
                   f"_seeded_home.write_engines(pathlib.Path(os.environ['MONITORING_HOME']), {part!r})")

    readme = (TESTS.parent / "README.md").read_text()
    section = readme.split("## Reading the files", 1)[1].split("\n## ", 1)[0]
    examples = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        for chunk in block.split("$ monitoring-layer ")[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((shlex.split(command), output))
    assert {" ".join(argv[:2]) for argv, _ in examples} >= {"traces list", "traces show", "metrics list",
                                                            "metrics show", "check"}
    assert {argv[0] for argv, _ in examples} >= {"logs", "health", "alerts"}
    for argv, expected in examples:
        status, out, _ = cli(*argv, "--home", str(seeded))
        assert status == 0, argv
        assert out == expected.replace("/tmp/monitoring-demo", str(seeded)), argv


def test_a_file_without_the_documented_layout_is_exit_2(seeded):
    doc = json.loads((seeded / "metrics/metrics_registry.json").read_text())
    name = next(iter(doc["metrics"]))
    doc["metrics"][name]["series"][0]["points"] = [1, 2]  # numbers where points are objects
    (seeded / "metrics/metrics_registry.json").write_text(json.dumps(doc))
    status, out, err = cli("metrics", "show", name, "--home", str(seeded))
    assert status == 2 and "monitoring-layer check" in err
    assert f"{seeded / 'metrics/metrics_registry.json'} does not have the documented layout" in err  # named


def _break_traces(home: Path) -> None:
    """Trace B loses its status; trace A's read_csv span its start; a stray string joins the list."""
    doc = json.loads((home / "traces/traces.json").read_text())
    by_id = {t["trace_id"]: t for t in doc["traces"]}
    del by_id[TRACE_B]["status"]
    read_csv = next(s for s in by_id[TRACE_A]["spans"] if s["name"] == "read_csv")
    read_csv["start_unix_nano"] = "soon"
    doc["traces"].append("not a trace")
    (home / "traces/traces.json").write_text(json.dumps(doc))


def test_traces_list_leaves_out_what_it_cannot_read_and_says_so(seeded):
    _break_traces(seeded)
    status, out, err = cli("traces", "list", "--home", str(seeded))
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == [TRACE_A]
    assert err == ("monitoring-layer: 2 traces and 1 span in traces/traces.json do not have the documented "
                   "layout and are left out; run `monitoring-layer check` to see what is wrong\n")
    status, out, err = cli("traces", "list", "--home", str(seeded), "--json")
    assert status == 0 and [t["trace_id"] for t in json.loads(out)["traces"]] == [TRACE_A]
    assert "left out" in err


def test_traces_show_leaves_out_a_span_it_cannot_read(seeded):
    _break_traces(seeded)
    status, out, err = cli("traces", "show", "a1a1", "--home", str(seeded))
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()[3:] if not line.startswith("    ")] == [
        "load_batch", "write_parquet"]
    assert "2 traces and 1 span in traces/traces.json do not have the documented layout" in err
    status, _, err = cli("traces", "show", TRACE_B, "--home", str(seeded))
    assert status == 1 and "no trace" in err and "left out" in err


@pytest.mark.parametrize("damage", ["a child with the root's id", "a cycle of parents", "its own parent"])
def test_traces_show_draws_every_span_once_whatever_the_parents_say(seeded, damage):
    doc = json.loads((seeded / "traces/traces.json").read_text())
    trace = next(t for t in doc["traces"] if t["trace_id"] == TRACE_A)
    root, read_csv, write_parquet = sorted(trace["spans"], key=lambda span: span["start_unix_nano"])
    if damage == "a child with the root's id":  # drew the root's children under it forever
        write_parquet["span_id"] = root["span_id"]
    elif damage == "a cycle of parents":  # both were lost without a word
        read_csv["parent_span_id"], write_parquet["parent_span_id"] = write_parquet["span_id"], read_csv["span_id"]
    else:
        read_csv["parent_span_id"] = read_csv["span_id"]
    (seeded / "traces/traces.json").write_text(json.dumps(doc))
    status, out, err = cli("traces", "show", TRACE_A, "--home", str(seeded))
    assert (status, err) == (0, "")
    rows = [line.split()[0] for line in out.splitlines()[3:] if not line.startswith("    ")]
    assert sorted(rows) == ["load_batch", "read_csv", "write_parquet"]


def test_readable_traces_checks_every_field_the_commands_read():
    from monitoring_layer.commands.traces import readable_traces

    span = {"span_id": "s1", "name": "n", "status": "SUCCESS", "start_unix_nano": 1, "end_unix_nano": 2,
            "duration_ms": 0.0, "events": [{"name": "e", "time_unix_nano": 1}], "attributes": {}}
    trace = {"trace_id": "t", "name": "n", "service": "s", "status": "SUCCESS", "start_unix_nano": 1,
             "end_unix_nano": 2, "duration_ms": 1, "span_count": 1, "spans": [span]}
    assert readable_traces([trace]) == ([trace], 0, 0)
    for key, bad in [("trace_id", None), ("span_count", True), ("duration_ms", "1"), ("spans", {}),
                     ("start_unix_nano", 10**30), ("end_unix_nano", -1)]:
        assert readable_traces([{**trace, key: bad}])[1:] == (1, 0), key
    for key, bad in [("span_id", 1), ("end_unix_nano", 2.5), ("events", [{"name": "e"}]), ("attributes", []),
                     ("parent_span_id", ["x"]), ("events", [{"name": "e", "time_unix_nano": 10**30}])]:
        kept, traces_out, spans_out = readable_traces([{**trace, "spans": [span, {**span, key: bad}]}])
        assert (kept[0]["spans"], traces_out, spans_out) == ([span], 0, 1), key
    assert readable_traces("traces") == ([], 1, 0)  # not a list: said, not shown as an empty file
    assert readable_traces(None) == ([], 1, 0)


def test_metrics_show_an_otel_counter_by_its_increments(seeded):
    doc = json.loads((seeded / "metrics/metrics_registry.json").read_text())
    doc["metrics"]["jobs"] = {"type": "counter", "description": "", "unit": "1", "series": [
        {"labels": {}, "source": "etl/100", "points": [
            {"time": "2026-11-18T11:06:40Z", "time_unix_nano": T0, "value": 3, "increment": 3},
            {"time": "2026-11-18T11:06:50Z", "time_unix_nano": T0 + 10**10, "value": 10, "increment": 7}]}]}
    (seeded / "metrics/metrics_registry.json").write_text(json.dumps(doc))
    status, out, _ = cli("metrics", "show", "jobs", "--home", str(seeded))
    assert status == 0
    assert out.splitlines()[2:] == [
        "    count 2  sum 10  mean 5  min 3  max 7  p50 5  p95 6.8  p99 6.96",
        "    total 10",
        "    recent ▁█  (2 points, 3 .. 7)",
    ]


def test_metrics_reads_a_schema_1_file(seeded):
    """Schema 1: the facade's counter points held increments; read through the exporter's migration."""
    doc = json.loads((seeded / "metrics/metrics_registry.json").read_text())
    doc["schema_version"] = 1
    for series in doc["metrics"]["rows_loaded"]["series"]:
        for point in series["points"]:
            point["value"] = point.pop("increment")
    (seeded / "metrics/metrics_registry.json").write_text(json.dumps(doc))
    status, out, _ = cli("metrics", "show", "rows_loaded", "--labels", "table=orders", "--home", str(seeded), "--json")
    (series,) = json.loads(out)["series"]
    assert series["statistics"]["sum"] == 700 and series["total"] == 700 and series["recent"] == [500, 200]


# ----------------------------------------------------------------- damaged files: exit 2 or left out, no traceback


def _edit(home: Path, relative: str, change) -> None:
    path = home / relative
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(("damage", "reader_says", "check_says"), [
    ("nested deeper than the parser goes", "logs.json is not valid JSON", "not readable JSON"),
    ("a time no calendar holds", "does not have the documented layout", "out of range"),
])
def test_a_damaged_logs_file_is_exit_2_for_logs_and_invalid_for_check(seeded, damage, reader_says, check_says):
    if damage.startswith("nested"):
        (seeded / "logs/logs.json").write_text("[" * 100_000)
    else:
        _edit(seeded, "logs/logs.json", lambda doc: doc["records"][0].update(time_unix_nano=10**30))
    status, _, err = cli("logs", "--home", str(seeded))
    assert status == 2 and reader_says in err
    status, out, _ = cli("check", "--home", str(seeded))
    assert status == 1 and "logs/logs.json: invalid" in out and check_says in out


def test_a_trace_with_a_time_no_calendar_holds_is_left_out(seeded):
    _edit(seeded, "traces/traces.json", lambda doc: doc["traces"][0].update(start_unix_nano=10**30))
    status, out, err = cli("traces", "list", "--home", str(seeded))
    assert status == 0 and len(out.splitlines()) == 2 and "1 trace in traces/traces.json does not have" in err


def test_metrics_show_leaves_infinite_values_out_of_its_statistics(seeded):
    def change(doc):
        doc["metrics"]["rows_loaded"]["series"][0]["points"][0]["increment"] = float("inf")
    _edit(seeded, "metrics/metrics_registry.json", change)
    status, out, err = cli("metrics", "show", "rows_loaded", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert "count 1  sum 200" in out


def test_check_says_a_file_it_cannot_reach_is_invalid_not_absent(seeded):
    path = seeded / "logs/logs.json"
    path.unlink()
    path.symlink_to(path.name)  # a loop
    status, out, _ = cli("check", "--home", str(seeded))
    assert status == 1 and "logs/logs.json: invalid" in out and "cannot be read" in out
    assert cli("logs", "--home", str(seeded))[0] == 2


def test_a_since_too_long_to_count_back_is_a_usage_error(seeded, capsys):
    status, _, _ = cli("logs", "--since", "1" + "0" * 400 + "d", "--home", str(seeded))
    assert status == 2 and "longer than 100 years" in capsys.readouterr().err  # argparse's own stderr
