"""The file store against a failing disk, killed writers and planted links (hostile or broken hosts)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber

from monitoring_layer import JsonFileLogExporter, _selfmon, config
from monitoring_layer.exporters import JsonFileStore, prepare_home
from monitoring_layer.exporters import _store


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults are counted, not raised (what a production process sees)."""
    monkeypatch.setenv("MONITORING_STRICT", "0")
    config._reset_for_tests()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _store_in(home: Path) -> JsonFileStore:
    prepare_home(home, "logs")
    return JsonFileStore(home / "logs" / "logs.json", "logs")


def test_failed_writes_back_off_instead_of_rewriting_every_interval(home: Path, lenient: None,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    exporter = JsonFileLogExporter(home, export_interval_s=2)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("t").emit(LogRecord(body="kept", severity_number=SeverityNumber.INFO))
    attempts: list[int] = []

    def disk_full(self: JsonFileStore, doc: dict) -> None:
        attempts.append(1)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(JsonFileStore, "_write", disk_full)
    assert exporter.write_now() is False
    first_retry = exporter._retry_at
    assert exporter.write_now() is False and exporter.write_now() is False
    assert len(attempts) == 1, "a write during the back-off touched the disk"
    exporter._retry_at = 0.0
    assert exporter.write_now() is False
    assert len(attempts) == 2
    assert exporter._retry_at - first_retry > 0  # the second wait is longer (2 s, then 4 s)
    assert _selfmon.counts()["errors"]["export"] == 2
    monkeypatch.undo()
    exporter._retry_at = 0.0
    assert exporter.write_now() is True and exporter._failures == 0
    assert [r["message"] for r in json.loads((home / "logs/logs.json").read_text())["records"]] == ["kept"]
    provider.shutdown()


def test_temp_files_of_killed_writers_are_removed_at_the_first_write(home: Path) -> None:
    store = _store_in(home)
    folder = home / "logs"
    dead = folder / f".logs.json.{_dead_pid()}.00ff00ff00ff00ff.tmp"
    dead_old_style = folder / f".logs.json.{_dead_pid()}.140234.tmp"
    alive = folder / f".logs.json.{os.getppid()}.0123456789abcdef.tmp"
    other = folder / f".traces.json.{_dead_pid()}.0123456789abcdef.tmp"
    for path in (dead, dead_old_style, alive, other):
        path.write_text("{half a document")
    store.update(lambda doc: {**doc, "records": []})
    assert not dead.exists() and not dead_old_style.exists()
    assert alive.exists(), "a live writer's temp file was removed"
    assert other.exists(), "another file's temp file was removed"
    assert _selfmon.counts()["dropped"][("files", "stale_temp_file")] == 2


def test_a_planted_lock_symlink_is_not_followed(home: Path, tmp_path: Path) -> None:
    store = _store_in(home)
    target = tmp_path / "victim"
    os.symlink(target, home / "logs" / "logs.json.lock")
    with pytest.raises(OSError):
        store.update(lambda doc: doc)
    assert not target.exists(), "the lock file's symlink target was created"


def test_temp_files_are_created_exclusively_never_through_a_link(home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store_in(home)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    monkeypatch.setattr(_store.secrets, "token_hex", lambda _n: "feedfacefeedface")
    os.symlink(victim, home / "logs" / f".logs.json.{os.getpid()}.feedfacefeedface.tmp")
    with pytest.raises(FileExistsError):
        store.update(lambda doc: {**doc, "records": []})
    assert victim.read_text() == "precious"
    assert not (home / "logs" / "logs.json").exists()


def test_update_gives_up_on_another_process_lock_at_its_deadline(home: Path) -> None:
    store = _store_in(home)
    fd = os.open(home / "logs" / "logs.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: flock conflicts like a process
        with pytest.raises(TimeoutError, match="lock"):
            store.update(lambda doc: doc, timeout_s=0.05)
    finally:
        os.close(fd)
    store.update(lambda doc: {**doc, "records": []}, timeout_s=5)
    assert json.loads((home / "logs" / "logs.json").read_text())["records"] == []



def test_orjson_and_json_write_the_same_documents(home: Path, lenient: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("orjson", reason="the `fast` extra (orjson) is not installed")
    doc = {"schema_version": 1, "kind": "logs", "records": [
        {"message": "café ☕", "n": 2**40, "x": 0.1, "tiny": 1e-07, "ok": True, "none": None,
         "tags": ("a", "b"), "nested": {"1": [1, 2.5]}},
        {"message": "huge", "n": 2**70},                       # beyond 64 bits: json takes it
        {"message": os.fsdecode(b"bad-\xff")},                 # a lone surrogate: json takes it
    ]}
    prepare_home(home, "logs")
    JsonFileStore(home / "logs" / "fast.json", "logs").update(lambda _: dict(doc))
    monkeypatch.setattr(_store, "_orjson", None)
    JsonFileStore(home / "logs" / "plain.json", "logs").update(lambda _: dict(doc))
    fast, plain = (json.loads((home / "logs" / name).read_bytes()) for name in ("fast.json", "plain.json"))
    assert fast == plain and fast["records"][2]["message"] == "bad-\ufffd"


def test_a_large_document_is_written_in_bounded_pieces_that_make_one_valid_file(
        home: Path, lenient: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_store, "CHUNK_BYTES", 200)
    writes: list[int] = []
    write_all = _store._write_all
    monkeypatch.setattr(_store, "_write_all", lambda fd, data: (writes.append(len(data)), write_all(fd, data)))
    records: list = [{"n": i, "text": "x" * (i % 50)} for i in range(300)]
    records[7] = (_store.encode_record({"n": 7, "pre": "encoded"}), "id", 7)  # an exporter's (text, ...) record
    records[250] = {"n": 250, "text": os.fsdecode(b"bad-\xff")}               # a lone surrogate, late in the file
    doc = {"schema_version": 1, "kind": "logs", "logs": records, "totals": {"a": 1}, "empty": [], "updated": "now"}

    store = _store_in(home)
    store.update(lambda current: dict(doc))
    longest_record = max(len(_store.encode_record(r)) for r in records if isinstance(r, dict))
    assert len(writes) > 20
    assert max(writes) <= 200 + longest_record + 8  # a write ends at the first record past the size
    on_disk = json.loads((home / "logs" / "logs.json").read_text())
    assert on_disk["logs"][7] == {"n": 7, "pre": "encoded"}
    assert on_disk["logs"][250]["text"] == "bad-\ufffd"
    assert [r["n"] for r in on_disk["logs"]] == list(range(300))
    assert (on_disk["totals"], on_disk["empty"], on_disk["updated"]) == ({"a": 1}, [], "now")
    assert _selfmon.counts()["errors"]["encode"] == 1  # one fault for the write, not one per piece


def _encoded(n: int, text: str) -> tuple[str, int]:
    return (_store.encode_record({"n": n, "text": text}), n)


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "pread-write"])
def test_kept_records_hold_no_text_and_are_copied_from_the_last_file(
        home: Path, lenient: None, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool) -> None:
    if not kernel_copy:
        monkeypatch.setattr(_store, "_KERNEL_COPY", False)
    monkeypatch.setattr(_store, "CHUNK_BYTES", 64)  # copies and gathered writes alternate within the list
    monkeypatch.setattr(_store, "PLACE_MIN_BYTES", 0)  # every record becomes a place, however short
    texts = ["plain", "café ☕", os.fsdecode(b"bad-\xff"), "x" * 100, "", "last"]
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(n, t) for n, t in enumerate(texts)], "head": {"a": 1}})
    first = (home / "logs" / "logs.json").read_bytes()
    assert _selfmon.counts()["errors"]["encode"] == 1

    seen: dict[int, str] = {}

    def merge(doc: dict) -> dict:
        kept = doc["records"]
        assert all(type(r[0]) is range for r in kept)  # places in the file, no text
        for record in kept:
            seen[record[1]] = store.record_text(record)
        # New records first, one old record dropped from the middle, one from the end, the order kept.
        doc["records"] = [_encoded(10, "new ☃"), _encoded(11, "newer"), *kept[:2], *kept[3:5]]
        return doc

    store.update(merge)
    assert {n: json.loads(text)["text"] for n, text in seen.items()} == dict(
        enumerate(texts[:2] + ["bad-\ufffd"] + texts[3:]))
    assert first.count(b"bad-\xef\xbf\xbd") == 1  # what the first write made of the lone surrogate

    expected = _store_in(home / "fresh")  # the same document, every record written from text
    expected.update(lambda doc: {**doc, "records": [
        _encoded(10, "new ☃"), _encoded(11, "newer"), _encoded(0, "plain"), _encoded(1, "café ☕"),
        _encoded(3, "x" * 100), _encoded(4, "")], "head": {"a": 1}})
    written = (home / "logs" / "logs.json").read_bytes()
    fresh = json.loads((home / "fresh" / "logs" / "logs.json").read_bytes())
    assert written.replace(b'"updated"', b"") == (home / "fresh" / "logs" / "logs.json").read_bytes().replace(
        b'"updated"', b"")
    assert [r["n"] for r in json.loads(written)["records"]] == [r["n"] for r in fresh["records"]] == [
        10, 11, 0, 1, 3, 4]

    # A third write copies again from the second file: places follow each write.
    store.update(lambda doc: {**doc, "records": doc["records"][1:]})
    assert [r["n"] for r in json.loads((home / "logs" / "logs.json").read_bytes())["records"]] == [11, 0, 1, 3, 4]


def test_short_records_keep_their_text_and_long_ones_become_places(home: Path) -> None:
    short, long = _encoded(1, "s"), _encoded(2, "l" * _store.PLACE_MIN_BYTES)
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [short, long]})
    kept = store._cache[1]["records"]  # type: ignore[index]
    assert kept[0] is short  # a place would cost more than the text it saves
    assert type(kept[1][0]) is range and kept[1][1:] == (2,)
    store.update(lambda doc: {**doc, "records": [_encoded(3, "new"), *doc["records"]]})
    assert [r["n"] for r in json.loads((home / "logs" / "logs.json").read_bytes())["records"]] == [3, 1, 2]


def test_a_file_another_writer_replaced_is_parsed_again_not_copied_from(home: Path) -> None:
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(1, "ours" * 500)]})
    other = JsonFileStore(home / "logs" / "logs.json", "logs")  # another process, as far as `store` knows
    other.update(lambda doc: {**doc, "records": [{"n": 2, "text": "theirs"}, *doc["records"]]})

    kinds: list[type] = []
    store.update(lambda doc: (kinds.extend(type(r) for r in doc["records"]), doc)[1])
    assert kinds == [dict, dict]  # read from the file, not places in a file that is gone
    assert [r["n"] for r in json.loads((home / "logs" / "logs.json").read_bytes())["records"]] == [2, 1]


def test_a_store_lets_go_of_its_last_file_once_another_writer_replaced_it(home: Path) -> None:
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(1, "ours" * 300)]})  # long enough to be a place
    held = store._held
    assert held is not None
    store.let_go_if_replaced()  # still the file on disk: kept, and with it the cached document
    assert store._held == held and store._cache is not None
    JsonFileStore(home / "logs" / "logs.json", "logs").update(lambda doc: {**doc, "records": []})
    store.let_go_if_replaced()
    assert store._held is None and store._cache is None
    with pytest.raises(OSError):
        os.fstat(held)  # closed: the replaced file's space is freed
    store.update(lambda doc: {**doc, "records": [_encoded(2, "again"), *doc["records"]]})
    assert [r["n"] for r in json.loads((home / "logs" / "logs.json").read_bytes())["records"]] == [2]


def test_letting_go_never_raises_into_the_writer_thread(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(1, "ours" * 300)]})
    held = store._held
    JsonFileStore(home / "logs" / "logs.json", "logs").update(lambda doc: doc)
    real_close = os.close

    def failing_close(fd: int) -> None:
        real_close(fd)
        raise OSError(5, "Input/output error")  # what close() may report for a file on a failing disk

    monkeypatch.setattr(_store.os, "close", failing_close)
    store.let_go_if_replaced()
    monkeypatch.undo()
    assert store._held is None
    with pytest.raises(OSError):
        os.fstat(held)  # type: ignore[arg-type]


def test_an_idle_writer_thread_lets_go_of_a_replaced_file(home: Path) -> None:
    import weakref

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from monitoring_layer.exporters import _writer

    exporter = JsonFileLogExporter(home)
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("t").emit(LogRecord(body="kept " * 300, severity_number=SeverityNumber.INFO))
    provider.shutdown()  # written; nothing pending, so the writer is idle from here
    assert exporter._store._held is not None
    JsonFileStore(home / "logs" / "logs.json", "logs").update(lambda doc: doc)  # another process's write
    exporter._wake.set()
    _writer._run(weakref.ref(exporter), exporter._wake, 0.0)  # one round of the thread (it stops: shut down)
    assert exporter._store._held is None


def test_a_file_without_places_is_not_held_and_its_document_still_reused(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(1, "short")]})
    assert store._held is None and store._cache is not None  # nothing points into the file: not kept open
    parsed: list[int] = []
    real_load = JsonFileStore._load

    def counting_load(self: JsonFileStore) -> dict:
        parsed.append(1)
        return real_load(self)

    monkeypatch.setattr(JsonFileStore, "_load", counting_load)
    store.update(lambda doc: {**doc, "records": [_encoded(2, "next"), *doc["records"]]})
    assert parsed == [], "the file this store wrote was parsed again"
    JsonFileStore(home / "logs" / "logs.json", "logs").update(
        lambda doc: {**doc, "records": [{"n": 3, "text": "theirs"}, *doc["records"]]})
    parsed.clear()
    store.update(lambda doc: {**doc, "records": [_encoded(4, "mine"), *doc["records"]]})
    assert parsed == [1]  # another writer replaced it: read from disk, their record kept
    assert [r["n"] for r in json.loads((home / "logs" / "logs.json").read_bytes())["records"]] == [4, 3, 2, 1]
    assert store._held is None


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "pread-write"])
def test_a_copy_past_the_end_of_the_old_file_fails_the_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool) -> None:
    if not kernel_copy:
        monkeypatch.setattr(_store, "_KERNEL_COPY", False)
    (tmp_path / "old").write_bytes(b"0123456789")
    source = os.open(tmp_path / "old", os.O_RDONLY)
    target = os.open(tmp_path / "new", os.O_WRONLY | os.O_CREAT)
    try:
        _store._copy_range(source, target, 2, 5)
        with pytest.raises(OSError, match="shorter than when it was written"):
            _store._copy_range(source, target, 8, 5)
    finally:
        os.close(source)
        os.close(target)
    assert (tmp_path / "new").read_bytes().startswith(b"23456")


def test_a_place_is_readable_only_during_an_update(home: Path) -> None:
    store = _store_in(home)
    store.update(lambda doc: {**doc, "records": [_encoded(1, "ours" * 500)]})
    (record,) = store._cache[1]["records"]  # type: ignore[index]
    with pytest.raises(RuntimeError, match="only during update"):
        store.record_text(record)


@pytest.mark.parametrize("value", [
    {"a": [1, 2.5, None, True], "b": {"c": "d"}},
    {"labels": {1: "one", 2.5: "two and a half", None: "none", True: "yes"}},  # keys that are not strings
    {"big": 2**70, "text": "caf\u00e9 \ud800"},  # beyond orjson: an int over 64 bits, a lone surrogate
])
def test_a_record_encodes_as_the_standard_library_would(value) -> None:
    # orjson's first try has no non-string-key option (it makes every dict dearer); the retries keep the output.
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert json.loads(_store.encode_record(value)) == json.loads(expected)


def _merge_records(doc: dict) -> dict:
    return {**doc, "records": [*doc.get("records", ()), "new"]}  # what a merge reads: a sequence


def test_a_file_in_a_shape_the_merge_cannot_read_is_set_aside_not_a_failed_write_ever_after(home: Path) -> None:
    # Valid JSON, but a hand (or another tool) left "records" as a number: every merge would fail.
    store = _store_in(home)
    path = home / "logs" / "logs.json"
    path.write_text(json.dumps({"schema_version": 1, "kind": "logs", "records": 5}))
    errors = _selfmon.counts()["errors"].get("corrupt_file", 0)
    store.update(_merge_records)
    assert json.loads(path.read_text())["records"] == ["new"]
    (aside,) = path.parent.glob("logs.json.corrupt-*")
    assert json.loads(aside.read_text())["records"] == 5  # kept for whoever looks, not lost
    assert _selfmon.counts()["errors"]["corrupt_file"] == errors + 1
    store.update(_merge_records)
    assert json.loads(path.read_text())["records"] == ["new", "new"]


def test_a_merge_retried_on_an_empty_document_counts_only_the_retry_s_drops(home: Path) -> None:
    store = _store_in(home)
    path = home / "logs" / "logs.json"
    path.write_text(json.dumps({"schema_version": 1, "kind": "logs", "records": 5}))
    dropped = _selfmon.counts()["dropped"].get(("logs", "retention_count"), 0)

    def merge(doc: dict) -> dict:
        _selfmon.dropped("logs", "retention_count", 1)  # a bound applied before the merge reads the records
        return _merge_records(doc)

    store.update(merge)
    assert json.loads(path.read_text())["records"] == ["new"]
    assert _selfmon.counts()["dropped"][("logs", "retention_count")] == dropped + 1  # not 2


def test_a_merge_that_fails_on_an_empty_document_too_is_the_library_s_fault_and_the_file_stays(home: Path) -> None:
    store = _store_in(home)
    path = home / "logs" / "logs.json"
    store.update(_merge_records)

    def broken(doc: dict) -> dict:
        raise KeyError("a bug of ours")

    path.write_text(path.read_text())  # another writer's copy: read from disk, not the cache
    with pytest.raises(KeyError, match="a bug of ours"):
        store.update(broken)
    with pytest.raises(KeyError, match="a bug of ours"):
        store.update(broken)  # from the file read back (the failed write cached nothing)
    assert json.loads(path.read_text())["records"] == ["new"]
    assert not list(path.parent.glob("logs.json.corrupt-*"))


def test_copies_set_aside_are_bounded_and_the_removed_ones_counted(home: Path) -> None:
    store = _store_in(home)
    path = home / "logs" / "logs.json"
    older = [f"logs.json.corrupt-20260101T0000{n:02d}Z" for n in range(_store.QUARANTINE_KEEP)]
    for name in older + ["logs.json.corrupt-20260101T000009Z-2", "logs.json.corrupt-20260101T000009Z-10"]:
        (path.parent / name).write_text("{}")
    dropped = _selfmon.counts()["dropped"].get(("files", "quarantine_max"), 0)
    path.write_text("{not json")
    store.update(_merge_records)
    kept = sorted(p.name for p in path.parent.glob("logs.json.corrupt-*"))
    assert len(kept) == _store.QUARANTINE_KEEP
    assert "logs.json.corrupt-20260101T000009Z-10" in kept and "logs.json.corrupt-20260101T000002Z" not in kept
    assert not any(name.startswith("logs.json.corrupt-2026010") and name.endswith("01Z") for name in kept)
    assert _selfmon.counts()["dropped"][("files", "quarantine_max")] == dropped + 3
