"""Every fault kind and drop reason the code counts is one exported at 0 from the start (alertable)."""

from __future__ import annotations

import re
from pathlib import Path

from monitoring_layer import _selfmon

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for folder in ("src", "exporters", "instrumentors") for p in (ROOT / folder).rglob("*.py")]
FAULT = re.compile(r"""(?:_selfmon\.)?\bfault\(\s*["']([a-z_]+)["']""")
DROPPED = re.compile(r"""_selfmon\.dropped\(\s*["']([a-z_]+)["']\s*,\s*["']([a-z_]+)["']""")


def test_every_literal_fault_kind_is_known() -> None:
    used = {(path.name, kind) for path in SOURCES for kind in FAULT.findall(path.read_text())}
    unknown = sorted((name, kind) for name, kind in used if kind not in _selfmon.KNOWN_ERROR_KINDS)
    assert not unknown, f"add these kinds to _selfmon.KNOWN_ERROR_KINDS: {unknown}"


def test_every_literal_drop_reason_is_known() -> None:
    used = {(path.name, key) for path in SOURCES for key in DROPPED.findall(path.read_text())}
    unknown = sorted((name, key) for name, key in used if key not in _selfmon.KNOWN_DROPS)
    assert not unknown, f"add these to _selfmon.KNOWN_DROPS: {unknown}"


def test_a_drop_tally_adds_to_the_counts_and_outlives_its_owner() -> None:
    import gc

    import pytest

    from monitoring_layer import _selfmon

    with pytest.raises(ValueError, match="KNOWN_DROPS"):
        _selfmon.DropTally("traces", "no_such_reason")
    _selfmon.dropped("traces", "memory_max_traces", 2)
    tally = _selfmon.DropTally("traces", "memory_max_traces")
    tally.n += 3
    assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 5
    assert _selfmon.counts_with_known()["dropped"][("traces", "memory_max_traces")] == 5
    del tally
    gc.collect()
    assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 5  # a counter never goes back
    assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 5  # and is folded only once

    doomed = _selfmon.DropTally("traces", "memory_max_traces")
    doomed.n += 4
    del doomed
    gc.collect()
    _selfmon.dropped("logs", "queue_full")  # any drop folds collected tallies in: nothing piles up unread
    assert not _selfmon._retired
    assert _selfmon.counts()["dropped"][("traces", "memory_max_traces")] == 9


def test_drops_held_counts_a_block_s_drops_only_when_it_succeeds() -> None:
    import threading

    import pytest

    def count() -> int:
        return _selfmon.counts()["dropped"].get(("logs", "retention_count"), 0)

    before = count()
    with pytest.raises(KeyError), _selfmon.drops_held():
        _selfmon.dropped("logs", "retention_count", 5)
        raise KeyError("the merge failed")
    assert count() == before  # the failed attempt's drops are not counted
    with _selfmon.drops_held():
        _selfmon.dropped("logs", "retention_count", 2)
        with _selfmon.drops_held():  # nested: handed to the enclosing block
            _selfmon.dropped("logs", "retention_count", 1)
        other = threading.Thread(target=_selfmon.dropped, args=("logs", "retention_count", 10))
        other.start()
        other.join()  # another thread's drops are its own: counted at once
        assert count() == before + 10
    assert count() == before + 13
    _selfmon.dropped("logs", "retention_count")
    assert count() == before + 14  # outside a block: counted at once again
