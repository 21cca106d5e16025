"""``TracingCollector.span(...)``: one span as a ``with`` block or a decorator.

The scope only calls the collector's public methods (``start_span``,
``end_span``, ``add_tag``, ``add_event``), so a span made this way is exactly
what the spec's calls make: current while it runs, in the same trace as its
parent, in the queries and the files.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._collector import TracingCollector

__all__ = ["ActiveSpan", "SpanScope"]

F = TypeVar("F", bound=Callable[..., Any])


class ActiveSpan:
    """The span of one ``with`` block: its id, and tags and events to add to it."""

    __slots__ = ("_collector", "span_id")

    def __init__(self, collector: TracingCollector, span_id: str) -> None:
        self._collector = collector
        self.span_id = span_id

    def add_tag(self, key: str, value: Any) -> bool:
        return self._collector.add_tag(self.span_id, key, value)

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> bool:
        return self._collector.add_event(self.span_id, name, attributes)

    def __repr__(self) -> str:
        return f"<ActiveSpan {self.span_id}>"


class SpanScope:
    """Returned by ``TracingCollector.span``: use it in ``with`` or as a decorator."""

    def __init__(self, collector: TracingCollector, name: str, component: str, kind: Any,
                 tags: dict[str, Any] | None) -> None:
        self._collector = collector
        self._name = name
        self._component = component
        self._kind = kind
        self._tags = tags
        self._open: list[ActiveSpan] = []  # nested use of one scope object in one thread

    def _start(self) -> ActiveSpan:
        span_id = self._collector.start_span(self._name, self._component, tags=self._tags, kind=self._kind)
        return ActiveSpan(self._collector, span_id)

    def _end(self, active: ActiveSpan, exc: BaseException | None) -> None:
        if exc is None:
            self._collector.end_span(active.span_id, "SUCCESS")
        else:
            self._collector.end_span(active.span_id, "ERROR", error=exc)

    def __enter__(self) -> ActiveSpan:
        active = self._start()
        self._open.append(active)
        return active

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._end(self._open.pop(), exc)

    async def __aenter__(self) -> ActiveSpan:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                active = self._start()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    self._end(active, exc)
                    raise
                self._end(active, None)
                return result
            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            active = self._start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                self._end(active, exc)
                raise
            self._end(active, None)
            return result
        return run  # type: ignore[return-value]
