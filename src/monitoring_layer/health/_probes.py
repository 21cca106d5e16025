"""Kubernetes probes over HTTP, answering ``application/health+json`` (IETF health-check draft).

``mount_health(router, manager)`` adds four GET routes to a ``_http.Router``:

* ``/livez``: checks registered with ``probe="liveness"`` (dependencies ignored);
* ``/readyz``: ``probe="readiness"`` checks (the default probe);
* ``/startupz``: ``probe="startup"`` checks; one that has not run yet fails;
* ``/healthz``: every check.

200 for ``pass`` and ``warn``, 503 for ``fail``. A handler only reads the
latest results: it never runs a check nor waits for one.
"""

from __future__ import annotations

from collections.abc import Callable

from monitoring_layer._http import Request, Response, Router

from ._manager import HealthCheckManager

__all__ = ["CONTENT_TYPE", "PATHS", "mount_health", "probe_handler"]

CONTENT_TYPE = "application/health+json"
#: path -> probe (None: every check)
PATHS: dict[str, str | None] = {"/livez": "liveness", "/readyz": "readiness", "/startupz": "startup",
                                "/healthz": None}
# Probes are polled; a cache in between would answer with an old status.
_HEADERS = {"Cache-Control": "no-store"}


def probe_handler(manager: HealthCheckManager | Callable[[], HealthCheckManager],
                  probe: str | None) -> Callable[[Request], Response]:
    """A ``Request -> Response`` handler answering ``probe`` (None: every check) from ``manager``.

    ``manager`` may be a zero-argument function returning the manager, called at each
    request: the one server mounts the process-wide manager without building it.
    """
    if isinstance(manager, HealthCheckManager):
        def get() -> HealthCheckManager:
            return manager  # type: ignore[return-value]
    elif callable(manager):
        get = manager
    else:
        raise TypeError(f"manager must be a HealthCheckManager, not {type(manager).__name__}")

    def handle(_request: Request) -> Response:
        status, document = get().probe(probe)
        return Response.json(document, status=status, content_type=CONTENT_TYPE, headers=_HEADERS)

    handle.__qualname__ = f"health probe {probe or 'all'}"
    return handle


def mount_health(router: Router, manager: HealthCheckManager | Callable[[], HealthCheckManager]) -> None:
    """Add ``/livez``, ``/readyz``, ``/startupz`` and ``/healthz`` for ``manager`` to ``router``
    (a manager, or a function returning one at each request)."""
    if not isinstance(router, Router):
        raise TypeError(f"router must be a Router, not {type(router).__name__}")
    for path, probe in PATHS.items():
        router.add(path, probe_handler(manager, probe), methods=("GET",))
