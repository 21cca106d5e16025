"""W3C trace context in and out of message headers: ``inject`` and ``extract``.

Both go through OTel's global propagator (``OTEL_PROPAGATORS``, by default W3C
``traceparent``/``tracestate`` plus ``baggage``). Carriers may be

* a dict of str (HTTP headers; read case-insensitively), or
* a list of ``(key, value)`` pairs with bytes or str values: Kafka headers
  as kafka-python and confluent-kafka hand them over; ``inject`` appends
  ``(key, bytes)`` pairs to such a list.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter

__all__ = ["extract", "inject"]


class _CarrierGetter(Getter[Any]):
    def get(self, carrier: Any, key: str) -> list[str] | None:
        if isinstance(carrier, Mapping):
            value = carrier.get(key)
            if value is None:
                lowered = key.lower()
                value = next((v for k, v in carrier.items() if isinstance(k, str) and k.lower() == lowered),
                             None)
            return None if value is None else [_text(v) for v in (value if isinstance(value, list) else [value])]
        values = [_text(v) for k, v in _pairs(carrier) if _text(k).lower() == key.lower()]
        return values or None

    def keys(self, carrier: Any) -> list[str]:
        if isinstance(carrier, Mapping):
            return [str(k) for k in carrier]
        return [_text(k) for k, _ in _pairs(carrier)]


class _CarrierSetter(Setter[Any]):
    def set(self, carrier: Any, key: str, value: str) -> None:
        if isinstance(carrier, MutableMapping):
            carrier[key] = value
        elif isinstance(carrier, list):
            carrier[:] = [pair for pair in carrier if _text(pair[0]).lower() != key]
            carrier.append((key, value.encode("utf-8")))
        else:
            raise TypeError(f"carrier must be a dict or a list of (key, value) pairs, "
                            f"got {type(carrier).__name__}")


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _pairs(carrier: Any) -> list[tuple[Any, Any]]:
    if carrier is None:
        return []
    return [(pair[0], pair[1]) for pair in carrier if isinstance(pair, (tuple, list)) and len(pair) == 2]


_GETTER = _CarrierGetter()
_SETTER = _CarrierSetter()


def inject(carrier: Any, context: Context | None = None) -> Any:
    """Write the trace context (``traceparent``, ``tracestate``, ``baggage``) into ``carrier``.

    ``context`` defaults to the current one. Returns ``carrier``.

    Example (inside a trace)::

        headers = inject({})   # {'traceparent': '00-<trace id>-<span id>-01'}
    """
    if not isinstance(carrier, (MutableMapping, list)):
        raise TypeError(f"carrier must be a dict or a list of (key, value) pairs, got {type(carrier).__name__}")
    if isinstance(carrier, list):
        for index, pair in enumerate(carrier):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"carrier must be a list of (key, value) pairs; item {index} is {pair!r:.60}")
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context must be an OTel Context (from extract()) or None, got {type(context).__name__}")
    from opentelemetry import propagate  # on first use: importing it loads the propagators' entry points

    propagate.inject(carrier, context=context, setter=_SETTER)
    return carrier


def extract(carrier: Any) -> Context:
    """The OTel ``Context`` carried by ``carrier`` (empty when it carries none).

    Pass it to ``start_trace(service, context=ctx)`` to continue the remote trace.
    """
    if carrier is not None and not isinstance(carrier, (Mapping, list, tuple)):
        raise TypeError(f"carrier must be a mapping or a list of (key, value) pairs, got {type(carrier).__name__}")
    from opentelemetry import propagate

    return propagate.extract(carrier if carrier is not None else {}, getter=_GETTER, context=Context())
