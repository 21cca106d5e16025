"""A real ``prometheus`` server on loopback scraping given targets, and a poller of its query API.

``prometheus(tmp_path, target)`` is a context manager yielding the server's base URL;
``query_until(base, query, accept)`` polls until a query's first value is accepted (with a
deadline). Needs the ``prometheus`` binary (Debian package ``prometheus``): missing, the test
skips, or fails under ``CI=true`` (``tests/_requires.py``).
"""

from __future__ import annotations

import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _loopback import free_port, get_json
from _requires import require

__all__ = ["api", "prometheus", "query_until"]


#: The JSON answer of a Prometheus API URL, or None when it does not answer (yet).
api = get_json


@contextmanager
def prometheus(tmp_path: Path, target: str, *, job: str = "monitoring_layer",
               scrape_interval: str = "1s") -> Iterator[str]:
    """Run Prometheus scraping ``target`` (``host:port``) every ``scrape_interval``; yields its base URL."""
    binary = require("prometheus", "Debian package 'prometheus'")
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(
        f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n"
        f"scrape_configs:\n  - job_name: {job}\n    scrape_interval: {scrape_interval}\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    web_port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web_port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{web_port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def query_until(base: str, query: str, accept: Callable[[float], bool], deadline_s: float = 60.0) -> float:
    """Poll Prometheus' HTTP API until ``query`` returns a value ``accept`` takes; that value."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        answer = api(url)
        if answer and answer.get("status") == "success" and answer["data"]["result"]:
            last = float(answer["data"]["result"][0]["value"][1])
            if accept(last):
                return last
        time.sleep(0.25)  # an external server's scrape cycle: nothing in-process to flush
    raise AssertionError(f"Prometheus never answered {query!r} as expected (last value: {last})")
