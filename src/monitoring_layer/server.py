"""The one embedded HTTP server: ``/metrics`` now, and whatever later components mount.

``build_router(pipeline)`` returns a ``Router`` (see ``_http``) with:

* ``/metrics``: the pipeline's Prometheus registry, rendered by
  ``metrics._prometheus.render_exposition`` (the facade's live families from their
  cached lines, every other family by prometheus_client's encoder), with content
  negotiation (``Accept: application/openmetrics-text`` gets OpenMetrics, anything
  else the 0.0.4 text format), gzip when the client accepts it, and ``?name[]=``
  filtering as prometheus_client's own server does. Every value is read at the
  request: nothing is cached between scrapes (docs/server.md);
* every *mount*: 404 for every other path.

Extending it: a component (the health probes, the dashboard, an API) provides
a mount function ``mount(router, pipeline) -> None`` that adds its routes, and
registers it once with ``add_mount(mount)`` (returns a function that removes it
from later routers). A mount added after a server started is applied to the
live routers too, so the order in which components start does not matter. One
router can also get extra mounts only for itself:
``build_router(pipeline, extra_mounts=[mount])``.

Who serves: the pipeline, on ``OTEL_EXPORTER_PROMETHEUS_PORT`` (bound to
``OTEL_EXPORTER_PROMETHEUS_HOST``, default ``127.0.0.1``), and
``monitoring_layer.serve(host="127.0.0.1", port=0)`` on the process-wide pipeline;
both return / keep a ``ServerHandle`` (``.url``, ``.close()``).

Layer: server (above the engines, below ``pipeline``): the pipeline is passed in,
never imported.
"""

from __future__ import annotations

import gzip
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import gzip_accepted

from monitoring_layer._http import Request, Response, Router, ServerHandle, start_server
from monitoring_layer.metrics import render_exposition

__all__ = ["Mount", "ServedPipeline", "add_mount", "build_router", "metrics_handler", "start"]


class ServedPipeline(Protocol):
    """What the server needs of a pipeline."""

    prometheus_registry: Any


Mount = Callable[[Router, Any], None]

_lock = threading.Lock()
_mounts: list[Mount] = []
# Routers built so far (weakly): a mount registered later is applied to them too.
_routers: weakref.WeakKeyDictionary[Router, Any] = weakref.WeakKeyDictionary()


def add_mount(mount: Mount) -> Callable[[], None]:
    """Add ``mount(router, pipeline)`` to every router built from now on and to the live ones.

    Returns a function that removes it from routers built later (live ones keep
    their routes until their server closes).
    """
    if not callable(mount):
        raise TypeError(f"mount must be callable, not {type(mount).__name__}")
    with _lock:
        if mount not in _mounts:
            _mounts.append(mount)
        live = list(_routers.items())
    for router, pipeline_ref in live:
        pipeline = pipeline_ref()
        if pipeline is not None:
            mount(router, pipeline)

    def remove() -> None:
        with _lock:
            if mount in _mounts:
                _mounts.remove(mount)

    return remove


def metrics_handler(registry: CollectorRegistry) -> Callable[[Request], Response]:
    """A handler serving ``registry`` in the exposition format the client asks for."""
    if registry is None:
        raise ValueError("registry must be a prometheus_client CollectorRegistry, not None "
                         "(the pipeline is disabled: OTEL_SDK_DISABLED)")

    def metrics(request: Request) -> Response:
        names = request.query.get("name[]")
        chosen: Any = _Filtered(registry, set(names)) if names else registry
        body, content_type = render_exposition(chosen, request.header("Accept", "") or "")
        headers: dict[str, str] = {}
        if gzip_accepted(request.header("Accept-Encoding", "") or ""):
            body = gzip.compress(body, compresslevel=1)  # scrapes are frequent: cheap compression
            headers["Content-Encoding"] = "gzip"
        return Response(200, body, content_type, headers)

    return metrics


class _Filtered:
    """``registry`` restricted to the families named (by family or sample name), for ``?name[]=``."""

    def __init__(self, registry: CollectorRegistry, names: set[str]) -> None:
        self._registry = registry
        self._names = names

    def collect(self) -> Iterable[Any]:
        for family in self._registry.collect():
            if family.name in self._names or any(s.name in self._names for s in family.samples):
                yield family


def build_router(pipeline: ServedPipeline, *, extra_mounts: Iterable[Mount] = (),
                 registry: Any = None) -> Router:
    """A router with ``/metrics`` of ``pipeline``, every registered mount and ``extra_mounts``.

    ``/metrics`` serves ``registry`` when given, else the pipeline's ``scrape_registry``
    (multiprocess mode: every process of the home merged), else its ``prometheus_registry``.
    """
    router = Router()
    registry = (registry or getattr(pipeline, "scrape_registry", None)
                or getattr(pipeline, "prometheus_registry", None))
    if registry is not None:
        router.add("/metrics", metrics_handler(registry))
    with _lock:
        mounts = [*_mounts, *extra_mounts]
        try:
            _routers[router] = weakref.ref(pipeline)
        except TypeError:  # not weak-referenceable: later mounts do not reach this router
            pass
    for mount in mounts:
        mount(router, pipeline)
    return router


def start(pipeline: ServedPipeline, host: str = "127.0.0.1", port: int = 0, *,
          extra_mounts: Iterable[Mount] = (), registry: Any = None) -> ServerHandle:
    """Serve ``build_router(pipeline)`` on ``host:port``; raises ``OSError`` when it cannot bind."""
    return start_server(build_router(pipeline, extra_mounts=extra_mounts, registry=registry), host, port)
