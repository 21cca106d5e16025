"""HealthCheckManager: registration, results, concurrency, hard timeouts, dependencies, history, staleness."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from monitoring_layer import HealthCheckManager, HealthStatus, create_kafka_check, create_storage_check
from monitoring_layer.health import UnknownCheckError


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock):
    manager = HealthCheckManager(clock=clock, background=False)
    yield manager
    manager.close()


# ------------------------------------------------------------------ registration


@pytest.mark.parametrize(("kwargs", "error", "argument"), [
    ({"component": ""}, ValueError, "component"),
    ({"component": 3}, TypeError, "component"),
    ({"component": "a:b"}, ValueError, "component"),
    ({"check_name": " "}, ValueError, "check_name"),
    ({"check_func": "not callable"}, TypeError, "check_func"),
    ({"timeout_s": 0}, ValueError, "timeout_s"),
    ({"timeout_s": "5"}, TypeError, "timeout_s"),
    ({"interval_s": float("inf")}, ValueError, "interval_s"),
    ({"interval_s": 10**400}, ValueError, "interval_s"),
    ({"timeout_s": float("nan")}, ValueError, "timeout_s"),
    ({"critical": "yes"}, TypeError, "critical"),
    ({"probe": "readyness"}, ValueError, "probe"),
    ({"depends_on": [""]}, ValueError, "depends_on"),
    ({"depends_on": 5}, TypeError, "depends_on"),
])
def test_bad_arguments_name_the_argument(health, kwargs, error, argument):
    call = {"component": "db", "check_name": "ping", "check_func": lambda: True, **kwargs}
    with pytest.raises(error, match=argument):
        health.register_check(call.pop("component"), call.pop("check_name"), call.pop("check_func"), **call)


def test_liveness_refuses_dependency_factories_and_dependencies(health, tmp_path):
    for factory in (create_kafka_check(["127.0.0.1:9"]), create_storage_check(tmp_path)):
        with pytest.raises(ValueError, match="liveness probe must not.*probe='readiness'"):
            health.register_check("app", "external", factory, probe="liveness")
    with pytest.raises(ValueError, match="depends_on is not allowed with probe='liveness'"):
        health.register_check("app", "alive", lambda: True, probe="liveness", depends_on=["db"])
    health.register_check("app", "alive", lambda: True, probe="liveness")  # a plain function is fine
    health.register_check("app", "storage", create_storage_check(tmp_path))  # readiness is fine


def test_unknown_check_is_a_key_error(health):
    with pytest.raises(UnknownCheckError, match="no check 'nope'"):
        health.run_check("db", "nope")
    with pytest.raises(KeyError):
        health.get_check_history("db", "nope")


def test_max_checks_bounds_registrations(clock):
    manager = HealthCheckManager(clock=clock, background=False, max_checks=2)
    manager.register_check("a", "1", lambda: True)
    manager.register_check("a", "2", lambda: True)
    manager.register_check("a", "2", lambda: False)  # replacing is not adding
    with pytest.raises(ValueError, match="max_checks=2"):
        manager.register_check("a", "3", lambda: True)
    manager.close()


# ------------------------------------------------------------------ results


@pytest.mark.parametrize(("returned", "status", "output"), [
    (True, "healthy", ""),
    (False, "unhealthy", ""),
    ("degraded", "degraded", ""),
    (HealthStatus.UNKNOWN, "unknown", ""),
    ({"status": "unhealthy", "output": "disk full"}, "unhealthy", "disk full"),
    (None, "unknown", "check returned None; expected a bool, a status string or a dict with 'status'"),
    ({"status": "purple"}, "unknown", "check returned a dict whose status is 'purple'; expected healthy, "
                                      "degraded, unhealthy or unknown"),
])
def test_what_a_check_returns(health, returned, status, output):
    health.register_check("db", "ping", lambda: returned)
    result = health.run_check("db", "ping")
    assert (result["status"], result["output"]) == (status, output)
    assert set(result) >= {"status", "output", "duration_ms", "timestamp", "details"}


def test_details_and_observed_values(health, clock):
    health.register_check("db", "pool", lambda: {"status": "healthy", "observed_value": 7,
                                                 "observed_unit": "connections", "max": 10})
    result = health.run_check("db", "pool")
    assert result["observed_value"] == 7 and result["observed_unit"] == "connections"
    assert result["details"] == {"max": 10}
    assert result["timestamp"] == "2023-11-14T22:13:20.000Z" and result["time_unix_nano"] == int(clock.now * 1e9)
    json.dumps(result, allow_nan=False)


def test_raising_means_unhealthy_with_the_exception(health):
    def broken():
        raise ConnectionError("connection refused")

    health.register_check("db", "ping", broken)
    result = health.run_check("db", "ping")
    assert result["status"] == "unhealthy" and result["output"] == "ConnectionError: connection refused"


def test_async_checks(health):
    async def ping():
        await asyncio.sleep(0)
        return {"status": "degraded", "output": "slow"}

    class Callable:
        async def __call__(self):
            return True

    health.register_check("db", "async", ping)
    health.register_check("db", "callable", Callable())
    health.register_check("db", "partial", lambda: ping())  # a sync function that returns a coroutine
    results = health.run_all_checks()["db"]
    assert {k: r["status"] for k, r in results.items()} == {"async": "degraded", "callable": "healthy",
                                                           "partial": "degraded"}


# ------------------------------------------------------------------ concurrency and timeouts


def test_checks_run_concurrently(health):
    # Each check waits until all 30 are inside a check at once: run one by one, they would break the barrier.
    barrier = threading.Barrier(30, timeout=20)
    for i in range(30):
        health.register_check("pool", f"c{i}", lambda: barrier.wait() >= 0, timeout_s=30)
    results = health.run_all_checks()["pool"]
    assert {r["status"] for r in results.values()} == {"healthy"}


def test_async_checks_run_concurrently(health):
    arrived = {"n": 0}

    async def rendezvous():
        arrived["n"] += 1
        for _ in range(10_000):
            if arrived["n"] == 10:
                return True
            await asyncio.sleep(0.001)
        return False

    for i in range(10):
        health.register_check("loop", f"c{i}", rendezvous, timeout_s=30)
    assert {r["status"] for r in health.run_all_checks()["loop"].values()} == {"healthy"}


def test_a_hanging_check_is_cut_at_its_timeout_and_never_started_twice(health):
    release = threading.Event()
    calls = []

    def hangs():
        calls.append(1)
        release.wait()
        return True

    health.register_check("db", "hangs", hangs, timeout_s=0.2)
    health.register_check("db", "fine", lambda: True)
    first = health.run_all_checks()["db"]
    assert first["hangs"]["status"] == "unhealthy" and first["hangs"]["output"] == "timed out after 0.2s"
    assert first["fine"]["status"] == "healthy"
    again = health.run_check("db", "hangs")
    assert again["status"] == "unhealthy" and again["output"].startswith("still running")
    stats = health.stats()
    assert calls == [1] and stats["timeouts"] == 1 and stats["skipped_hanging"] == 1 and stats["hanging"] == 1
    assert stats["pool"]["detached"] == 1

    release.set()  # the hung call returns: the check may run again
    for _ in range(1000):
        if health.stats()["hanging"] == 0:
            break
        threading.Event().wait(0.01)
    assert health.run_check("db", "hangs")["status"] == "healthy"
    assert calls == [1, 1] and health.stats()["late_completions"] == 1


def test_a_timed_out_coroutine_is_cancelled_not_left_hanging(health):
    cancelled = threading.Event()

    async def forever():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    health.register_check("db", "forever", forever, timeout_s=0.1)
    assert health.run_check("db", "forever")["output"] == "timed out after 0.1s"
    assert cancelled.wait(10)
    for _ in range(1000):
        if health.stats()["hanging"] == 0:
            break
        threading.Event().wait(0.01)
    assert health.stats()["hanging"] == 0


def test_a_caller_joins_the_call_in_flight(health):
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow():
        calls.append(1)
        started.set()
        release.wait(20)
        return True

    health.register_check("db", "slow", slow, timeout_s=30)
    results = []
    first = threading.Thread(target=lambda: results.append(health.run_check("db", "slow")))
    first.start()
    assert started.wait(20)
    second = threading.Thread(target=lambda: results.append(health.run_check("db", "slow")))
    second.start()
    release.set()
    first.join(20)
    second.join(20)
    assert calls == [1] and len(results) == 2 and results[0] is results[1]
    assert len(health.get_check_history("db", "slow")) == 1


# ------------------------------------------------------------------ aggregation and dependencies


def test_worst_wins_and_non_critical_degrades(health):
    health.register_check("api", "core", lambda: True)
    health.register_check("api", "cache", lambda: False, critical=False)
    health.register_check("db", "ping", lambda: True)
    health.run_all_checks()
    api = health.get_component_status("api")
    assert api["status"] == "degraded" and "check 'cache' is unhealthy (non-critical)" in api["reason"]
    assert set(api["checks"]) == {"core", "cache"}
    system = health.get_system_health()
    assert system["status"] == "degraded" and system["summary"]["degraded"] == 1
    assert set(system["components"]) == {"api", "db"}

    health.register_check("db", "disk", lambda: "unhealthy")
    health.run_all_checks()
    assert health.get_system_health()["status"] == "unhealthy"
    assert health.get_component_status("nothing") == {"component": "nothing", "status": "unknown",
                                                      "reason": "no checks registered", "checks": {},
                                                      "depends_on": []}


def test_never_run_is_unknown_and_unknown_ranks_below_degraded(health):
    health.register_check("a", "ran", lambda: True)
    health.register_check("a", "new", lambda: True)
    health.run_check("a", "ran")
    assert health.get_component_status("a")["status"] == "unknown"
    assert health.get_component_status("a")["checks"]["new"]["output"] == "not run yet"
    health.register_check("a", "slow", lambda: "degraded")
    health.run_check("a", "slow")
    assert health.get_component_status("a")["status"] == "degraded"


def test_an_unhealthy_dependency_degrades_with_the_reason(health):
    state = {"kafka": False}
    health.register_check("kafka", "broker", lambda: state["kafka"])
    health.register_check("ingest", "self", lambda: True, depends_on="kafka")
    health.register_dependency("api", ["ingest"])
    health.register_check("api", "self", lambda: True)
    health.run_all_checks()
    ingest = health.get_component_status("ingest")
    assert ingest["status"] == "degraded" and ingest["reason"] == "depends on 'kafka', which is unhealthy"
    assert ingest["depends_on"] == ["kafka"]
    assert health.get_component_status("api")["status"] == "healthy"  # ingest is degraded, not unhealthy
    state["kafka"] = True
    health.run_all_checks()
    assert health.get_component_status("ingest") ["status"] == "healthy"


def test_dependency_cycles_are_refused(health):
    health.register_dependency("a", "b")
    health.register_dependency("b", ["c"])
    with pytest.raises(ValueError, match=r"cycle \(c -> a -> b -> c\)"):
        health.register_dependency("c", "a")
    with pytest.raises(ValueError, match="cannot depend on itself"):
        health.register_dependency("a", "a")
    with pytest.raises(ValueError, match="cycle"):
        health.register_check("c", "x", lambda: True, depends_on=["a"])
    health.register_dependency("c", "d")  # the graph was left as it was


def test_stale_results_are_unknown(health, clock):
    health.register_check("db", "ping", lambda: True, interval_s=10)
    health.run_check("db", "ping")
    clock.now += 30
    assert health.get_component_status("db")["status"] == "healthy"
    clock.now += 0.5
    status = health.get_component_status("db")
    assert status["status"] == "unknown" and status["checks"]["ping"]["stale"] is True
    assert "stale: the last result (healthy) is 30s old, more than 3 intervals of 10s" in status["reason"]


def test_run_due_checks_follows_each_interval(health, clock):
    calls = {"fast": 0, "slow": 0}

    def counting(name):
        def check():
            calls[name] += 1
            return True
        return check

    health.register_check("a", "fast", counting("fast"), interval_s=5)
    health.register_check("a", "slow", counting("slow"), interval_s=60)
    assert health.run_due_checks() == 2
    assert health.run_due_checks() == 0
    clock.now += 5
    assert health.run_due_checks() == 1 and calls == {"fast": 2, "slow": 1}


# ------------------------------------------------------------------ history and report


def test_history_is_newest_first_and_bounded(clock):
    manager = HealthCheckManager(clock=clock, background=False, max_history=5)
    values = iter(range(100))
    manager.register_check("db", "n", lambda: {"status": "healthy", "observed_value": next(values)})
    for _ in range(8):
        manager.run_check("db", "n")
        clock.now += 1
    history = manager.get_check_history("db", "n", limit=100)
    assert [r["observed_value"] for r in history] == [7, 6, 5, 4, 3]
    assert [r["observed_value"] for r in manager.get_check_history("db", "n", limit=2)] == [7, 6]
    with pytest.raises(ValueError, match="limit"):
        manager.get_check_history("db", "n", limit=-1)
    manager.close()


def test_export_health_report(health, tmp_path):
    health.register_check("db", "ping", lambda: True)
    health.register_dependency("api", "db")
    health.run_all_checks()
    path = health.export_health_report(str(tmp_path / "report.json"))
    report = json.loads(path.read_text())
    assert report["system"]["status"] == "healthy"
    assert report["history"]["db:ping"][0]["status"] == "healthy"
    assert report["dependencies"] == {"api": ["db"]}


def test_background_runner_runs_checks_and_stops(tmp_path):
    ran = threading.Event()
    manager = HealthCheckManager(home=tmp_path / "home", write_interval_s=3600)
    manager.register_check("db", "ping", lambda: ran.set() or True, interval_s=3600)
    assert ran.wait(20)  # started by the first registration; runs a new check at once
    manager.close()
    assert not manager._runner.is_alive()
    assert (tmp_path / "home/health/health_status.json").is_file()  # close() writes the files


def test_close_lets_idle_workers_leave(clock):
    manager = HealthCheckManager(clock=clock, background=False)
    for i in range(5):
        manager.register_check("a", str(i), lambda: True)
    manager.run_all_checks()
    assert manager.stats()["pool"]["threads"] >= 1
    manager.close()
    for _ in range(1000):
        if manager.stats()["pool"]["threads"] == 0:
            break
        threading.Event().wait(0.01)
    assert manager.stats()["pool"]["threads"] == 0
