"""Built-in checks of external systems: Kafka, storage, databases.

Each factory validates its arguments at creation (``ValueError``/``TypeError``;
a missing optional driver is an ``ImportError`` that says what to install) and
returns a no-argument check function. The functions carry the attribute
``__monitoring_external__`` naming the system they reach, so
``register_check(..., probe="liveness")`` can refuse them: liveness must never
depend on an external system.

Every check reports what it measured (``observed_value``/``observed_unit``) and
how (``method``), and fails fast and plainly when the system is unreachable.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["create_database_check", "create_kafka_check", "create_storage_check"]

EXTERNAL_ATTRIBUTE = "__monitoring_external__"


def _external(kind: str, func: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    setattr(func, EXTERNAL_ATTRIBUTE, kind)
    return func


def _timeout(argument: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond a float
        seconds = float("inf")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{argument} must be a positive finite number, not {value!r}")
    return seconds


# --------------------------------------------------------------------------- Kafka


def _hosts(bootstrap_servers: str | Iterable[str]) -> list[tuple[str, int]]:
    if isinstance(bootstrap_servers, str):
        items = [s for s in bootstrap_servers.split(",")]
    elif isinstance(bootstrap_servers, Iterable):
        items = list(bootstrap_servers)
    else:
        raise TypeError("bootstrap_servers must be a list of 'host:port' strings (or one comma-separated string), "
                        f"not {type(bootstrap_servers).__name__}")
    hosts = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"bootstrap_servers must hold 'host:port' strings, not {item!r}")
        text = item.strip()
        for prefix in ("PLAINTEXT://", "SSL://", "SASL_PLAINTEXT://", "SASL_SSL://"):
            if text.upper().startswith(prefix):
                text = text[len(prefix):]
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bootstrap_servers entry {item!r} is not 'host:port'")
        hosts.append((host.strip("[]"), int(port)))
    if not hosts:
        raise ValueError("bootstrap_servers must name at least one broker")
    return hosts


def _tcp(host: str, port: int, timeout_s: float) -> str | None:
    """None when a TCP connection opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def create_kafka_check(bootstrap_servers: str | Iterable[str], timeout_s: float = 5.0) -> Callable[[], dict[str, Any]]:
    """A check that asks the Kafka cluster for its metadata (its brokers).

    With ``confluent-kafka`` installed (extra ``kafka``) it makes a real
    metadata request and reports the number of brokers; without it, it opens a
    TCP connection to each bootstrap server (``details.method`` says which).
    A bootstrap server that refuses connections fails at once; the whole check
    stays within ``timeout_s``.

    >>> health.register_check("kafka", "broker_connectivity", create_kafka_check(["localhost:9092"]))  # doctest: +SKIP
    """
    hosts = _hosts(bootstrap_servers)
    timeout = _timeout("timeout_s", timeout_s)
    servers = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in hosts)
    confluent_kafka: Any
    try:
        import confluent_kafka
    except ImportError:
        confluent_kafka = None

    def check() -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        # A TCP connect first: a closed port fails in milliseconds with a clear reason,
        # where the client would retry until the timeout.
        refused = {}
        for host, port in hosts:
            why = _tcp(host, port, max(0.05, min(timeout, deadline - time.monotonic())))
            if why is not None:
                refused[f"{host}:{port}"] = why
        reachable = len(hosts) - len(refused)
        if confluent_kafka is None or not reachable:
            method = "tcp_connect" + ("" if confluent_kafka is not None else " (confluent-kafka not installed)")
            return {"status": "healthy" if reachable else "unhealthy",
                    "output": "" if reachable else "no bootstrap server reachable: " +
                    ", ".join(f"{k} ({v})" for k, v in refused.items()),
                    "observed_value": reachable, "observed_unit": "reachable bootstrap servers",
                    "method": method, "unreachable": refused}
        client = confluent_kafka.Producer({"bootstrap.servers": servers, "log_level": 0,
                                           "socket.timeout.ms": max(10, int(timeout * 1000)),
                                           "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000))})
        try:
            metadata = client.list_topics(timeout=max(0.05, deadline - time.monotonic()))
        except confluent_kafka.KafkaException as exc:
            return {"status": "unhealthy", "output": f"metadata request failed: {exc.args[0] if exc.args else exc}",
                    "observed_value": 0, "observed_unit": "brokers", "method": "metadata",
                    "unreachable": refused}
        brokers = len(metadata.brokers)
        return {"status": "healthy" if brokers else "unhealthy",
                "output": "" if brokers else "the cluster reported no brokers",
                "observed_value": brokers, "observed_unit": "brokers", "method": "metadata",
                "cluster_id": metadata.cluster_id, "topics": len(metadata.topics),
                "unreachable": refused}

    return _external("Kafka", check)


# --------------------------------------------------------------------------- storage


def create_storage_check(path: str | os.PathLike[str], min_free_bytes: int | None = None,
                         min_free_percent: float | None = None) -> Callable[[], dict[str, Any]]:
    """A check that ``path`` is a folder where a file can be written, read back and deleted,
    with at least ``min_free_bytes`` / ``min_free_percent`` free (for an unprivileged user).

    >>> create_storage_check("/data", min_free_percent=10)  # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path, not {type(path).__name__}")
    folder = Path(path)
    if min_free_bytes is not None and (isinstance(min_free_bytes, bool) or not isinstance(min_free_bytes, int)
                                       or min_free_bytes < 0):
        raise ValueError(f"min_free_bytes must be a non-negative integer or None, not {min_free_bytes!r}")
    if min_free_percent is not None and (isinstance(min_free_percent, bool)
                                         or not isinstance(min_free_percent, (int, float))
                                         or not 0 <= min_free_percent <= 100):
        raise ValueError(f"min_free_percent must be a number from 0 to 100 or None, not {min_free_percent!r}")

    def check() -> dict[str, Any]:
        details: dict[str, Any] = {"path": str(folder), "method": "write_read_delete"}
        if not folder.exists():
            return {"status": "unhealthy", "output": f"{folder} does not exist", **details}
        if not folder.is_dir():
            return {"status": "unhealthy", "output": f"{folder} is not a folder", **details}
        probe = folder / f".monitoring-health-{os.getpid()}-{secrets.token_hex(4)}"
        payload = secrets.token_bytes(64)
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            if probe.read_bytes() != payload:
                return {"status": "unhealthy", "output": f"a file written in {folder} read back different", **details}
        except OSError as exc:
            return {"status": "unhealthy", "output": f"cannot write a file in {folder}: {exc.strerror or exc}",
                    **details}
        finally:
            try:
                probe.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                return {"status": "unhealthy",  # noqa: B012 - a file we cannot delete is the finding
                        "output": f"cannot delete a file in {folder}: {exc.strerror or exc}", **details}
        usage = shutil.disk_usage(folder)
        free_percent = 100.0 * usage.free / usage.total if usage.total else 0.0
        details.update(observed_value=usage.free, observed_unit="bytes free", total_bytes=usage.total,
                       free_percent=round(free_percent, 2))
        problems = []
        if min_free_bytes is not None and usage.free < min_free_bytes:
            problems.append(f"{usage.free} bytes free, below min_free_bytes={min_free_bytes}")
        if min_free_percent is not None and free_percent < min_free_percent:
            problems.append(f"{free_percent:.1f}% free, below min_free_percent={min_free_percent:g}")
        return {"status": "unhealthy" if problems else "healthy", "output": "; ".join(problems), **details}

    return _external("storage", check)


# --------------------------------------------------------------------------- databases


def create_database_check(url: str, timeout_s: float = 5.0) -> Callable[[], dict[str, Any]]:
    """A check that connects to the database at ``url`` and runs a query.

    ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (standard library; the
    file must exist, is never created, and one that is not a database is
    unhealthy); ``postgresql://user:pass@host:port/db`` (needs ``psycopg``: an
    ``ImportError`` at creation without it). Any other scheme: ``ValueError``.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, not {type(url).__name__}")
    timeout = _timeout("timeout_s", timeout_s)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return _external("database", _sqlite_check(url, timeout))
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return _external("database", _postgres_check(url, timeout))
    raise ValueError(f"url {_redact(url)!r}: unsupported database scheme {scheme!r}; "
                     "use sqlite:///path or postgresql://...")


def _sqlite_check(url: str, timeout: float) -> Callable[[], dict[str, Any]]:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"url {url!r}: a sqlite URL is sqlite:///relative/path or sqlite:////absolute/path")
    target = url[len("sqlite:///"):]
    if not target:
        raise ValueError(f"url {url!r} names no database file")
    memory = target == ":memory:"

    def check() -> dict[str, Any]:
        details = {"database": target, "method": "sqlite3"}
        if not memory and not os.path.exists(target):
            return {"status": "unhealthy", "output": f"database file {target} does not exist", **details}
        uri = "file::memory:" if memory else "file:" + _quote_path(os.path.abspath(target)) + "?mode=rw"
        start = time.perf_counter()
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
            try:
                # Reading the schema reads the header and the first page: a file that is not a
                # database (or is corrupt there) fails here, without scanning a large file.
                tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                connection.close()
        except sqlite3.Error as exc:
            return {"status": "unhealthy", "output": f"sqlite error: {exc}", **details}
        return {"status": "healthy", "observed_value": round((time.perf_counter() - start) * 1000, 3),
                "observed_unit": "ms", "tables": tables, **details}

    return check


def _quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _postgres_check(url: str, timeout: float) -> Callable[[], dict[str, Any]]:
    try:
        import psycopg  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise ImportError(f"create_database_check({_redact(url)!r}) needs the psycopg package: "
                          "pip install 'psycopg[binary]'") from None
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    shown = _redact(url)

    def check() -> dict[str, Any]:
        details = {"database": shown, "method": "psycopg"}
        start = time.perf_counter()
        try:
            with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as connection:
                connection.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            return {"status": "unhealthy", "output": f"postgresql error: {str(exc).strip()}", **details}
        return {"status": "healthy", "observed_value": round((time.perf_counter() - start) * 1000, 3),
                "observed_unit": "ms", **details}

    return check


def _redact(url: str) -> str:
    """``url`` without its password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl() if unquote(parts.password) else url
