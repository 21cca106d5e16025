"""`health` on a home whose health files two processes wrote: exact output, --json, exit codes."""

from __future__ import annotations

import json

import pytest

from tests._cli_engines import cli, seeded  # noqa: F401 - seeded is a fixture


def test_seeded_files_are_valid(seeded):
    status, out, _ = cli("check", "--home", str(seeded), "--json")
    files = {f["file"]: f for f in json.loads(out)["files"]}
    for name in ("health/health_status.json", "health/health_history.json"):
        assert files[name]["status"] == "ok", files[name]


def test_health_exact(seeded):
    status, out, err = cli("health", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "system unhealthy  (updated 2026-11-18 11:07:41.000 UTC)",
        "COMPONENT  CHECK        STATUS     CRITICAL  DURATION  CHECKED (UTC)            RECENT  OUTPUT",
        "postgres                unhealthy                                                       "
        "critical check connection failed; depends on network",
        "           connection   unhealthy  yes        12.0 ms  2026-11-18 11:07:40.000  ✓✓~✗✗   connection refused",
        "           replication  healthy    no          3.2 ms  2026-11-18 11:07:40.000",
        "api                     healthy",
        "           http         healthy    yes         1.5 ms  2026-11-18 11:07:41.000  ✓",
    ]


def test_health_filters_and_json(seeded):
    status, out, _ = cli("health", "--home", str(seeded), "--status", "unhealthy", "--json")
    doc = json.loads(out)
    assert status == 0 and doc["status"] == "unhealthy"
    (postgres,) = doc["components"]
    assert postgres["component"] == "postgres"
    assert [r["status"] for r in postgres["history"]["connection"]] == [
        "unhealthy", "unhealthy", "degraded", "healthy", "healthy"]
    status, out, _ = cli("health", "--home", str(seeded), "--component", "api", "--json")
    assert [c["component"] for c in json.loads(out)["components"]] == ["api"]
    status, out, err = cli("health", "--home", str(seeded), "--component", "nope")
    assert status == 1 and "no component matches" in err


def test_absent_files_and_missing_home(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = cli("health", "--home", str(empty))
    assert (status, out) == (1, "") and "does not exist yet" in err
    assert cli("health", "--home", str(tmp_path / "missing"))[0] == 2


WRITER = """
import os, monitoring_layer as ml
health = ml.get_health_check_manager()
ok = os.environ["WHO"] == "api"
health.register_check(os.environ["WHO"], "ping", (lambda: True) if ok else (lambda: "degraded"))
health.run_all_checks()
assert ml.flush()
"""


@pytest.mark.integration
def test_health_written_by_the_real_manager_in_two_processes(home, run_python):
    run_python(WRITER, env={"WHO": "api"})
    run_python(WRITER, env={"WHO": "cache"})
    status, out, err = cli("health", "--home", str(home), "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["status"] == "degraded"
    by_name = {c["component"]: c for c in doc["components"]}
    assert by_name["api"]["status"] == "healthy" and by_name["cache"]["status"] == "degraded"
    assert [r["status"] for r in by_name["cache"]["history"]["ping"]] == ["degraded"]
    status, out, _ = cli("health", "--home", str(home), "--status", "degraded")
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("system degraded") and lines[2].startswith("cache ")
    assert cli("check", "--home", str(home), "--strict")[0] in (0, 1)  # health files valid (others may be absent)
    files = {f["file"]: f["status"] for f in json.loads(cli("check", "--home", str(home), "--json")[1])["files"]}
    assert files["health/health_status.json"] == files["health/health_history.json"] == "ok"
