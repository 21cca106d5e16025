"""Several processes on one home: atomic replacement, no lost records, forked children."""

import json
import subprocess
import sys
import textwrap

import pytest

from monitoring_layer.exporters import JsonFileStore, prepare_home

pytestmark = pytest.mark.integration


def test_readers_never_see_a_partial_file(home, tmp_path):
    prepare_home(home, "logs")
    path = home / "logs" / "logs.json"
    store = JsonFileStore(path, "logs")
    store.update(lambda doc: {**doc, "records": []})
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import json, os
            parses = failures = 0
            while not os.path.exists({str(stop)!r}):
                try:
                    with open({str(path)!r}, "rb") as f:
                        json.loads(f.read())
                    parses += 1
                except ValueError:
                    failures += 1
            print(parses, failures)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        big = [{"time_unix_nano": i, "message": "x" * 200} for i in range(2_000)]  # ~0.5 MB per write
        for n in range(150):
            store.update(lambda doc, n=n: {**doc, "records": big[: 1000 + n]})
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=30)
    parses, failures = map(int, out.split())
    assert failures == 0
    assert parses > 0


WRITER = """
import sys, time
from opentelemetry._logs import LogRecord, SeverityNumber
import monitoring_layer
from monitoring_layer.pipeline import get_pipeline

who = sys.argv[1]
logger = get_pipeline().logger_provider.get_logger("writer")
for round in range(5):
    for i in range(50):
        logger.emit(LogRecord(body=f"{who}-{round}-{i}", severity_number=SeverityNumber.INFO))
    assert monitoring_layer.flush()
"""


def _writers(home, n, max_records):
    env_extra = {"MONITORING_HOME": str(home), "MONITORING_LOGS_MAX_RECORDS": str(max_records),
                 "MONITORING_EXPORT_INTERVAL": "3600"}
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))} | env_extra
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, f"p{k}"], env=env,
                              stderr=subprocess.PIPE, text=True) for k in range(n)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    return json.loads((home / "logs" / "logs.json").read_text())["records"]


def test_four_processes_keep_each_others_records(home):
    records = _writers(home, 4, max_records=5_000)
    messages = {r["message"] for r in records}
    assert messages == {f"p{k}-{r}-{i}" for k in range(4) for r in range(5) for i in range(50)}
    assert len(records) == 1_000  # no duplicates either


def test_four_processes_respect_the_count_cap(home):
    records = _writers(home, 4, max_records=300)
    assert len(records) == 300
    times = [r["time_unix_nano"] for r in records]
    assert times == sorted(times, reverse=True)


def test_forked_child_exports_its_own_records(run_python, home):
    run_python("""
        import os
        import monitoring_layer
        from monitoring_layer.pipeline import get_pipeline

        tracer = get_pipeline().tracer_provider.get_tracer("server")
        tracer.start_span("parent-before-fork").end()
        monitoring_layer.flush()
        pid = os.fork()
        if pid == 0:
            tracer.start_span("child-request").end()
            ok = monitoring_layer.flush()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        tracer.start_span("parent-after-fork").end()
        monitoring_layer.flush()
    """, env={"MONITORING_EXPORT_INTERVAL": "3600"})
    names = sorted(t["name"] for t in json.loads((home / "traces" / "traces.json").read_text())["traces"])
    assert names == ["child-request", "parent-after-fork", "parent-before-fork"]


def test_a_forked_child_does_not_count_its_parents_increments_again(run_python, home):
    run_python("""
        import os
        from monitoring_layer import flush, get_metrics_collector

        metrics = get_metrics_collector()
        metrics.increment_counter("jobs_done", 7)
        pid = os.fork()
        if pid == 0:
            metrics.increment_counter("jobs_done", 1)
            flush()
            os._exit(0)
        os.waitpid(pid, 0)
        flush()
    """)
    metric = json.loads((home / "metrics" / "metrics_registry.json").read_text())["metrics"]["jobs_done"]
    assert metric["statistics"]["total"] == 8
    assert sorted(series["sum"] for series in metric["series"]) == [1, 7]
    child = next(series for series in metric["series"] if series["sum"] == 1)
    assert len(child["points"]) == 1, "the child's series repeats the parent's points"


def test_retention_never_drops_another_processes_counter_total(run_python, home):
    for _ in range(3):
        run_python("""
            from monitoring_layer import flush, get_metrics_collector

            metrics = get_metrics_collector()
            for _ in range(12_000):  # beyond the 10,000 points a metric keeps
                metrics.increment_counter("jobs_done")
            flush()
        """)
    metric = json.loads((home / "metrics" / "metrics_registry.json").read_text())["metrics"]["jobs_done"]
    assert metric["statistics"]["total"] == 36_000
    assert [series["sum"] for series in metric["series"]] == [12_000] * 3
