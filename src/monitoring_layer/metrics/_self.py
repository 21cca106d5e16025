"""The library's own metrics: ``monitoring_layer_errors_total`` and ``monitoring_layer_dropped_total``.

Two OTel observable counters over ``_selfmon``'s counts, every known ``kind`` and
``(signal, reason)`` present at 0 from the start (so alerts can be written on
them). Every OTel reader sees them (the readings, the metrics file, OTLP). The
Prometheus bridge renders them itself from the counts at each scrape (a
``PrometheusSource``): their OTel callbacks report nothing to the bridge's own
collection, which saves about 60 series of OTel work per scrape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from prometheus_client.core import Metric

from monitoring_layer import _selfmon

from ._prometheus import LiveFamily, live_row, rendered_here

__all__ = ["SelfMetrics"]

_ERRORS = ("monitoring_layer_errors",
           "Faults contained by monitoring-layer (bad values at record time, failed exports).")
_DROPPED = ("monitoring_layer_dropped",
            "Items dropped by monitoring-layer's bounds (retention, caps, full queues).")


class SelfMetrics:
    """Creates the two self-metric instruments on ``meter`` (scope ``name``/``version``)."""

    def __init__(self, meter: Meter, name: str, version: str) -> None:
        # The labels OTel's Prometheus exporter gives an instrument of this scope.
        self._scope = {"otel_scope_name": name, "otel_scope_schema_url": "", "otel_scope_version": version}
        self._prefixes: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[dict[str, str], str]] = {}
        meter.create_observable_counter(_ERRORS[0], callbacks=[self._errors], description=_ERRORS[1])
        meter.create_observable_counter(_DROPPED[0], callbacks=[self._drops], description=_DROPPED[1])

    def _errors(self, _options: CallbackOptions) -> list[Observation]:
        if rendered_here(self):
            return []
        return [Observation(n, {"kind": kind}) for kind, n in _selfmon.counts_with_known()["errors"].items()]

    def _drops(self, _options: CallbackOptions) -> list[Observation]:
        if rendered_here(self):
            return []
        return [Observation(n, {"signal": signal, "reason": reason})
                for (signal, reason), n in _selfmon.counts_with_known()["dropped"].items()]

    def prometheus_view(self) -> tuple[set[str], dict[str, str], list[Metric]]:
        """``PrometheusSource``: both families, from the counts now."""
        counts = _selfmon.counts_with_known()
        errors = [((("kind", kind),), n) for kind, n in counts["errors"].items()]
        drops = [((("reason", reason), ("signal", signal)), n) for (signal, reason), n in counts["dropped"].items()]
        return set(), {}, [self._family(*_ERRORS, errors), self._family(*_DROPPED, drops)]

    def _family(self, name: str, description: str, series: Sequence[tuple[tuple[tuple[str, str], ...], Any]]
                ) -> LiveFamily:
        sample = name + "_total"
        rows = []
        for key, value in series:
            cached = self._prefixes.get((sample, key))
            if cached is None:
                row = live_row(sample, {**self._scope, **dict(key)}, float(value))
                if len(self._prefixes) < 10_000:  # known kinds and reasons: a small, fixed set
                    self._prefixes[(sample, key)] = (row[2], row[0])
                rows.append(row)
            else:
                rows.append((cached[1], sample, cached[0], float(value)))
        return LiveFamily(name, description, "counter", "", self, rows, always=True)
