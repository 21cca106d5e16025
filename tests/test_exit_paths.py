"""What was recorded reaches the files however the process ends: SIGTERM, multiprocessing workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_RECORD_AND_WAIT = """
    import sys, time
    from monitoring_layer import get_log_aggregator, get_metrics_collector
    {handler}
    get_metrics_collector().increment_counter("jobs_done", 7)
    get_log_aggregator().info("worker", "last words before SIGTERM")
    print("ready", flush=True)
    time.sleep(60)
"""


def _start(home: Path, code: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    env.update(MONITORING_HOME=str(home), MONITORING_STRICT="1", MONITORING_EXPORT_INTERVAL="3600")
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def _total(home: Path, name: str) -> float:
    metric = json.loads((home / "metrics/metrics_registry.json").read_text())["metrics"][name]
    return sum(series["sum"] for series in metric["series"])


def _messages(home: Path) -> list[str]:
    return [r["message"] for r in json.loads((home / "logs/logs.json").read_text())["records"]]


def test_sigterm_flushes_then_ends_the_process_as_sigterm_does(home: Path) -> None:
    proc = _start(home, _RECORD_AND_WAIT.format(handler=""))
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err
    assert _total(home, "jobs_done") == 7
    assert "last words before SIGTERM" in _messages(home)


def test_sigterm_chains_to_the_application_handler(home: Path) -> None:
    handler = """
    import signal
    def on_term(signum, frame):
        print("application handler ran", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, on_term)
    """
    proc = _start(home, _RECORD_AND_WAIT.format(handler=textwrap.dedent(handler).replace("\n", "\n    ")))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "application handler ran" in out
    assert _total(home, "jobs_done") == 7


_FLUSHING_WHEN_SIGTERM_COMES = """
    import sys, time
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
    from monitoring_layer import flush, get_log_aggregator, get_metrics_collector, get_pipeline

    class Slow(MetricExporter):  # holds its reader's export lock while the signal arrives
        def __init__(self):
            super().__init__()
            self.calls = 0
        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            self.calls += 1
            if self.calls == 1:
                print("ready", flush=True)
                time.sleep(3)
            return MetricExportResult.SUCCESS
        def force_flush(self, timeout_millis=10_000):
            return True
        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass

    get_metrics_collector().increment_counter("jobs_done", 7)
    get_log_aggregator().info("worker", "last words before SIGTERM")
    get_pipeline().add_exporter("metrics", Slow())
    flush()
    print("flush returned", flush=True)
    time.sleep(60)
"""


def test_sigterm_during_a_flush_on_the_main_thread_waits_for_it_instead_of_hanging(home: Path) -> None:
    # The signal interrupts the main thread inside a metric reader's export, holding its lock: a
    # second flush started by the handler would wait on that lock until the handler gave up (10 s),
    # and the process would end with neither flush done (`with Pool(...)` does this to its workers).
    proc = _start(home, _FLUSHING_WHEN_SIGTERM_COMES)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err
    assert "flush returned" not in out  # the process ended when the interrupted flush did
    assert _total(home, "jobs_done") == 7
    assert "last words before SIGTERM" in _messages(home)
    assert "Traceback" not in err, err


def test_an_ignored_sigterm_stays_ignored(home: Path) -> None:
    handler = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    proc = _start(home, _RECORD_AND_WAIT.format(handler=handler))
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=1)
    proc.kill()
    proc.communicate()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_workers_write_without_calling_flush(home: Path, tmp_path: Path, run_python,
                                                             method: str) -> None:
    script = tmp_path / "workers.py"  # spawn imports the main module by path
    script.write_text(textwrap.dedent(f"""
        import multiprocessing
        from monitoring_layer import get_metrics_collector

        def work(n):
            metrics = get_metrics_collector()
            for _ in range(n):
                metrics.increment_counter("jobs_done")

        if __name__ == "__main__":
            get_metrics_collector()  # the parent's pipeline exists before the workers start
            ctx = multiprocessing.get_context({method!r})
            workers = [ctx.Process(target=work, args=(1_000,)) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
                assert w.exitcode == 0
    """))
    run_python(script=script, env={"MONITORING_EXPORT_INTERVAL": "3600"})
    assert _total(home, "jobs_done") == 4_000


def test_a_pool_s_terminate_at_the_end_of_its_with_block_loses_nothing(home: Path, tmp_path: Path,
                                                                        run_python) -> None:
    # `with Pool(...)` ends with terminate(): SIGTERM to workers that may be in their exit flush.
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing
        from monitoring_layer import get_metrics_collector

        def work(i):
            get_metrics_collector().increment_counter("jobs_done")
            return i

        if __name__ == "__main__":
            with multiprocessing.get_context("fork").Pool(2) as pool:
                assert pool.map(work, range(20)) == list(range(20))
    """))
    for _ in range(3):  # the signal meets a worker's exit flush in most runs, not in every one
        run_python(script=script, env={"MONITORING_EXPORT_INTERVAL": "3600"})
    assert _total(home, "jobs_done") == 60
