"""Interleaved timing: every contender runs in every round, in a shuffled order.

Machine drift (another process waking up, CPU frequency changes) then hits all
contenders alike instead of whichever happened to run at that moment. The
figure per contender is the median over rounds of the mean time per call in
that round's batch; the loop's own cost is included equally for everyone.

``measure_threaded`` times the same contenders called from several threads at
once (a worker pool recording one metric): the wall time from their common
start until the last one finishes, per call. Under the GIL the calls do not run
in parallel; what it shows is what the threads cost each other (a lock taken
by one thread and waited for by the others, and each GIL hand-off that brings).
"""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Contender", "measure", "measure_threaded"]


@dataclass
class Contender:
    group: str                 # what is compared, e.g. "counter +1, one label"
    name: str                  # "facade", "raw OTel", "prometheus_client", ...
    op: Callable[[], object]   # one call of the measured operation


def measure(contenders: Sequence[Contender], *, rounds: int, batch: int, seed: int = 7) -> dict[int, float]:
    """Median nanoseconds per call of each contender (keyed by index in ``contenders``)."""
    samples: dict[int, list[float]] = {i: [] for i in range(len(contenders))}
    order = list(range(len(contenders)))
    shuffle = random.Random(seed).shuffle
    for contender in contenders:  # warm caches, lazy registrations, first-series setup
        for _ in range(min(batch, 1000)):
            contender.op()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # collections land at random; collect between batches instead
    try:
        for _ in range(rounds):
            shuffle(order)
            for index in order:
                op = contenders[index].op
                loop = range(batch)
                start = time.perf_counter_ns()
                for _ in loop:
                    op()
                elapsed = time.perf_counter_ns() - start
                samples[index].append(elapsed / batch)
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {index: statistics.median(values) for index, values in samples.items()}


def measure_threaded(contenders: Sequence[Contender], *, threads: int, rounds: int, per_thread: int,
                     seed: int = 11) -> dict[int, float]:
    """Median nanoseconds per call of each contender when ``threads`` threads make ``per_thread`` calls each.

    The threads are started first and released together; the time runs from their release until
    the last one is done, divided by every call made.
    """
    if threads < 1 or rounds < 1 or per_thread < 1:
        raise ValueError(f"threads, rounds and per_thread must be >= 1, got {threads}, {rounds}, {per_thread}")
    samples: dict[int, list[float]] = {i: [] for i in range(len(contenders))}
    order = list(range(len(contenders)))
    shuffle = random.Random(seed).shuffle
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            shuffle(order)
            for index in order:
                samples[index].append(_together(contenders[index].op, threads, per_thread) / (threads * per_thread))
                gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return {index: statistics.median(values) for index, values in samples.items()}


def _together(op: Callable[[], object], threads: int, per_thread: int) -> int:
    """Nanoseconds from the release of ``threads`` threads until all made ``per_thread`` calls of ``op``."""
    ready = threading.Barrier(threads + 1)
    loop = range(per_thread)

    def work() -> None:
        ready.wait()
        for _ in loop:
            op()

    workers = [threading.Thread(target=work, name=f"bench-recorder-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()  # every worker is at the barrier: the clock starts as they are released
    start = time.perf_counter_ns()
    for worker in workers:
        worker.join()
    return time.perf_counter_ns() - start
