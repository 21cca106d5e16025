"""The file store every documented JSON file goes through.

* Always valid JSON on disk: each write goes to a temporary file in the same
  folder, is fsynced, and renamed over the old file (readers see the old or
  the new document, never half of one).
* Several processes share one ``MONITORING_HOME``: read-merge-write happens
  under an exclusive ``flock`` on ``<file>.lock``, so no process drops the
  records another one wrote.
* A file that is not valid JSON, or whose content the merge cannot read while an
  empty document merges, is moved aside as ``<name>.corrupt-<UTC time>``, reported
  once, and a fresh document is started; the newest ``QUARANTINE_KEEP`` such copies
  are kept.
* Folders are created 0700 and files 0600; a home owned by another user, or
  writable by group/others, is refused with a ``ConfigError``.

The document layout is one object with ``schema_version`` and ``kind``; it is
written one record per line so the files stay readable and grep-able.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from monitoring_layer import _lifecycle, _selfmon
from monitoring_layer._safe import safe_text
from monitoring_layer.config import ConfigError

try:  # the `fast` extra: the same JSON, serialised about ten times faster on the writer thread
    import orjson as _orjson

    # Only for a document with keys that are not strings: the option makes every dict cost
    # about 1.5 times as much to serialise, so it is the second try, not the first.
    _ORJSON_NON_STR_KEYS = _orjson.OPT_NON_STR_KEYS
except ImportError:
    _orjson = None  # type: ignore[assignment]

try:  # POSIX; elsewhere processes are not serialised (documented).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["CHUNK_BYTES", "JsonFileStore", "PLACE_MIN_BYTES", "SCHEMA_VERSION", "encode_record", "prepare_home"]

#: The schema version of the logs file (and the default of a store); the metrics and traces files are at 2
#: (``METRICS_SCHEMA_VERSION``, ``TRACES_SCHEMA_VERSION``), each migrating older files on read.
SCHEMA_VERSION = 1
#: Copies of a file set aside as corrupt that are kept (the newest); older ones are removed and counted.
QUARANTINE_KEEP = 10

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How often a writer waiting for another process's lock looks again, when it has a deadline.
_LOCK_POLL_S = 0.005


def prepare_home(home: Path, *subdirs: str) -> Path:
    """Create ``home`` (and ``subdirs``) 0700 and refuse an unsafe one.

    Raises ``ConfigError`` when the folder (or a symlink leading to it) is
    owned by another user, or is writable by group or others.
    """
    home = Path(home)
    _check_not_foreign_symlink(home)
    try:
        home.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"MONITORING_HOME={str(home)!r} cannot be created: {exc.strerror}. "
            "Set MONITORING_HOME (or configure(home=...)) to a folder you own."
        ) from None
    _check_safe_dir(home)
    for sub in subdirs:
        folder = home / sub
        _check_not_foreign_symlink(folder)
        try:
            folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        except OSError as exc:  # e.g. a file of that name in the home
            raise ConfigError(f"MONITORING_HOME folder {str(folder)!r} cannot be created: {exc.strerror}") from None
        _check_safe_dir(folder)
    return home


def _check_not_foreign_symlink(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:  # a file where a folder of the path should be, a loop of symlinks, ...
        raise ConfigError(
            f"MONITORING_HOME path {str(path)!r} cannot be used: {exc.strerror}. "
            "Set MONITORING_HOME (or configure(home=...)) to a folder you own."
        ) from None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            f"MONITORING_HOME path {str(path)!r} is a symlink owned by uid {st.st_uid}, "
            "not by you; refusing to follow it. Set MONITORING_HOME (or configure(home=...)) "
            "to a folder you own."
        )


def _check_safe_dir(path: Path) -> None:
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"MONITORING_HOME path {str(path)!r} is not a folder")
    subfolder = path / "monitoring"
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"MONITORING_HOME folder {str(path)!r} is owned by uid {st.st_uid}, not by you "
            f"(uid {os.geteuid()}); another user could read or replace your telemetry. "
            "Set MONITORING_HOME (or configure(home=...)) to a folder you own, "
            f"e.g. MONITORING_HOME=$HOME/.monitoring, or a subfolder such as {subfolder} "
            "when this is a shared volume you can write to (it is created 0700)."
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"MONITORING_HOME folder {str(path)!r} is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}), as volume roots often are (Kubernetes fsGroup, "
            f"emptyDir). Use a subfolder: MONITORING_HOME={subfolder} is created 0700 and accepted; "
            f"or run `chmod 700 {path}`."
        )


_STORES: weakref.WeakSet[JsonFileStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A thread of the parent may have held a store's lock at fork time.
    for store in list(_STORES):
        store._thread_lock = threading.Lock()


_lifecycle.register("file stores", after_fork_child=_after_fork_in_child)


#: What is between two records of a list (one record per line).
_SEPARATOR_TEXT = ",\n  "
_SEPARATOR = _SEPARATOR_TEXT.encode()

#: About how many bytes of new text are gathered before one ``os.write``: large enough that a
#: write is one system call, small enough that no copy of a whole large file is ever made.
CHUNK_BYTES = 1 << 20

#: A written record at least this long comes back to the next merge as its place in the file;
#: a shorter one keeps its text. Measured on the writer thread: a place costs about 1 µs of
#: Python per kept record and write (a new tuple), keeping the text costs its memory and a
#: copy under the GIL; at 300 bytes a place costs 2.4x the CPU, at 3,000 bytes 0.8x.
PLACE_MIN_BYTES = 1024


def _lay_out(doc: dict[str, Any], out: _DocumentOut, text_of: Callable[[Any], str]) -> dict[str, tuple[Any, ...]]:
    """Write ``doc`` through ``out``, one top-level key and one record per line.

    A record given as a tuple is already encoded: ``(json text, ...)`` (what ``encode_record``
    made; the rest of the tuple is the exporter's index), or ``(place, ...)`` once written
    (see ``JsonFileStore``). Returns, for each list of records, the same records with every
    tuple's first item replaced by its place in this document (a tuple of records).
    """
    placed: dict[str, tuple[Any, ...]] = {}
    head = "{\n "
    for key, value in doc.items():
        if isinstance(value, (list, tuple)) and value:
            out.text(f"{head}{json.dumps(key)}: [\n  ")
            placed[key] = out.records(value, text_of)
            out.text("\n ]")
        elif isinstance(value, dict) and value and key != "resource":
            body = ",\n  ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in value.items())
            out.text(f"{head}{json.dumps(key)}: {{\n  {body}\n }}")
        else:
            out.text(f"{head}{json.dumps(key)}: {_compact(value)}")
        head = ",\n "
    out.text("{\n}\n" if head == "{\n " else "\n}\n")
    return placed


class _DocumentOut:
    """The bytes of one document on their way into ``fd``.

    New text is gathered into writes of about ``CHUNK_BYTES``. A record kept from the file
    this store wrote last (``source``) is not text in memory but a place in that file: runs
    of such records (with the separators between them) are copied by the kernel, with the
    GIL released (``os.copy_file_range``, or ``pread``/``write`` where it is refused).
    Offsets are in bytes: an ASCII text's length is its size; any other text is measured
    by encoding it (lone surrogates become U+FFFD, three bytes each).
    """

    def __init__(self, fd: int, source: int | None) -> None:
        self.fd = fd
        self.source = source
        self.offset = 0         # the document's bytes so far: written, gathered or in the open run
        self.replaced = 0       # texts whose lone surrogates became U+FFFD
        self.places = 0         # records handed back as places in this document
        self._gathered: list[str] = []
        self._gathered_size = 0  # in bytes

    def text(self, text: str) -> None:
        size = len(text) if text.isascii() else self._measure(text)
        self._gathered.append(text)
        self._gathered_size += size
        self.offset += size
        if self._gathered_size >= CHUNK_BYTES:
            self._write_gathered()

    def records(self, records: list[Any] | tuple[Any, ...], text_of: Callable[[Any], str]) -> tuple[Any, ...]:
        """Write ``records`` one per line; returns them with each tuple's first item as its place here.

        Run once per kept record (100,000 at the largest cap), so the loop keeps its state in
        locals: a record that follows the previous one in the source only extends the run of
        bytes to copy. A record shorter than ``PLACE_MIN_BYTES`` keeps its text (see there).
        """
        placed: list[Any] = []
        keep = placed.append
        places = 0
        gathered = self._gathered
        unwritten = self._gathered_size
        gap = len(_SEPARATOR)
        offset = self.offset
        run_start = run_stop = -gap - 1  # the source's bytes not copied yet: [run_start, run_stop)
        for index, record in enumerate(records):
            head = record[0] if type(record) is tuple else None
            if type(head) is range:
                if head.start == run_stop + gap:  # right after the previous record, in the source too
                    run_stop = head.stop
                    offset += gap + len(head)
                else:
                    if run_stop > run_start:
                        self._copy_run(run_start, run_stop)
                    if index:
                        gathered.append(_SEPARATOR_TEXT)
                        offset += gap
                    self._write_gathered()
                    unwritten = 0
                    run_start, run_stop = head.start, head.stop
                    offset += len(head)
                keep((range(offset - len(head), offset),) + record[1:])
                places += 1
                continue
            if run_stop > run_start:
                self._copy_run(run_start, run_stop)
                run_start = run_stop = -gap - 1
            text = head if type(head) is str else text_of(record)
            size = len(text) if text.isascii() else self._measure(text)
            if index:
                gathered.append(_SEPARATOR_TEXT)
                offset += gap
                unwritten += gap
            gathered.append(text)
            offset += size
            unwritten += size
            if unwritten >= CHUNK_BYTES:
                self._write_gathered()
                unwritten = 0
            if head is None or size < PLACE_MIN_BYTES:
                keep(record)
            else:
                keep((range(offset - size, offset),) + record[1:])
                places += 1
        if run_stop > run_start:
            self._copy_run(run_start, run_stop)
        self.offset = offset
        self.places += places
        self._gathered_size = unwritten
        # A tuple: once its records are untracked, the garbage collector stops walking it too.
        return tuple(placed)

    def close(self) -> None:
        self._write_gathered()

    def _measure(self, text: str) -> int:
        data, bad = _encode_piece(text)
        self.replaced += bad
        return len(data)

    def _write_gathered(self) -> None:
        if self._gathered:
            _write_all(self.fd, _encode_piece("".join(self._gathered))[0])  # lone surrogates: counted in _measure
            self._gathered.clear()
            self._gathered_size = 0

    def _copy_run(self, start: int, stop: int) -> None:
        """Copy ``[start, stop)`` of the source, after what was gathered (already written by the caller)."""
        if self.source is None:
            raise RuntimeError("a record's place was given without the file it is in")
        _copy_range(self.source, self.fd, start, stop - start)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


#: False once the kernel refused ``copy_file_range`` (old kernel, a file system without it).
_KERNEL_COPY = hasattr(os, "copy_file_range")
_NO_KERNEL_COPY = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _copy_range(source: int, fd: int, start: int, count: int) -> None:
    """Append ``count`` bytes of ``source`` from ``start`` to ``fd`` (at its position)."""
    global _KERNEL_COPY
    while count and _KERNEL_COPY:
        try:
            copied = os.copy_file_range(source, fd, count, start)
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
            _KERNEL_COPY = False
            break
        if not copied:
            raise OSError(errno.EIO, "the file being rewritten is shorter than when it was written")
        start += copied
        count -= copied
    while count:
        data = os.pread(source, min(count, CHUNK_BYTES), start)
        if not data:
            raise OSError(errno.EIO, "the file being rewritten is shorter than when it was written")
        _write_all(fd, data)
        start += len(data)
        count -= len(data)


def encode_record(value: Any) -> str:
    """One record as compact JSON text (orjson when installed), for a pre-encoded ``(text, ...)`` record."""
    return _compact(value)


def _compact(value: Any) -> str:
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode()
        except TypeError:  # JSONEncodeError too: keys that are not strings, lone surrogates, big ints
            try:
                return _orjson.dumps(value, option=_ORJSON_NON_STR_KEYS).decode()
            except TypeError:  # lone surrogates, ints beyond 64 bits, unknown types
                pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class JsonFileStore:
    """One JSON document on disk, updated by read-merge-write under a process lock.

    Large records kept between writes cost no memory for their text: after a write, every
    pre-encoded record (a tuple ``(json text, ...)``) of at least ``PLACE_MIN_BYTES`` comes
    back to the next merge as ``(place, ...)``, ``place`` being the ``range`` of its bytes in
    the file just written, and the next write copies the kept records from that file to the
    new one in the kernel.
    A merge that needs a kept record's text reads it with ``record_text``.

    When some record is a place, the store keeps the file it wrote last open until its next
    update. While it is open its inode cannot be reused, so a file at the path with the same
    device and inode *is* that file (and the same size and modification time say it was not
    changed in place): only then are the places used; otherwise the file on disk is parsed
    again. If another process replaces the file, the old one's space is freed at this store's
    next update, or sooner by ``let_go_if_replaced``. A document without places (its records
    all short, or not pre-encoded) is not held open: the same identity (device, inode, size,
    modification time to the nanosecond) only decides whether the document kept in memory can
    be merged into instead of parsing the file, which a reused inode could fool only with the
    same size and nanosecond time.
    """

    def __init__(self, path: Path, kind: str, *, records_immutable: bool = False,
                 schema_version: int = SCHEMA_VERSION,
                 migrate: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self.schema_version = schema_version
        # Turns a document of an older schema_version into the current one, on read.
        self._migrate = migrate
        # What this store wrote last, while the file on disk is still that write: the next
        # update merges into it instead of parsing the file again (another process's write,
        # or any other change, shows in the file's identity and makes us read it).
        self._cache: tuple[tuple[int, int, int, int], dict[str, Any]] | None = None
        self._held: int | None = None  # that write's file, open (see the class's docstring)
        # With records_immutable (merges never change a kept record in place), the text of
        # every record written last time, reused for the records that are kept as they were.
        self._memo: dict[int, tuple[Any, str]] | None = {} if records_immutable else None
        # The file the merged document's places point into, during an update.
        self._source: int | None = None
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._swept = False  # stale temp files of dead writers removed (once, at the first write)
        self._seen: dict[int, tuple[Any, str]] = {}  # the memo being made by the write under way
        _STORES.add(self)

    def empty(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "kind": self.kind}

    def read(self) -> dict[str, Any]:
        """The current document (an empty one if absent; corrupt ones are quarantined)."""
        with self._locked():
            return self._load()

    def update(self, merge: Callable[[dict[str, Any]], dict[str, Any]],
               timeout_s: float | None = None) -> dict[str, Any]:
        """Apply ``merge(current) -> new`` and write the result atomically.

        ``timeout_s`` bounds the wait for another process's lock (``TimeoutError``
        past it); None waits as long as it takes (the writer threads do).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._locked(deadline):
            if not self._swept:
                self._swept = True
                self._remove_stale_temp_files()
            cached, source = self._take_cached()
            from_disk = cached is None
            current = self._load() if cached is None else cached
            if from_disk:
                if self._memo is not None:
                    self._memo.clear()
            self._source = source
            try:
                try:
                    with _selfmon.drops_held():  # a merge retried below must not count its drops twice
                        new = merge(current)
                except Exception as exc:
                    if not from_disk or isinstance(exc, (OSError, MemoryError)):
                        raise
                    # Valid JSON that another writer (a hand, a tool, an older version) left in a
                    # shape the merge cannot read would fail this write and every later one. If an
                    # empty document merges, the file was the fault: it is set aside like a corrupt
                    # one (kept beside it, counted) and the new one written. If not, the fault is
                    # ours, and the file stays.
                    try:
                        new = merge(self.empty())
                    except Exception:  # noqa: BLE001 - the first fault is the one to report
                        raise exc from None
                    self._quarantine(exc)
                new["schema_version"] = self.schema_version
                new["kind"] = self.kind
                placed, written, identity = self._write(new)
            finally:
                self._source = None
                if source is not None:
                    os.close(source)
            new.update(placed)  # the records written as text now point into the new file
            self._cache, self._held = (identity, new), written
            return new

    def record_text(self, record: tuple[Any, ...]) -> str:
        """The JSON text of a pre-encoded record handed to a merge: ``(text, ...)`` or ``(place, ...)``."""
        head = record[0]
        if type(head) is str:
            return head
        if self._source is None:
            raise RuntimeError(f"{self.path}: a record's place is readable only during update()")
        data = os.pread(self._source, len(head), head.start)
        if len(data) != len(head):
            raise OSError(errno.EIO, f"{self.path} is shorter than when it was written")
        return data.decode("utf-8")

    def let_go_if_replaced(self) -> None:
        """Close the file this store wrote last if another writer has replaced it since.

        Until then its disk space stays allocated (the file is unlinked but open); the
        exporters' writer threads call this at every idle interval, so a process that stops
        writing does not hold a large deleted file. A store busy in another thread is skipped.
        """
        if self._held is None or not self._thread_lock.acquire(blocking=False):
            return
        try:
            cache, held = self._cache, self._held
            if cache is not None and held is not None and not self._is_on_disk(cache[0]):
                self._cache = self._held = None
                with contextlib.suppress(OSError):  # called from a writer thread's loop: never raises
                    os.close(held)
        finally:
            self._thread_lock.release()

    # -- internals -----------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, deadline: float | None = None) -> Iterator[None]:
        if deadline is None:
            self._thread_lock.acquire()
        elif not self._thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"another thread held {self.path}'s lock past the deadline")
        try:
            if fcntl is None:  # pragma: no cover
                yield
                return
            # O_NOFOLLOW: a lock file planted as a symlink must not make us create or open its target.
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, _FILE_MODE)
            try:
                _flock(fd, deadline, self.path)
                yield
            finally:
                os.close(fd)  # closing releases the lock
        finally:
            self._thread_lock.release()

    def _remove_stale_temp_files(self) -> None:
        """Delete temp files left by writers that were killed mid-write (their pid is gone)."""
        pattern = re.compile(r"\." + re.escape(self.path.name) + r"\.(\d+)\.[0-9a-f]+\.tmp\Z")
        removed = 0
        try:
            names = os.listdir(self.path.parent)
        except OSError:
            return
        for name in names:
            match = pattern.match(name)
            if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path.parent / name)  # a symlink is removed, never its target
                removed += 1
        _selfmon.dropped("files", "stale_temp_file", removed)

    def _take_cached(self) -> tuple[dict[str, Any] | None, int | None]:
        """The document this store wrote last, if that is still the file on disk, and the file if held open.

        Either way the store no longer holds them: the merge may change the document, and it
        is cached again only after a good write.
        """
        cache, held = self._cache, self._held
        self._cache = self._held = None
        if cache is None or not self._is_on_disk(cache[0]):
            if held is not None:
                os.close(held)
            return None, None
        return cache[1], held

    def _is_on_disk(self, identity: tuple[int, int, int, int]) -> bool:
        """Whether the file at the path is the one this store wrote last: same (device, inode, size, mtime)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == identity

    def __del__(self) -> None:
        held = self.__dict__.get("_held")
        if held is not None:
            with contextlib.suppress(Exception):
                os.close(held)

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return self.empty()
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("top level is not an object")
            if doc.get("kind", self.kind) != self.kind:
                raise ValueError(f"kind is {doc.get('kind')!r}, expected {self.kind!r}")
        except ValueError as exc:
            self._quarantine(exc)
            return self.empty()
        version = doc.get("schema_version")
        if self._migrate is not None and isinstance(version, int) and version < self.schema_version:
            doc = self._migrate(doc)
        return doc

    def _quarantine(self, reason: Exception) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        _selfmon.fault(
            "corrupt_file",
            f"{self.path} was not a valid {self.kind} document ({reason}); moved it to "
            f"{target.name} and started a fresh one",
            key=str(self.path),
            strict=False,
        )
        self._forget_old_quarantines()

    def _forget_old_quarantines(self) -> None:
        """Keep the newest ``QUARANTINE_KEEP`` copies set aside of this file; remove (and count) the rest."""
        prefix = f"{self.path.name}.corrupt-"
        try:
            names = sorted((name for name in os.listdir(self.path.parent) if name.startswith(prefix)),
                           key=lambda name: (name[len(prefix):len(prefix) + 16], len(name), name))
        except OSError:
            return
        removed = 0
        for name in names[:-QUARANTINE_KEEP]:
            with contextlib.suppress(OSError):
                os.unlink(self.path.parent / name)
                removed += 1
        _selfmon.dropped("files", "quarantine_max", removed)

    def _write(self, doc: dict[str, Any]) -> tuple[dict[str, tuple[Any, ...]], int | None, tuple[int, int, int, int]]:
        """Write ``doc`` atomically; returns its lists of records with their places, the file and its identity.

        The file is returned open if some record of the document is a place in it, else closed (None).
        """
        # A fresh, unguessable name created exclusively and never through a symlink: a
        # planted link or file at a predictable name cannot redirect the write.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, _FILE_MODE)
        out = _DocumentOut(fd, self._source)
        self._seen = {}
        try:
            placed = _lay_out(doc, out, self._text_of)
            out.close()
            os.fsync(fd)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if self._memo is not None:
            self._memo.clear()
            self._memo.update(self._seen)
        self._seen = {}
        if out.replaced:
            _report_surrogates(self.path)
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if not out.places:  # nothing points into it: holding it would only keep a replaced file's space
            os.close(fd)
            return placed, None, identity
        return placed, fd, identity

    def _text_of(self, record: Any) -> str:
        """A record's JSON text (through the memo of the last write, for a store of immutable records)."""
        memo = self._memo
        if memo is None:
            return _compact(record)
        hit = memo.get(id(record))
        text = hit[1] if hit is not None and hit[0] is record else _compact(record)
        self._seen[id(record)] = (record, text)
        return text


def _flock(fd: int, deadline: float | None, path: Path) -> None:
    """Take the exclusive lock, waiting at most until ``deadline`` (None: as long as it takes)."""
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
        if time.monotonic() >= deadline:
            raise TimeoutError(f"another process held {path}'s lock past the deadline")
        time.sleep(_LOCK_POLL_S)


def _encode_piece(text: str) -> tuple[bytes, int]:
    """UTF-8 bytes of ``text``, and 1 if lone surrogates in it had to become U+FFFD (else 0)."""
    try:
        return text.encode("utf-8"), 0
    except UnicodeEncodeError:
        return safe_text(text).encode("utf-8"), 1


def _report_surrogates(path: Path) -> None:
    _selfmon.fault("encode", f"{path.name}: text with lone surrogates was written with U+FFFD in "
                   "their place", key=str(path), strict=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
