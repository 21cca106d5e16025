"""`alerts` on a home whose alert files two processes wrote: exact output, --json, exit codes."""

from __future__ import annotations

import json

import pytest

from tests._cli_engines import cli, seeded  # noqa: F401 - seeded is a fixture


def test_seeded_files_are_valid(seeded):
    status, out, _ = cli("check", "--home", str(seeded), "--json")
    files = {f["file"]: f for f in json.loads(out)["files"]}
    for name in ("alerts/rules.json", "alerts/incidents.json"):
        assert files[name]["status"] == "ok", files[name]


def test_alerts_exact(seeded):
    status, out, err = cli("alerts", "--home", str(seeded))
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "STARTED (UTC)            SEVERITY  STATE      ALERT             VALUE  LABELS       RULE"
        "                     INCIDENT",
        "2026-11-18 11:07:10.000  high      triggered  High error rate    12.5  service=api  rate(errors_total) > 10"
        "  inc-1",
        "2026-11-18 11:06:40.000  medium    resolved   Slow queries     312.75  -            p95(query_ms) > 250"
        "      inc-2",
    ]


@pytest.mark.parametrize(("options", "expected"), [
    (["--state", "triggered"], ["al-1"]),
    (["--state", "resolved"], ["al-2"]),
    (["--severity", "high"], ["al-1"]),        # high and more severe
    (["--severity", "medium"], ["al-1", "al-2"]),
    (["--rule", "slow_queries"], ["al-2"]),
    (["--since", "40s"], ["al-1"]),            # al-2 was last updated 45 s before NOW
    (["--limit", "1"], ["al-1"]),
])
def test_alerts_filters(seeded, options, expected):
    status, out, _ = cli("alerts", "--home", str(seeded), "--json", *options)
    assert status == 0
    assert [a["alert_id"] for a in json.loads(out)["alerts"]] == expected


def test_alert_incidents(seeded):
    status, out, _ = cli("alerts", "--incidents", "--home", str(seeded))
    assert status == 0
    assert out.splitlines()[1].split()[:6] == ["2026-11-18", "11:07:10.000", "high", "open", "inc-1", "High"]
    status, out, _ = cli("alerts", "--incidents", "--state", "triggered", "--home", str(seeded), "--json")
    assert [i["incident_id"] for i in json.loads(out)["incidents"]] == ["inc-1"]


def test_nothing_matched_and_absent_files(seeded, tmp_path):
    status, out, err = cli("alerts", "--home", str(seeded), "--severity", "critical")
    assert (status, out) == (1, "") and "no alert matches" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = cli("alerts", "--home", str(empty))
    assert status == 1 and "does not exist yet" in err
    assert cli("alerts", "--home", str(tmp_path / "missing"))[0] == 2


WRITER = """
import os, monitoring_layer as ml
from monitoring_layer import AlertRule
who = os.environ["WHO"]
alerts = ml.get_alert_manager()
alerts.register_rule(AlertRule(rule_id=f"{who}_high", name=f"{who} too high", metric=f"{who}_load",
                               condition="> 85", threshold=85, severity=os.environ["SEVERITY"],
                               notification_channels=[]))
alerts.evaluate_and_trigger(metric=f"{who}_load", value=92)
assert ml.flush()
"""


@pytest.mark.integration
def test_alerts_written_by_the_real_manager_in_two_processes(home, run_python):
    run_python(WRITER, env={"WHO": "cpu", "SEVERITY": "critical"})
    run_python(WRITER, env={"WHO": "disk", "SEVERITY": "medium"})
    status, out, err = cli("alerts", "--home", str(home), "--json")
    assert status == 0, err
    by_rule = {a["rule_id"]: a for a in json.loads(out)["alerts"]}
    assert set(by_rule) == {"cpu_high", "disk_high"}
    assert by_rule["cpu_high"]["state"] == "triggered" and by_rule["cpu_high"]["value"] == 92
    status, out, _ = cli("alerts", "--home", str(home), "--severity", "high", "--json")
    assert [a["rule_id"] for a in json.loads(out)["alerts"]] == ["cpu_high"]
    status, out, _ = cli("alerts", "--home", str(home), "--state", "triggered")
    assert status == 0 and "cpu too high" in out and "disk too high" in out and "> 85" in out
    files = {f["file"]: f["status"] for f in json.loads(cli("check", "--home", str(home), "--json")[1])["files"]}
    assert files["alerts/incidents.json"] == files["alerts/rules.json"] == "ok"
