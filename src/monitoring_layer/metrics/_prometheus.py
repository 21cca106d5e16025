"""The Prometheus registry a pipeline serves: OTel's families, with summaries added.

OTel has no summary instrument: the facade records a ``summary`` metric as an
OTel histogram (so OTLP and the JSON exporter see it) and supplies the
Prometheus ``summary`` itself, with ``quantile="0.5"|"0.95"|"0.99"`` samples
computed over its retained points and exact lifetime ``_sum``/``_count``.

``PrometheusBridge`` owns two prometheus_client registries:

* ``otel_registry`` is private: OTel's ``PrometheusMetricReader`` registers its
  collector there;
* ``registry`` is the public one (rendered by ``generate_latest``, served on
  ``/metrics``): one collector that yields the OTel families, minus the
  histogram family of each summary metric, plus the summary families.

Only public prometheus_client APIs are used (``CollectorRegistry.collect``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from monitoring_layer import _selfmon

__all__ = ["PrometheusBridge", "SummarySource"]


class SummarySource(Protocol):
    """What the bridge asks a metrics collector for at each scrape."""

    def prometheus_summaries(self) -> list[Metric]:
        """Summary families to expose; OTel histogram families of the same names are hidden."""


class PrometheusBridge:
    """OTel's Prometheus families plus the summaries that facades add (see module docstring)."""

    def __init__(self) -> None:
        self.otel_registry = CollectorRegistry(auto_describe=False)
        self.registry = CollectorRegistry(auto_describe=True)
        self._sources: list[SummarySource] = []
        self._lock = threading.Lock()
        self.registry.register(self)  # type: ignore[arg-type]

    def add_source(self, source: SummarySource) -> None:
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)

    def remove_source(self, source: SummarySource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def describe(self) -> Iterable[Metric]:
        return []  # names are dynamic; registering must not trigger a collection

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources)
        summaries: list[Metric] = []
        for source in sources:
            with _selfmon.contained("export", key="prometheus summaries"):
                summaries.extend(source.prometheus_summaries())
        hidden = {family.name for family in summaries}
        # The OTel collector first: it runs the reader's collection, which
        # also hands the facades' buffered observations to OTel.
        for family in self.otel_registry.collect():
            if family.type == "histogram" and family.name in hidden:
                continue
            yield family
        yield from summaries


def summary_family(name: str, documentation: str, unit: str, rows: list[tuple[dict[str, str], Any]]) -> Metric:
    """A Prometheus summary family: ``rows`` are ``(labels, (count, sum, {quantile: value}))``."""
    family = Metric(name, documentation, "summary", unit)
    for labels, (count, total, quantiles) in rows:
        for q, value in quantiles.items():
            if value is not None:
                family.add_sample(family.name, {**labels, "quantile": _quantile_text(q)}, float(value))
        family.add_sample(family.name + "_sum", labels, float(total))
        family.add_sample(family.name + "_count", labels, float(count))
    return family


def _quantile_text(q: float) -> str:
    return repr(float(q))
