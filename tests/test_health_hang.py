"""A check that never returns: cut at its timeout while 50 others finish, probes keep answering,
it is not started again, and the interpreter still exits (a fresh process, so exit is real)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json
import threading
import time
import urllib.request

import monitoring_layer
from monitoring_layer import create_storage_check

health = monitoring_layer.get_health_check_manager()
server = monitoring_layer.serve_health(host="127.0.0.1", port=0)


def probe(path):
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def answered_while_running():
    # Runs as one of the checks: the probes answer while run_all_checks is in progress.
    return probe("/livez") == 200 and probe("/readyz") in (200, 503)


health.register_check("stuck", "forever", lambda: threading.Event().wait(), timeout_s=2)
for i in range(50):
    health.register_check("fleet", f"c{i}", lambda: time.sleep(0.05) or True, timeout_s=30)
health.register_check("fleet", "probe", answered_while_running, timeout_s=30)
health.register_check("app", "alive", lambda: True, probe="liveness")

results = health.run_all_checks()
again = health.run_check("stuck", "forever")
after = {"livez": probe("/livez"), "readyz": probe("/readyz")}
print(json.dumps({
    "stuck": results["stuck"]["forever"],
    "again": again,
    "fleet": sorted({r["status"] for r in results["fleet"].values()}),
    "fleet_count": len(results["fleet"]),
    "after": after,
    "stats": health.stats(),
}))
# No close(), no join: the stuck worker is still blocked when the interpreter exits.
"""


def test_hanging_check_is_cut_others_finish_probes_answer_and_the_process_exits(run_python, home):
    # fails if the interpreter does not exit
    proc = run_python(SCRIPT, timeout=120, env={"MONITORING_EXPORT_INTERVAL": "3600"})
    assert proc.returncode == 0
    # The runner writes only once an hour here: the exit flush ran the lifecycle hooks.
    status = json.loads((home / "health/health_status.json").read_text())
    assert status["components"]["stuck"]["status"] == "unhealthy"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["stuck"]["status"] == "unhealthy" and report["stuck"]["output"] == "timed out after 2s"
    assert report["again"]["status"] == "unhealthy" and report["again"]["output"].startswith("still running")
    assert report["fleet"] == ["healthy"] and report["fleet_count"] == 51
    assert report["after"] == {"livez": 200, "readyz": 503}
    stats = report["stats"]
    assert stats["hanging"] == 1 and stats["skipped_hanging"] >= 1 and stats["pool"]["detached"] == 1


FORK_SCRIPT = r"""
import os
import threading

from monitoring_layer import HealthCheckManager

health = HealthCheckManager(write_interval_s=3600)
parent_ran = threading.Event()
health.register_check("app", "parent", lambda: parent_ran.set() or True, interval_s=3600)
assert parent_ran.wait(20)

pid = os.fork()
if pid == 0:
    # The child gets a runner of its own (threads do not survive fork) and runs its own checks.
    child_ran = threading.Event()
    health.register_check("app", "child", lambda: child_ran.set() or True, interval_s=3600)
    ok = child_ran.wait(20) and health.run_check("app", "parent")["status"] == "healthy"
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_restarts_the_runner(run_python):
    proc = run_python(FORK_SCRIPT, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "child exit 0", proc.stdout + proc.stderr
