"""Tracing collector: distributed request tracing as a facade over OTel spans.

``get_tracing_collector()`` is the process-wide collector on the monitoring
pipeline's TracerProvider; ``TracingCollector(provider)`` builds one on any
provider. ``inject``/``extract`` carry W3C trace context through message
headers. See docs/tracing.md.
"""

from ._collector import _COLLECTOR as PROCESS_WIDE
from ._collector import TracingCollector, get_tracing_collector
from ._propagation import extract, inject
from ._store import TraceStore
from ._threads import install as install_thread_propagation
from ._threads import uninstall as uninstall_thread_propagation
from ._views import trace_service

__all__ = [
    "PROCESS_WIDE",
    "TraceStore",
    "TracingCollector",
    "extract",
    "get_tracing_collector",
    "inject",
    "install_thread_propagation",
    "trace_service",
    "uninstall_thread_propagation",
]
