"""Peak RSS of a workload, each in a fresh interpreter so one does not inflate the next."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from typing import Any

__all__ = ["peak_rss_rows"]

_PRELUDE = """
import resource, sys
import monitoring_layer
monitoring_layer.configure(export_interval_s=3600)
N = int(sys.argv[1])
"""
# Linux keeps ru_maxrss across fork+exec (a child of a big parent reports the parent's peak), so read
# the peak of this process's own address space (VmHWM) where /proc has it.
_EPILOGUE = """
monitoring_layer.flush()
try:
    with open("/proc/self/status") as status:
        print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")))
except (OSError, StopIteration):
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_BASELINE = "\nmonitoring_layer.get_metrics_collector(); monitoring_layer.get_log_aggregator()\n" \
            "monitoring_layer.get_tracing_collector()\n"


def peak_rss_rows(scenarios: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Run each ``(name, code, n)`` with ``N = n``; report peak RSS and the growth over an idle baseline."""
    baseline_kib = _run(_BASELINE, 0)
    rows = []
    for name, code, n in scenarios:
        peak_kib = _run(code, n)
        rows.append({"workload": name, "n": n, "peak_rss_mib": peak_kib / 1024,
                     "growth_mib": (peak_kib - baseline_kib) / 1024, "baseline_mib": baseline_kib / 1024})
    return rows


def _run(code: str, n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MONITORING_"))}
        env["MONITORING_HOME"] = os.path.join(tmp, "home")
        script = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
        out = subprocess.run([sys.executable, "-c", script, str(n)], env=env, capture_output=True,
                             text=True, check=True, timeout=900).stdout
        return int(out.strip().splitlines()[-1])  # KiB
