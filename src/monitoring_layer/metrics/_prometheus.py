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

Scrape cost: the facade's counters and gauges, and the self-metrics
(``metrics/_self.py``), never go through OTel's collection at a scrape. Their
families are ``LiveFamily`` s built from their live state (each series'
sample-line prefix is built once and kept), and while the bridge runs OTel's
collection their observable callbacks report nothing to it (``rendered_here()``),
so OTel neither aggregates nor translates them. ``render_exposition`` writes a
``LiveFamily`` by joining its cached lines; every other family goes through
prometheus_client's encoder. Values are read at the scrape: nothing is cached
between scrapes (a scrape is never older than the request). Other OTel
instruments (third-party instrumentation, the facade's histograms) are collected
from OTel at every scrape as before.

Only public prometheus_client APIs are used (``CollectorRegistry.collect``, the
encoders, ``floatToGoString``).
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from monitoring_layer import _compat, _selfmon

from ._stats import QUANTILES, quantile

_SELF_METRICS = "monitoring_layer_"
_TARGET = "target"  # OTel's target_info: an info family ("target" + "_info")
#: Family names whose conflicts are remembered at most (names may come from anywhere).
_MAX_CONFLICTS = 1000

__all__ = ["LiveFamily", "PrometheusBridge", "PrometheusSource", "PullPrometheusReader", "SummaryFamily",
           "facade_view", "live_row", "render_exposition", "rendered_here", "sample_prefix", "summary_family"]

#: ids of the objects (facade metrics) whose families the bridge renders itself during the
#: OTel collection this context runs (see ``rendered_here``).
_RENDERED_HERE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "monitoring_layer_rendered_here", default=frozenset())


def rendered_here(owner: object) -> bool:
    """True while the bridge collects OTel for a scrape and renders ``owner``'s family itself.

    The facade's observable callbacks return no observation then: the scrape
    shows the facade's live values, and OTel's collection for the Prometheus
    reader skips work it would throw away. Every other reader (the readings, OTLP,
    a user's) runs in another context and gets the observations as always.
    """
    return id(owner) in _RENDERED_HERE.get()


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
        self._target_info: Metric | None = None  # OTel's, kept: the provider's resource never changes
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
        # Live families need OTel's target_info kept from an earlier scrape: with every
        # metric rendered live OTel's collection can be empty, and then it has no
        # target_info. Until one was seen, the families that always have series (the
        # self-metrics) are left to OTel, or, without them, every family is: OTel's
        # output then has target_info. (Not all: a series OTel aggregated once stays in
        # its storage and costs a little at every later collection.)
        target_info = self._target_info
        if target_info is None:
            anchors = {id(f) for f in added if isinstance(f, LiveFamily) and f.always}
            added = [f for f in added if not (id(f) in anchors if anchors else isinstance(f, LiveFamily))]
        owners = frozenset(id(f.owner) for f in added if isinstance(f, LiveFamily))
        # Then OTel's collection (it also hands the facades' buffered observations to
        # OTel); the metrics rendered live above report nothing to it.
        token = _RENDERED_HERE.set(owners)
        try:
            otel_families = list(self.otel_registry.collect())
        finally:
            _RENDERED_HERE.reset(token)
        seen = next((f for f in otel_families if f.name == _TARGET and f.type == "info"), None)
        if seen is not None:
            self._target_info = seen
        elif target_info is not None:
            otel_families.insert(0, target_info)
        families: list[Metric] = []
        for family in otel_families:
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
            # A live facade family within the limit (the facade bounds its own series) is left alone.
            limit = self.cardinality_limit
            merged = [family if family.name.startswith(_SELF_METRICS) or family.name in (_TARGET, "target_info")
                      or (isinstance(family, LiveFamily) and family.series <= limit + 1)
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


class LiveFamily(Metric):
    """A counter or gauge family built from live state at the scrape (facade series, self-metrics).

    ``rows`` are ``(prefix, sample name, labels, value)``: ``prefix`` is the sample
    line up to the value (``name{labels} ``), built once per series. The exposition
    joins ``prefix + value`` (``text()``); ``samples`` (for prometheus_client's
    encoders, the multiprocess state file, filtering) are made only when asked for.
    ``owner`` is the object whose OTel callbacks the bridge silences (see ``rendered_here``).
    """

    def __init__(self, name: str, documentation: str, typ: str, unit: str, owner: object,
                 rows: list[tuple[str, str, dict[str, str], float]], *, always: bool = False) -> None:
        super().__init__(name, documentation, typ, unit)
        self.owner = owner
        #: the family has series whatever was recorded (the self-metrics, at 0 from the start)
        self.always = always
        self._rows: list[tuple[str, str, dict[str, str], float]] | None = rows
        self._samples: list[Any] | None = None
        self.series = len(rows)

    @property  # type: ignore[override]
    def samples(self) -> list[Any]:
        if self._samples is None:
            self._samples = [Sample(name, labels, value) for _prefix, name, labels, value in self._rows or ()]
        return self._samples

    @samples.setter
    def samples(self, samples: list[Any]) -> None:
        # Metric.__init__ sets [] before the rows exist; any later assignment replaces the
        # rows, whose cached lines would then lie.
        if hasattr(self, "_rows"):
            self._rows = None
        self._samples = list(samples)

    def text(self) -> str | None:
        """The sample lines, or None when the samples were replaced (render them the slow way)."""
        if self._rows is None:
            return None
        return "".join([f"{prefix}{floatToGoString(value)}\n" for prefix, _name, _labels, value in self._rows])


def live_row(sample_name: str, labels: dict[str, str], value: float) -> tuple[str, str, dict[str, str], float]:
    """One ``LiveFamily`` row (build it once per series and keep its prefix: see ``_live_family``)."""
    return sample_prefix(sample_name, labels), sample_name, labels, value


def sample_prefix(name: str, labels: dict[str, str]) -> str:
    """``name{k="v",...} `` as both exposition formats write it (labels sorted, values escaped)."""
    if not labels:
        return name + " "
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} "


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Families:
    """A prometheus_client collector over a fixed list of families."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


_EOF = b"# EOF\n"
_HEADERS: dict[tuple[str, str, str, str, str], bytes] = {}
_HEADERS_MAX = 4096


def _header(encoder: Callable[[Any], bytes], content_type: str, family: Metric) -> bytes:
    """The ``# HELP``/``# TYPE``(/``# UNIT``) lines ``encoder`` writes for ``family`` (cached)."""
    key = (content_type, family.name, family.documentation, family.type, family.unit)
    header = _HEADERS.get(key)
    if header is None:
        header = encoder(_Families([Metric(family.name, family.documentation, family.type, family.unit)]))
        if header.endswith(_EOF):
            header = header[:-len(_EOF)]
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[key] = header
    return header


def render_exposition(registry: Any, accept: str = "") -> tuple[bytes, str]:
    """``(body, content type)`` of ``registry`` in the format ``accept`` asks for.

    prometheus_client's content negotiation (OpenMetrics or the 0.0.4 text format);
    ``LiveFamily`` s are written from their cached lines, the other families by
    prometheus_client's encoder. The same bytes ``encoder(registry)`` would give, up
    to the order of the families.
    """
    encoder, content_type = choose_encoder(accept)
    slow: list[Metric] = []
    live: list[tuple[LiveFamily, str]] = []
    for family in registry.collect():
        text = family.text() if isinstance(family, LiveFamily) else None
        if text is None:
            slow.append(family)
        else:
            live.append((family, text))
    body = encoder(_Families(slow))
    if not live:
        return body, content_type
    eof = body.endswith(_EOF)
    parts = [body[:-len(_EOF)] if eof else body]
    for family, text in live:
        parts.append(_header(encoder, content_type, family))
        parts.append(text.encode("utf-8"))
    if eof:
        parts.append(_EOF)
    return b"".join(parts), content_type


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
        kind = metric.type.value
        if kind != "summary":
            if metric.family != metric.otel_family:  # OTel's family, when OTel renders it
                renames[metric.otel_family] = metric.family
            if kind in ("counter", "gauge"):
                live = _live_family(metric, scope)
                if live.series:  # as OTel does: no family for a metric without series yet
                    families.append(live)
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


def _live_family(metric: Any, scope: dict[str, str]) -> LiveFamily:
    """A facade counter's or gauge's family from its series now (what its OTel callback would report)."""
    counter = metric.type.value == "counter"
    sample_name = metric.family + "_total" if counter else metric.family
    rows = []
    for series in list(metric.series.values()):
        raw = series.total if counter else series.last
        if raw is None or (counter and not series.count):
            continue
        cached = series.exposition
        if cached is None or cached[0] != sample_name:
            labels = {**scope, **{_compat.sanitize_attribute(str(k)): _label_value(v)
                                  for k, v in series.attributes.items()}}
            cached = series.exposition = (sample_name, labels, sample_prefix(sample_name, labels))
        rows.append((cached[2], sample_name, cached[1], metric.to_otel(raw)))
    return LiveFamily(metric.family, metric.help_text, metric.type.value, _compat.map_unit(metric.otel_unit),
                      metric, rows)


def _label_value(value: Any) -> str:
    """A label value as OTel's Prometheus exporter writes an attribute (JSON for non-strings)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
