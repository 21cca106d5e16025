"""The reading commands as people run them: real writers in two processes, pipes, a terminal, --follow."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

WAIT_S = 60  # an upper bound for a slow machine, never a timing assertion

WRITER = """
import os, monitoring_layer as ml
who = os.environ["WHO"]
traces = ml.get_tracing_collector()
trace_id = traces.start_trace(service=who)
span = traces.start_span(operation_name=f"{who}-work", component=who)
traces.add_event(span, "step", {"n": 1})
traces.end_span(span, "SUCCESS")
traces.end_trace(trace_id)
ml.get_log_aggregator().warning(who, f"{who} says hello", trace_id=str(trace_id))
metrics = ml.get_metrics_collector()
metrics.register_metric("jobs_done", "counter", description="Jobs done")
metrics.increment_counter("jobs_done", 2, labels={"who": who})
assert ml.flush()
print(trace_id)
"""


def command(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    return subprocess.run([sys.executable, "-m", "monitoring_layer", *argv], capture_output=True, text=True,
                          timeout=WAIT_S, env={**env, **kwargs.pop("env", {})}, **kwargs)


def write_from(run_python, who: str) -> str:
    return run_python(WRITER, env={"WHO": who, "OTEL_SERVICE_NAME": who}).stdout.strip()


def test_real_writers_in_two_processes(home, run_python):
    first, second = write_from(run_python, "alpha"), write_from(run_python, "beta")

    listed = json.loads(command("traces", "list", "--home", str(home), "--json").stdout)["traces"]
    assert {t["trace_id"]: t["service"] for t in listed} == {first: "alpha", second: "beta"}
    shown = command("traces", "show", first, "--home", str(home))
    assert shown.returncode == 0 and "alpha-work" in shown.stdout and "event +" in shown.stdout

    logs = command("logs", "--home", str(home), "--level", "WARNING", "--json")
    assert [r["message"] for r in json.loads(logs.stdout)["records"]] == ["alpha says hello", "beta says hello"]
    assert json.loads(command("logs", "--home", str(home), "--trace", second, "--json").stdout)["records"][0][
        "component"] == "beta"

    metric = json.loads(command("metrics", "show", "jobs_done", "--home", str(home), "--json").stdout)
    by_who = {s["labels"]["who"]: s for s in metric["series"]}
    assert set(by_who) == {"alpha", "beta"} and by_who["alpha"]["source"] != by_who["beta"]["source"]
    assert by_who["beta"]["lifetime"] == {"count": 1, "sum": 2}

    check = command("check", "--home", str(home), "--json")
    assert check.returncode == 0, check.stdout
    files = {f["file"]: f["status"] for f in json.loads(check.stdout)["files"]}
    assert [files[name] for name in ("traces/traces.json", "logs/logs.json", "metrics/metrics_registry.json")] == [
        "ok", "ok", "ok"]


def test_a_closed_pipe_ends_quietly(home, run_python):
    # Enough records that the command is still writing when the reader goes away.
    run_python("""
        import monitoring_layer as ml
        logs = ml.get_log_aggregator()
        for i in range(3000):
            logs.info("bulk", "record %d of a long listing that fills the pipe's buffer" % i)
        assert ml.flush()
    """, env={"MONITORING_LOGS_MAX_RECORDS": "5000"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    # The listings (~300 KB, past any pipe buffer) meet the closed pipe: 141, as `cat` would say.
    # `check`'s short report may fit the pipe's buffer before the reader closes it: 0 is right then.
    for argv, statuses in ((["logs", "--limit", "0"], {141}), (["logs", "--limit", "0", "--json"], {141}),
                           (["check", "--json"], {0, 141})):
        proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", *argv, "--home", str(home)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.readline()  # like `| head -1`
        proc.stdout.close()
        assert proc.wait(timeout=WAIT_S) in statuses, argv
        assert proc.stderr.read() == b"", argv
        proc.stderr.close()
    # And in a real shell pipeline, where `set -o pipefail` scripts read it.
    shell = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$PY" -m monitoring_layer logs --limit 0 --home "$HOME_DIR" | head -1'],
        capture_output=True, text=True, timeout=WAIT_S, env={**env, "PY": sys.executable, "HOME_DIR": str(home)})
    assert shell.returncode == 141 and shell.stderr == ""
    assert shell.stdout.count("\n") == 1 and "record" in shell.stdout


class Follower:
    """`monitoring-layer logs --follow` in a subprocess, its stdout lines read on a thread."""

    def __init__(self, home: Path, *options: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
        self.proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", "logs", "--follow", "--home",
                                      str(home), *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"no line from the follower; stderr: {self.proc.stderr.read()}") from None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=WAIT_S)
        self.proc.stdout.close()
        self.proc.stderr.close()


LOG = """
import os, monitoring_layer as ml
ml.get_log_aggregator().error("late", os.environ["MESSAGE"])
assert ml.flush()
"""


def test_follow_prints_a_record_written_after_it_started(home, run_python):
    run_python(LOG, env={"MESSAGE": "before the follower"})
    follower = Follower(home)
    try:
        assert follower.next_line().rstrip().endswith("ERROR    late: before the follower")
        run_python(LOG, env={"MESSAGE": "written while following"})  # another process
        assert follower.next_line().rstrip().endswith("ERROR    late: written while following")
        run_python(LOG, env={"MESSAGE": "and one more"})
        assert follower.next_line().rstrip().endswith("ERROR    late: and one more")
    finally:
        follower.stop()


def test_follow_json_lines_and_filters(home, run_python):
    home.mkdir(mode=0o700)  # the file does not exist yet: the follower waits for it
    follower = Follower(home, "--json", "--grep", "wanted")
    try:
        run_python(LOG, env={"MESSAGE": "not this one"})
        run_python(LOG, env={"MESSAGE": "the wanted record"})
        record = json.loads(follower.next_line())
        assert record["message"] == "the wanted record" and record["level"] == "ERROR"
        assert follower.lines.empty()
    finally:
        follower.stop()


def on_a_terminal(*argv: str, env: dict[str, str] | None = None) -> bytes:
    """What the command shows when its stdout is a terminal (a pseudo-terminal)."""
    import pty

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_", "NO_COLOR"))}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", *argv], stdout=follower,
                            stderr=subprocess.DEVNULL, env={**full_env, **(env or {})})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the command exited and closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=WAIT_S) == 0
    return shown


def test_colours_only_on_a_terminal(home, run_python):
    run_python(LOG, env={"MESSAGE": "in colour"})
    piped = command("logs", "--home", str(home))
    assert "\033[" not in piped.stdout and "in colour" in piped.stdout
    assert b"\033[31mERROR   \033[0m late: in colour" in on_a_terminal("logs", "--home", str(home))
    plain = on_a_terminal("logs", "--home", str(home), env={"NO_COLOR": "1"})
    assert b"late: in colour" in plain and b"\033[" not in plain


def test_follow_ends_quietly_when_its_reader_goes_away(home, run_python):
    import select

    run_python(LOG, env={"MESSAGE": "first"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
    proc = subprocess.Popen([sys.executable, "-m", "monitoring_layer", "logs", "--follow", "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], WAIT_S)  # bounded wait for its first line
        assert ready and b"first" in proc.stdout.readline()
        proc.stdout.close()  # like `logs --follow | head -1` after its line
        run_python(LOG, env={"MESSAGE": "nobody reads this"})  # the next write meets the closed pipe
        assert proc.wait(timeout=WAIT_S) == 141  # 128 + SIGPIPE
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
