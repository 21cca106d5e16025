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
