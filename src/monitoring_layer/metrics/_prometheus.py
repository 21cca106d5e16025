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
  histogram family of each summary metric, plus the summary families; and a
  metric whose name already spells its unit (``kafka_processing_time_ms``) is
  shown under its clean name (``kafka_processing_time_seconds``).

Only public prometheus_client APIs are used (``CollectorRegistry.collect``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from monitoring_layer import _compat, _selfmon

from ._stats import QUANTILES, quantile

_SELF_METRICS = "monitoring_layer_"
#: Family names whose conflicts are remembered at most (names may come from anywhere).
_MAX_CONFLICTS = 1000

__all__ = ["PrometheusBridge", "PrometheusSource", "PullPrometheusReader", "SummaryFamily", "facade_view",
           "summary_family"]


class PrometheusSource(Protocol):
    """What the bridge asks a metrics collector for at each scrape."""

    def prometheus_view(self) -> tuple[set[str], dict[str, str], list[Metric]]:
        """``(hidden, renames, families)``: OTel family names to hide, OTel family names to
        rename (old -> new), and families to add (the summaries)."""


class PrometheusBridge:
    """OTel's Prometheus families plus the summaries that facades add (see module docstring)."""

    def __init__(self, cardinality_limit: int | None = None) -> None:
        self.otel_registry = CollectorRegistry(auto_describe=False)
        self.registry = CollectorRegistry(auto_describe=True)
        self._sources: list[PrometheusSource] = []
        self._lock = threading.Lock()
        self._conflicts: set[str] = set()  # family names already counted as conflicts
        #: series (label sets) per family beyond which the exposition folds them into one overflow series
        self.cardinality_limit = cardinality_limit
        self._admitted: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        self._refused: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        self.registry.register(self)  # type: ignore[arg-type]

    def add_source(self, source: PrometheusSource) -> None:
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)

    def remove_source(self, source: PrometheusSource) -> None:
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)

    def describe(self) -> Iterable[Metric]:
        return []  # names are dynamic; registering must not trigger a collection

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources)
        hidden: set[str] = set()
        renames: dict[str, str] = {}
        added: list[Metric] = []
        for source in sources:
            with _selfmon.contained("export", key="prometheus view"):
                source_hidden, source_renames, source_families = source.prometheus_view()
                hidden |= source_hidden
                renames.update(source_renames)
                added.extend(source_families)
        # The OTel collector first: it runs the reader's collection, which
        # also hands the facades' buffered observations to OTel.
        families: list[Metric] = []
        for family in self.otel_registry.collect():
            if family.name in hidden:
                continue
            new_name = renames.get(family.name)
            families.append(family if new_name is None else _renamed(family, new_name))
        families.extend(added)
        for family in families:
            if not family.documentation:  # an instrument without a description: promtool wants HELP
                family.documentation = f"{family.type} {family.name}"
        merged = self._merged(families)
        if self.cardinality_limit is not None:
            # The library's own self-metrics have a known, fixed set of series: never folded.
            merged = [family if family.name.startswith(_SELF_METRICS) or family.name == "target_info"
                      else self._guarded(family) for family in merged]
        yield from merged

    def _merged(self, families: list[Metric]) -> list[Metric]:
        """One family per name, whatever OTel yields: the exposition must stay valid.

        Two instrumentation scopes may register one name with different
        descriptions (OTel then yields two families of that name); their samples
        are merged under the first description and the conflict is counted once
        per name (``monitoring_layer_errors_total{kind="metric_conflict"}``). A
        family of another type under a taken name is left out (and counted).
        Samples repeated with the same name and labels keep the latest value.
        """
        by_name: dict[str, Metric] = {}
        for family in families:
            first = by_name.get(family.name)
            if first is None:
                by_name[family.name] = family
                continue
            if family.documentation != first.documentation or family.type != first.type:
                self._conflict(family.name, first, family)
            if family.type != first.type:
                continue
            if first is family:
                continue
            merged = Metric(first.name, first.documentation, first.type, first.unit)
            merged.samples = _unique_samples([*first.samples, *family.samples])
            by_name[family.name] = merged
        return list(by_name.values())

    def _guarded(self, family: Metric) -> Metric:
        """``family`` with at most ``cardinality_limit`` series; the others folded into one.

        Any instrument in the process is guarded (third-party instrumentation too: a URL
        per series would make the scrape megabytes long). The first label sets seen are
        kept; the samples of later ones are summed into the series
        ``otel_metric_overflow="true"`` (counters, histograms, summary sums and counts;
        gauges and quantiles are left out), and each refused label set is counted once in
        ``monitoring_layer_dropped_total{signal="metrics",reason="cardinality_overflow"}``.
        """
        limit = self.cardinality_limit or 0
        admitted = self._admitted.setdefault(family.name, set())
        refused = self._refused.setdefault(family.name, set())
        kept: list[Any] = []
        overflow: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        newly_refused = 0
        for sample in family.samples:
            identity = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("le", "quantile")))
            if identity in admitted or dict(identity).get("otel_metric_overflow") == "true":
                kept.append(sample)
                continue
            if len(admitted) < limit:
                admitted.add(identity)
                kept.append(sample)
                continue
            if identity not in refused:
                newly_refused += 1
                if len(refused) < 10 * limit:  # remembered (bounded) so a refused set counts once
                    refused.add(identity)
            if family.type in ("gauge", "info", "stateset", "unknown") or "quantile" in sample.labels:
                continue
            extra = tuple((k, v) for k, v in sample.labels.items() if k == "le")
            key = (sample.name, (("otel_metric_overflow", "true"), *extra))
            overflow[key] = overflow.get(key, 0.0) + sample.value
        if not overflow and not newly_refused:
            return family
        _selfmon.dropped("metrics", "cardinality_overflow", newly_refused)
        guarded = Metric(family.name, family.documentation, family.type, family.unit)
        guarded.samples = kept
        for (name, labels), value in overflow.items():
            guarded.add_sample(name, dict(labels), value)
        return guarded

    def _conflict(self, name: str, first: Metric, other: Metric) -> None:
        with self._lock:
            if name in self._conflicts or len(self._conflicts) >= _MAX_CONFLICTS:
                return
            self._conflicts.add(name)
        what = (f"types {first.type} and {other.type} (the {other.type} is left out)" if first.type != other.type
                else f"descriptions {first.documentation!r} and {other.documentation!r} (the first is kept)")
        _selfmon.fault("metric_conflict", f"metric family {name!r} is registered twice with {what}",
                       key=name, strict=False)


def _unique_samples(samples: list[Any]) -> list[Any]:
    latest: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
    for sample in samples:
        latest[(sample.name, tuple(sorted(sample.labels.items())))] = sample
    return list(latest.values())


class PullPrometheusReader(PrometheusMetricReader):
    """OTel's ``PrometheusMetricReader`` that never collects on ``force_flush()``.

    The pull reader collects when scraped; a forced collection only queues one
    more copy of every family that the next scrape would then serve twice
    (``flush()`` twice meant three copies, and an invalid exposition).
    """

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True


def _renamed(family: Metric, name: str) -> Metric:
    """``family`` under another name (its samples' suffixes, ``_bucket``, ``_total``..., kept)."""
    copy = Metric(name, family.documentation, family.type, family.unit)
    old = family.name
    copy.samples = [s._replace(name=name + s.name[len(old):]) if s.name.startswith(old) else s
                    for s in family.samples]
    return copy


class SummaryFamily(Metric):
    """A summary family that also carries each series' retained observations (base unit).

    The exposition ignores them; the multiprocess state file keeps them, so a merged
    ``/metrics`` computes quantiles over the observations of every process.
    """

    def __init__(self, name: str, documentation: str, unit: str) -> None:
        super().__init__(name, documentation, "summary", unit)
        self.observations: list[tuple[dict[str, str], list[float]]] = []


def summary_family(name: str, documentation: str, unit: str, rows: list[tuple[dict[str, str], Any]],
                   observations: list[tuple[dict[str, str], list[float]]] | None = None) -> Metric:
    """A Prometheus summary family: ``rows`` are ``(labels, (count, sum, {quantile: value}))``."""
    family = SummaryFamily(name, documentation, unit)
    family.observations = observations or []
    for labels, (count, total, quantiles) in rows:
        for q, value in quantiles.items():
            if value is not None:
                family.add_sample(family.name, {**labels, "quantile": repr(float(q))}, float(value))
        family.add_sample(family.name + "_sum", labels, float(total))
        family.add_sample(family.name + "_count", labels, float(count))
    return family


def facade_view(metrics: Iterable[Any], scope: dict[str, str]) -> tuple[set[str], dict[str, str], list[Metric]]:
    """The bridge's view of a collector's metrics (already pruned to retention).

    Summaries: their OTel histogram family is hidden and a summary family is
    added, quantiles over the retained points of each series, exact lifetime
    ``_sum``/``_count``, values in the base unit OTel readers see. Metrics whose
    name spells their unit get their OTel family renamed.
    """
    hidden: set[str] = set()
    renames: dict[str, str] = {}
    families: list[Metric] = []
    for metric in metrics:
        if metric.type.value != "summary":
            if metric.family != metric.otel_family:
                renames[metric.otel_family] = metric.family
            continue
        hidden.add(metric.otel_family)
        with metric.lock:
            points = list(metric.points)
        values: dict[int, list[float]] = {}
        for _time, series, value in points:
            values.setdefault(id(series), []).append(value)
        rows = []
        observations = []
        for series in list(metric.series.values()):
            ordered = sorted(values.get(id(series), ()))
            quantiles = {q: None if v is None else metric.to_otel(v)
                         for q, v in ((q, quantile(ordered, q)) for q in QUANTILES)}
            labels = {**scope, **series.labels}
            rows.append((labels, (series.count, metric.to_otel(series.total), quantiles)))
            observations.append((labels, [metric.to_otel(v) for v in ordered]))
        families.append(summary_family(metric.family, metric.help_text, _compat.map_unit(metric.otel_unit), rows,
                                       observations))
    return hidden, renames, families
