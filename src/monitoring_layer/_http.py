"""HTTP plumbing for the one embedded server: a route table on a threading ``http.server``.

Every HTTP surface of the library (``/metrics``, the health probes, the
dashboard and its API) is a route on a ``Router``; ``start_server(router, host,
port)`` serves it on daemon threads and returns a ``ServerHandle`` with ``.url``
and ``.close()``. Components never open sockets of their own: they provide
handlers (``Request -> Response``), and ``monitoring_layer.server`` mounts them.
This module is an internal helper (lowest layer): it imports no component.

A handler takes a ``Request`` and returns a ``Response``. Unknown paths are 404,
a known path with another method 405 (with ``Allow``), ``HEAD`` is answered as
``GET`` without a body. A handler's exception is contained (counted as
``kind="serve"``, logged once) and answered 500 without details. Request bodies
are bounded (``MAX_BODY_BYTES``, 413 beyond) and a client that stalls is cut
after ``SOCKET_TIMEOUT_S``. Bound to ``127.0.0.1`` unless a host is given.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from monitoring_layer import _selfmon

__all__ = ["MAX_BODY_BYTES", "Request", "Response", "Router", "ServerHandle", "start_server"]

MAX_BODY_BYTES = 1 << 20
SOCKET_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Request:
    """What a handler sees of an HTTP request."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header ``name``, case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


@dataclass(slots=True)
class Response:
    """What a handler answers."""

    status: int = 200
    body: bytes | str = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: Any, status: int = 200, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(document, separators=(",", ":"), allow_nan=False, default=str)
        return cls(status, body.encode(), content_type, dict(headers or {}))

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8", "replace"))

    def encoded(self) -> bytes:
        return self.body.encode("utf-8", "replace") if isinstance(self.body, str) else self.body


Handler = Callable[[Request], Response]


class Router:
    """Paths to handlers. ``add(path, handler, methods=("GET",), prefix=False)``.

    An exact path wins over a prefix route; among prefix routes the longest wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: dict[str, dict[str, Handler]] = {}
        self._prefix: list[tuple[str, dict[str, Handler]]] = []

    def add(self, path: str, handler: Handler, *, methods: Iterable[str] = ("GET",), prefix: bool = False) -> None:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must be a string starting with '/', not {path!r}")
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        verbs = [m.upper() for m in methods]
        if not verbs:
            raise ValueError("methods must name at least one HTTP method")
        with self._lock:
            if prefix:
                table = next((t for p, t in self._prefix if p == path), None)
                if table is None:
                    table = {}
                    self._prefix.append((path, table))
                    self._prefix.sort(key=lambda item: len(item[0]), reverse=True)
            else:
                table = self._exact.setdefault(path, {})
            for verb in verbs:
                table[verb] = handler

    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._exact) + [p + "*" for p, _ in self._prefix]

    def _table(self, path: str) -> dict[str, Handler] | None:
        with self._lock:
            table = self._exact.get(path)
            if table is not None:
                return table
            for prefix, candidate in self._prefix:
                if path.startswith(prefix):
                    return candidate
        return None

    def dispatch(self, request: Request) -> Response:
        table = self._table(request.path)
        if table is None:
            return Response.text("not found\n", 404)
        method = "GET" if request.method == "HEAD" else request.method
        handler = table.get(method)
        if handler is None:
            allowed = sorted(set(table) | ({"HEAD"} if "GET" in table else set()))
            return Response(405, b"method not allowed\n", headers={"Allow": ", ".join(allowed)})
        try:
            return handler(request)
        except Exception as exc:  # noqa: BLE001 - a handler's fault must not kill the server
            _selfmon.fault("serve", exc, key=request.path, strict=False)
            return Response.text("internal error\n", 500)


class _Handler(BaseHTTPRequestHandler):
    router: Router
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    server_version = "monitoring-layer"

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = self.headers.get("Content-Length")
        body = b""
        if length:
            try:
                size = int(length)
            except ValueError:
                self._send(Response.text("bad Content-Length\n", 400))
                return
            if size < 0 or size > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(Response.text("request body too large\n", 413))
                return
            body = self.rfile.read(size)
        request = Request(self.command, parts.path or "/", parse_qs(parts.query, keep_blank_values=True),
                          dict(self.headers.items()), body)
        self._send(self.router.dispatch(request))

    def _send(self, response: Response) -> None:
        payload = response.encoded()
        # Status line and headers go to memory first, then out with the body in one write:
        # under a busy application every blocking socket call waits up to a GIL switch
        # interval (5 ms) to get the GIL back, so one call instead of two is a visible saving.
        socket_writer, self.wfile = self.wfile, io.BytesIO()
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            head = self.wfile.getvalue()  # type: ignore[attr-defined]
        finally:
            self.wfile = socket_writer
        socket_writer.write(head if self.command == "HEAD" else head + payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # access logs would flood the host's stderr; scrapes are frequent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal; anything else is counted.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        if exc is not None:
            _selfmon.fault("serve", exc, key="connection", strict=False)


class ServerHandle:
    """A running server: ``url``, ``host``, ``port``, ``router``; ``close()`` stops it (safe twice)."""

    def __init__(self, server: _Server, router: Router) -> None:
        self._server = server
        self.router = router
        self.host: str = server.server_address[0]  # type: ignore[assignment]
        self.port: int = server.server_address[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}"
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"monitoring-layer-http-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ServerHandle {self.url}{' closed' if self._closed else ''}>"


def start_server(router: Router, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Serve ``router`` on ``host:port`` (0: a free port). Raises ``OSError`` when it cannot bind."""
    if not isinstance(router, Router):
        raise TypeError(f"router must be a Router, not {type(router).__name__}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string, not {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}")
    handler = type("_RouterHandler", (_Handler,), {"router": router})
    address_family = _family(host)
    server_class = type("_BoundServer", (_Server,), {"address_family": address_family})
    server = server_class((host, port), handler)
    return ServerHandle(server, router)


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET
