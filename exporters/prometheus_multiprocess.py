"""One ``/metrics`` for a service of several processes sharing one ``MONITORING_HOME``.

A pre-forking server (gunicorn, uWSGI, ``multiprocessing`` workers) runs one
interpreter per worker: each has its own metric state, and only one of them can
bind the Prometheus port. In multiprocess mode every process writes its
Prometheus families to ``metrics/processes/<pid>-<start>.json`` (atomically, at
every collection and on exit: ``ProcessStateWriter``), and the ``/metrics`` of
a multiprocess server merges the files of the home (``MultiprocessCollector``):

* counters and histograms (``_bucket``, ``_count``, ``_sum``): summed over the
  processes, label set by label set;
* gauges: one series per process, with a ``pid`` label (a sum or a max would
  be wrong for some gauges and right for others; PromQL can aggregate);
* summaries: ``_sum`` and ``_count`` summed, quantiles computed over the
  retained observations of the live processes together;
* ``target_info``: once.

A process that died (its pid gone, or reused by a process started later) keeps
counting: at the next scrape its counters, histograms and summary sums are
folded into ``metrics/processes/_dead.json`` and its file is removed, so the
folder holds one file per live process plus one. Its gauges and summary
observations are dropped once its file is older than ``gauge_grace_s``.
Compared with prometheus_client's multiprocess mode (mmap files written on
every increment, ``PROMETHEUS_MULTIPROC_DIR``), the state is written once per
export interval, so a scrape can lag a worker by up to one interval, and the
files are JSON that ``monitoring-layer`` and ``jq`` can read.

Liveness is judged on this host (``kill(pid, 0)`` and the process start time in
``/proc``): a home shared by several hosts is not supported in this mode.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric

from monitoring_layer import _selfmon
from monitoring_layer._stats import QUANTILES, quantile

from ._store import JsonFileStore, prepare_home

__all__ = ["PROCESSES_DIR", "MultiprocessCollector", "ProcessStateWriter", "process_start_ticks"]

PROCESSES_DIR = "metrics/processes"
KIND = "metrics_process"
_DEAD = "_dead.json"
_NAME = re.compile(r"(\d+)-(\d+)\.json\Z")
#: Observations of one summary series kept in a process file (the newest).
MAX_OBSERVATIONS = 10_000


def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, from ``/proc``), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int, start: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    current = process_start_ticks(pid)
    return current is None or start == 0 or current == start


# --------------------------------------------------------------------------- the writing side


class ProcessStateWriter:
    """Writes this process's Prometheus families to its file in ``metrics/processes/``.

    ``registry`` is anything with ``collect()`` yielding prometheus_client families (the
    pipeline's bridge). Call ``write()`` at each collection; a fault is contained and
    counted (``kind="export"``). After fork the child writes its own file.
    """

    def __init__(self, home: str | os.PathLike[str], registry: Any) -> None:
        self._folder = prepare_home(Path(home), "metrics", PROCESSES_DIR)
        self._registry = registry
        self._lock = threading.Lock()
        self._pid = -1
        self._store: JsonFileStore | None = None

    @property
    def path(self) -> Path:
        return self._current_store().path

    def _current_store(self) -> JsonFileStore:
        pid = os.getpid()
        if self._store is None or self._pid != pid:  # first use, or a forked child
            self._pid = pid
            self._start = process_start_ticks(pid) or 0
            self._store = JsonFileStore(self._folder / PROCESSES_DIR / f"{pid}-{self._start}.json", KIND)
        return self._store

    def write(self) -> bool:
        """Write the current families now; False (counted) when it failed."""
        try:
            with self._lock:
                families = [_encode_family(f) for f in self._registry.collect()]
                store = self._current_store()
                document = {"pid": self._pid, "start": self._start, "updated_unix_nano": time.time_ns(),
                            "families": families}
                store.update(lambda _old: dict(document))
            return True
        except Exception as exc:  # noqa: BLE001 - never into the host's collection thread
            _selfmon.fault("export", exc, key="metrics process state")
            return False

    def remove(self) -> None:
        """Delete this process's file (its counters then count as a dead process's)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _encode_family(family: Metric) -> dict[str, Any]:
    samples = [[s.name, dict(s.labels), _number(s.value)] for s in family.samples
               if not s.name.endswith("_created")]
    encoded: dict[str, Any] = {"name": family.name, "type": family.type, "help": family.documentation,
                               "unit": family.unit, "samples": samples}
    observations = getattr(family, "observations", None)  # a facade summary's retained values
    if observations:
        encoded["observations"] = [[dict(labels), list(values)[-MAX_OBSERVATIONS:]]
                                   for labels, values in observations]
    return encoded


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _value(raw: Any) -> float:
    return float(raw)  # "inf", "nan" come back as strings


# --------------------------------------------------------------------------- the merging side


class MultiprocessCollector:
    """A prometheus_client collector merging every process file of ``home`` (see the module docstring)."""

    def __init__(self, home: str | os.PathLike[str], *, gauge_grace_s: float = 60.0,
                 alive: Callable[[int, int], bool] = _alive, clock: Callable[[], float] = time.time) -> None:
        if not gauge_grace_s >= 0:
            raise ValueError(f"gauge_grace_s must be a number >= 0, not {gauge_grace_s!r}")
        self._folder = Path(home) / PROCESSES_DIR
        self._grace_s = gauge_grace_s
        self._alive = alive
        self._clock = clock
        self._dead_store = JsonFileStore(self._folder / _DEAD, KIND)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        processes = self._read_processes()
        merged = _Merge()
        for doc, _dead, _stale in processes:
            merged.add(doc, keep_gauges=not _stale)
        dead_doc = self._read_dead()
        if dead_doc is not None:
            merged.add(dead_doc, keep_gauges=False)
        yield from merged.families()

    def _read_processes(self) -> list[tuple[dict[str, Any], bool, bool]]:
        try:
            names = sorted(os.listdir(self._folder))
        except FileNotFoundError:
            return []
        now = self._clock()
        result = []
        for name in names:
            match = _NAME.match(name)
            if match is None:
                continue
            path = self._folder / name
            doc = _read_json(path)
            if doc is None:
                continue
            pid, start = int(match.group(1)), int(match.group(2))
            dead = not self._alive(pid, start)
            stale = dead and now - doc.get("updated_unix_nano", 0) / 1e9 > self._grace_s
            if stale and self._fold(path):
                continue  # now part of _dead.json
            result.append((doc, dead, stale))
        return result

    def _fold(self, path: Path) -> bool:
        """Move a dead process's cumulative samples into ``_dead.json`` and delete its file."""
        try:
            def merge(dead: dict[str, Any]) -> dict[str, Any]:
                doc = _read_json(path)
                if doc is None:  # folded by another scrape meanwhile
                    return dead
                combined = _Merge()
                if dead.get("families"):
                    combined.add(dead, keep_gauges=False)
                combined.add(doc, keep_gauges=False)
                dead["families"] = combined.cumulative_families()
                dead["folded_processes"] = int(dead.get("folded_processes", 0)) + 1
                os.unlink(path)  # under the dead file's lock: no other scrape folds it twice
                with contextlib.suppress(OSError):
                    os.unlink(path.with_name(path.name + ".lock"))
                return dead

            self._dead_store.update(merge, timeout_s=5.0)
            return True
        except Exception as exc:  # noqa: BLE001 - a scrape must still answer
            _selfmon.fault("export", exc, key="metrics process fold")
            return False

    def _read_dead(self) -> dict[str, Any] | None:
        return _read_json(self._folder / _DEAD)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            doc = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _selfmon.fault("export", exc, key=f"metrics process file {path.name}")
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == KIND else None


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class _Merge:
    """Families of several process documents, merged by type."""

    def __init__(self) -> None:
        self._meta: dict[str, tuple[str, str, str]] = {}  # name -> (type, help, unit); the first wins
        self._sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        self._gauges: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        self._observations: dict[str, dict[tuple[tuple[str, str], ...], list[float]]] = {}
        self._info: dict[str, list[list[Any]]] = {}

    def add(self, doc: Mapping[str, Any], *, keep_gauges: bool) -> None:
        pid = str(doc.get("pid", ""))
        for family in doc.get("families", []):
            try:
                self._add_family(family, pid, keep_gauges)
            except (KeyError, TypeError, ValueError) as exc:
                _selfmon.fault("export", exc, key="metrics process family")

    def _add_family(self, family: Mapping[str, Any], pid: str, keep_gauges: bool) -> None:
        name, kind = family["name"], family["type"]
        self._meta.setdefault(name, (kind, family.get("help", ""), family.get("unit", "")))
        if kind in ("info",) or name == "target_info":
            self._info.setdefault(name, family["samples"])
            return
        if kind in ("gauge", "gaugehistogram", "stateset", "unknown"):
            if keep_gauges:
                target = self._gauges.setdefault(name, {})
                for sample, labels, value in family["samples"]:
                    target[sample, _key({**labels, "pid": pid})] = _value(value)
            return
        sums = self._sums.setdefault(name, {})
        for sample, labels, value in family["samples"]:
            if kind == "summary" and "quantile" in labels:
                continue  # quantiles are recomputed from the observations
            key = (sample, _key(labels))
            sums[key] = sums.get(key, 0.0) + _value(value)
        if kind == "summary" and keep_gauges:
            target_obs = self._observations.setdefault(name, {})
            for labels, values in family.get("observations", []):
                target_obs.setdefault(_key(labels), []).extend(float(v) for v in values)

    def families(self) -> Iterator[Metric]:
        for name, samples in self._info.items():
            kind, help_text, unit = self._meta[name]
            family = Metric(name, help_text, kind if kind != "unknown" else "gauge", unit)
            for sample, labels, value in samples:
                family.add_sample(sample, labels, _value(value))
            yield family
        for name, (kind, help_text, unit) in self._meta.items():
            if name in self._info:
                continue
            family = Metric(name, help_text, kind, unit)
            if kind == "summary":
                for labels_key, values in sorted(self._observations.get(name, {}).items()):
                    ordered = sorted(values)
                    for q in QUANTILES:
                        value = quantile(ordered, q)
                        if value is not None:
                            family.add_sample(name, {**dict(labels_key), "quantile": repr(float(q))}, value)
            # Insertion order, as the first process wrote them: a histogram's buckets stay ascending.
            for (sample, labels_key), value in self._sums.get(name, {}).items():
                family.add_sample(sample, dict(labels_key), value)
            for (sample, labels_key), value in self._gauges.get(name, {}).items():
                family.add_sample(sample, dict(labels_key), value)
            if family.samples:
                yield family

    def cumulative_families(self) -> list[dict[str, Any]]:
        """The summed (cumulative) families only, as a process document holds them."""
        result = []
        for name, sums in self._sums.items():
            kind, help_text, unit = self._meta[name]
            result.append({"name": name, "type": kind, "help": help_text, "unit": unit,
                           "samples": [[sample, dict(labels_key), _number(value)]
                                       for (sample, labels_key), value in sums.items()]})
        return result
