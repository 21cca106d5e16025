"""Statistics over retained points: count, sum, mean, min, max and exact percentiles.

Percentiles are exact over the values given, with linear interpolation
between the two nearest ranks: the ``linear`` method of NumPy's
``percentile`` (its default) and Hyndman & Fan's type 7. For sorted values
``x[0..n-1]`` the q-quantile is at rank ``h = q * (n - 1)``:
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["QUANTILES", "exact_sum", "quantile", "statistics"]

#: The quantiles reported by statistics and by Prometheus summaries.
QUANTILES = (0.5, 0.95, 0.99)


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of already sorted values; ``None`` when there are none.

    >>> quantile([1, 2, 3, 4], 0.5)
    2.5
    """
    n = len(ordered)
    if n == 0:
        return None
    rank = q * (n - 1)
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    fraction = rank - low
    return ordered[low] + fraction * (ordered[high] - ordered[low]) if fraction else ordered[low]


def exact_sum(values: Sequence[float]) -> float:
    """``math.fsum``, but a sum past the largest float is ``inf`` (or ``-inf``) instead of an OverflowError."""
    try:
        return math.fsum(values)
    except OverflowError:  # finite values near the largest float: the mean is finite, the sum is not
        return _mean(values) * len(values)


def _mean(values: Sequence[float]) -> float:
    n = len(values)
    return math.fsum(v / n for v in values)


def statistics(values: Sequence[float]) -> dict[str, float | int | None]:
    """``count, sum, mean, min, max, p50, p95, p99`` of ``values`` (``None`` where undefined)."""
    ordered = sorted(values)
    n = len(ordered)
    total = exact_sum(ordered) if n else 0
    result: dict[str, float | int | None] = {
        "count": n,
        "sum": total,
        "mean": (total / n if math.isfinite(total) else _mean(ordered)) if n else None,
        "min": ordered[0] if n else None,
        "max": ordered[-1] if n else None,
    }
    for q in QUANTILES:
        result[f"p{round(q * 100)}"] = quantile(ordered, q)
    return result
