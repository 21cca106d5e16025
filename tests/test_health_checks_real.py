"""The built-in checks against real things: librdkafka's mock Kafka cluster, folders (one mounted
read-only), sqlite files, and the errors a missing driver or an unknown scheme give at creation."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring_layer import HealthCheckManager, create_database_check, create_kafka_check, create_storage_check

from _requires import require

pytestmark = pytest.mark.integration


@pytest.fixture
def health():
    manager = HealthCheckManager(background=False)
    yield manager
    manager.close()


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------ Kafka


@pytest.fixture
def mock_kafka():
    require("confluent_kafka", "the Kafka check's tests use librdkafka's mock cluster")
    import confluent_kafka
    producer = confluent_kafka.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = producer.list_topics(timeout=10).brokers
    (broker,) = brokers.values()
    yield f"{broker.host}:{broker.port}"
    producer.flush(5)
    del producer


def test_kafka_mock_cluster_is_healthy(health, mock_kafka):
    health.register_check("kafka", "broker_connectivity", create_kafka_check([mock_kafka], timeout_s=10), timeout_s=15)
    result = health.run_check("kafka", "broker_connectivity")
    assert result["status"] == "healthy", result
    assert result["observed_value"] == 1 and result["observed_unit"] == "brokers"
    assert result["details"]["method"] == "metadata"


def test_kafka_closed_port_is_unhealthy_within_the_timeout(health):
    port = _closed_port()
    health.register_check("kafka", "broker_connectivity", create_kafka_check([f"127.0.0.1:{port}"], timeout_s=2))
    result = health.run_check("kafka", "broker_connectivity")
    assert result["status"] == "unhealthy"
    assert f"127.0.0.1:{port}" in result["output"] and "timed out" not in result["output"]  # it answered itself


def test_the_specs_call_reports_unhealthy_when_nothing_listens(health):
    with socket.socket() as probe:
        if probe.connect_ex(("localhost", 9092)) == 0:
            pytest.skip("something listens on localhost:9092 on this machine")
    health.register_check(component="kafka", check_name="broker_connectivity",
                          check_func=create_kafka_check(["localhost:9092"]))
    result = health.run_check("kafka", "broker_connectivity")
    assert result["status"] == "unhealthy" and "localhost:9092" in result["output"]
    assert health.get_component_status("kafka")["status"] == "unhealthy"


def test_kafka_without_confluent_kafka_uses_a_tcp_connect(health, monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # import fails as if not installed
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        health.register_check("kafka", "tcp", create_kafka_check(f"127.0.0.1:{port},127.0.0.1:{_closed_port()}"))
        result = health.run_check("kafka", "tcp")
    assert result["status"] == "healthy" and result["observed_value"] == 1
    assert result["details"]["method"] == "tcp_connect (confluent-kafka not installed)"
    assert len(result["details"]["unreachable"]) == 1


@pytest.mark.parametrize(("servers", "error"), [
    ([], ValueError), (["no-port"], ValueError), (["host:99999"], ValueError), (42, TypeError), ([None], ValueError),
])
def test_kafka_bad_servers_are_refused_at_creation(servers, error):
    with pytest.raises(error, match="bootstrap_servers"):
        create_kafka_check(servers)


# ------------------------------------------------------------------ storage


def test_storage_folder_is_healthy_and_leaves_nothing(health, tmp_path):
    health.register_check("storage", "data", create_storage_check(tmp_path))
    result = health.run_check("storage", "data")
    assert result["status"] == "healthy", result
    assert result["observed_unit"] == "bytes free" and result["observed_value"] > 0
    assert 0 <= result["details"]["free_percent"] <= 100
    assert list(tmp_path.iterdir()) == []


def test_storage_missing_path_and_file_are_unhealthy(health, tmp_path):
    (tmp_path / "file").write_text("x")
    health.register_check("storage", "missing", create_storage_check(tmp_path / "missing"))
    health.register_check("storage", "file", create_storage_check(str(tmp_path / "file")))
    results = health.run_all_checks()["storage"]
    assert results["missing"]["status"] == "unhealthy" and "does not exist" in results["missing"]["output"]
    assert results["file"]["status"] == "unhealthy" and "is not a folder" in results["file"]["output"]


def test_storage_free_space_thresholds(health, tmp_path):
    total = os.statvfs(tmp_path).f_blocks * os.statvfs(tmp_path).f_frsize
    health.register_check("storage", "bytes", create_storage_check(tmp_path, min_free_bytes=total + 1))
    health.register_check("storage", "enough", create_storage_check(tmp_path, min_free_bytes=1, min_free_percent=0))
    results = health.run_all_checks()["storage"]
    assert results["bytes"]["status"] == "unhealthy" and "below min_free_bytes" in results["bytes"]["output"]
    assert results["enough"]["status"] == "healthy"
    with pytest.raises(ValueError, match="min_free_percent"):
        create_storage_check(tmp_path, min_free_percent=101)
    with pytest.raises(ValueError, match="min_free_bytes"):
        create_storage_check(tmp_path, min_free_bytes=-1)


@pytest.fixture
def read_only_folder(tmp_path):
    """``(folder, expected error)``: as root a read-only tmpfs mount (root ignores permissions);
    otherwise a folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        if in_ci():
            pytest.fail(f"cannot mount a read-only tmpfs under CI: {mount.stderr.strip()}")
        pytest.skip(f"mounting is not permitted here: {mount.stderr.strip()}")
    yield folder, "Read-only file system"
    subprocess.run(["umount", str(folder)], check=True)


def test_storage_read_only_folder_is_unhealthy(health, read_only_folder):
    folder, expected = read_only_folder
    health.register_check("storage", "ro", create_storage_check(folder))
    result = health.run_check("storage", "ro")
    assert result["status"] == "unhealthy" and expected in result["output"], result


# ------------------------------------------------------------------ databases


def test_sqlite_fresh_file_is_healthy(health, tmp_path):
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    health.register_check("db", "sqlite", create_database_check(f"sqlite:///{path}"))
    result = health.run_check("db", "sqlite")
    assert result["status"] == "healthy", result
    assert result["observed_unit"] == "ms" and result["details"]["tables"] == 0


def test_sqlite_relative_url_and_tables(health, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with sqlite3.connect("app.db") as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    health.register_check("db", "sqlite", create_database_check("sqlite:///app.db"))
    assert health.run_check("db", "sqlite")["details"]["tables"] == 1


def test_sqlite_random_bytes_are_unhealthy(health, tmp_path):
    path = tmp_path / "corrupt.db"
    path.write_bytes(os.urandom(8192))
    health.register_check("db", "sqlite", create_database_check(f"sqlite:///{path}"))
    result = health.run_check("db", "sqlite")
    assert result["status"] == "unhealthy" and "file is not a database" in result["output"], result


def test_sqlite_missing_file_is_unhealthy_and_not_created(health, tmp_path):
    path = tmp_path / "absent.db"
    health.register_check("db", "sqlite", create_database_check(f"sqlite:///{path}"))
    assert health.run_check("db", "sqlite")["status"] == "unhealthy"
    assert not path.exists()


def test_postgresql_without_psycopg_is_a_clear_error_at_creation(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"needs the psycopg package: pip install 'psycopg\[binary\]'") as info:
        create_database_check("postgresql://app:s3cret@db.internal:5432/app")
    assert "s3cret" not in str(info.value) and "app:***@db.internal" in str(info.value)


@pytest.mark.parametrize(("url", "error"), [
    ("mysql://localhost/app", ValueError), ("app.db", ValueError), ("sqlite://relative", ValueError),
    (None, TypeError),
])
def test_unknown_or_bad_database_urls_are_refused_at_creation(url, error):
    with pytest.raises(error, match="url"):
        create_database_check(url)


def test_factories_are_marked_external():
    for check in (create_kafka_check(["h:1"]), create_storage_check(Path("/")), create_database_check("sqlite:///x")):
        assert getattr(check, "__monitoring_external__") in ("Kafka", "storage", "database")  # noqa: B009


def _pg_binary(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server on loopback in a temporary cluster (trust auth), stopped afterwards."""
    import shutil
    import tempfile

    require("psycopg", "the postgresql check's test connects with psycopg")
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        if in_ci():
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are missing under CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)")
    # PostgreSQL refuses to run as root: as root, the cluster belongs to nobody.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    base = tempfile.mkdtemp(prefix="ml-pg-")
    os.chmod(base, 0o755)
    data, sockets = os.path.join(base, "data"), os.path.join(base, "sock")
    os.mkdir(sockets)
    if as_user:
        os.chown(base, 65534, 65534)
        os.chown(sockets, 65534, 65534)
    port = _closed_port()
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", data, "-w", "-t", "60", "-l", os.path.join(base, "log"), "-o",
                        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')[-500:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_postgresql_server_is_healthy_and_a_closed_port_is_not(health, postgres_url):
    health.register_check("db", "postgres", create_database_check(postgres_url))
    health.register_check("db", "closed", create_database_check(
        f"postgresql://postgres:secret@127.0.0.1:{_closed_port()}/postgres", timeout_s=2))
    results = health.run_all_checks()["db"]
    assert results["postgres"]["status"] == "healthy", results["postgres"]
    assert results["postgres"]["details"]["method"] == "psycopg"
    closed = results["closed"]
    assert closed["status"] == "unhealthy" and "postgresql error" in closed["output"]
    assert "secret" not in json.dumps(closed)
