"""``monitoring-layer bench``: our facades against raw OpenTelemetry and prometheus_client, in one run.

``run_bench(quick=False)`` returns a JSON-serialisable report; ``render(report)``
formats it as the table the command prints. See docs/benchmarks.md.
"""

from ._run import SECTIONS, render, run_bench

__all__ = ["SECTIONS", "render", "run_bench"]
