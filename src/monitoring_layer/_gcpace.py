"""Young collections for what our buffers keep, when replacing old records hides it from the collector.

CPython runs a young collection once the containers allocated, minus those freed, pass the
first threshold (700 by default). A buffer at its cap frees an old record for each new one
it keeps, so that count stays flat: no young collection runs while the records pile up in
the youngest generation, until something else allocates without freeing (the file writer's
batch). Then one young collection scans all of them at once: at the default cap of 10,000
traces of 6 spans, 50,000-70,000 records, 50-100 ms with the GIL held, in whichever thread
allocated (docs/benchmarks.md, step 27). A record is a tuple of atoms: the collection that
scans it stops tracking it, so scanning it soon (while it is in the cache) costs less than
scanning it late.

``kept(n)`` is called by an ``Inbox`` for the ``n`` items it has just applied. Every
``BUDGET_FACTOR`` thresholds' worth of items it looks: if no young collection has run since its
last look and the youngest generation holds more than ``LIMIT_FACTOR`` thresholds' worth of
objects, it runs one (``gc.collect(0)``: the youngest generation only, what the collector would
have run itself). Records that die young (a log store's, evicted within a fraction of a second)
are never scanned at all, so it does not collect for them: only a pile-up is worth a collection.
What the host chose stands: nothing runs while the collector is disabled (``gc.disable()``) or
its first threshold is 0, and both figures follow ``gc.set_threshold``. Items are counted
without a lock: threads racing here may miscount a few, which moves a look by a few items.

Layer: internal helpers (imports nothing of the package).
"""

from __future__ import annotations

import gc

__all__ = ["BUDGET_FACTOR", "LIMIT_FACTOR", "kept"]

#: Items kept between two looks, in multiples of the collector's first threshold (8 x 700 =
#: 5,600 by default): a look costs a listing of the youngest generation (a few hundred µs at
#: its limit), rare enough to be a small share of what the items cost.
BUDGET_FACTOR = 8
#: Objects in the youngest generation past which a look runs a young collection, in multiples
#: of the first threshold (40 x 700 = 28,000 by default): about 25-40 ms of scanning here, no
#: more than a full collection of the interpreter's own objects. A trade at the flat-out rate,
#: where a forced collection scans records that would have been evicted unscanned: spans cost
#: 3-6% more there and the longest collection halves (docs/benchmarks.md, step 27).
LIMIT_FACTOR = 40

_counted = 0
_young_seen = -1


def kept(n: int) -> None:
    """Count ``n`` items just kept; past the budget, run a young collection if records piled up."""
    global _counted, _young_seen
    _counted += n
    threshold = gc.get_threshold()[0]
    if _counted < threshold * BUDGET_FACTOR or not threshold:
        return
    _counted = 0
    young = gc.get_stats()[0]["collections"]
    if young == _young_seen and gc.isenabled() and len(gc.get_objects(0)) > threshold * LIMIT_FACTOR:
        gc.collect(0)  # raises nothing: a finalizer's exception goes to sys.unraisablehook
        young = gc.get_stats()[0]["collections"]
    _young_seen = young
