"""Dependencies between components, kept acyclic.

``register_dependency("api", ["kafka", "postgres"])`` says the api needs kafka
and postgres: when one of them is unhealthy the api is at best ``degraded``.
An edge that would close a cycle is refused with a ``ValueError`` naming the
cycle, and the graph is left as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["DependencyGraph", "component_names"]


def component_names(value: object, argument: str) -> tuple[str, ...]:
    """A component name or an iterable of them, validated; ``ValueError``/``TypeError`` name ``argument``."""
    if isinstance(value, str):
        items: Iterable[object] = (value,)
    elif isinstance(value, Iterable):
        items = value
    else:
        raise TypeError(f"{argument} must be a component name or an iterable of names, "
                        f"not {type(value).__name__}")
    names = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{argument} must hold non-empty component names, not {item!r}")
        if item not in names:
            names.append(item)
    return tuple(names)


class DependencyGraph:
    """``component -> the components it depends on``, without cycles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._edges: dict[str, tuple[str, ...]] = {}

    def add(self, component: str, depends_on: Iterable[str]) -> None:
        """Add edges ``component -> each of depends_on``; ``ValueError`` if that makes a cycle."""
        with self._lock:
            current = self._edges.get(component, ())
            new = current + tuple(d for d in depends_on if d not in current)
            for target in new:
                if target == component:
                    raise ValueError(f"depends_on: component {component!r} cannot depend on itself")
                path = self._path(target, component)
                if path is not None:
                    cycle = " -> ".join([component, *path])
                    raise ValueError(f"depends_on: component {component!r} -> {target!r} would make a dependency "
                                     f"cycle ({cycle})")
            self._edges[component] = new

    def _path(self, start: str, goal: str) -> list[str] | None:
        """A path of edges from ``start`` to ``goal`` (both included), or None."""
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen = {start}
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            for nxt in self._edges.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    def of(self, component: str) -> tuple[str, ...]:
        """The components ``component`` depends on directly."""
        return self._edges.get(component, ())

    def snapshot(self) -> dict[str, list[str]]:
        with self._lock:
            return {k: list(v) for k, v in self._edges.items()}
