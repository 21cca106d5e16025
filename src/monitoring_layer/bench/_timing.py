"""Interleaved timing: every contender runs in every round, in a shuffled order.

Machine drift (another process waking up, CPU frequency changes) then hits all
contenders alike instead of whichever happened to run at that moment. The
figure per contender is the median over rounds of the mean time per call in
that round's batch; the loop's own cost is included equally for everyone.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Contender", "measure"]


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
