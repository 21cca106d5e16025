"""The file store every documented JSON file goes through.

* Always valid JSON on disk: each write goes to a temporary file in the same
  folder, is fsynced, and renamed over the old file (readers see the old or
  the new document, never half of one).
* Several processes share one ``MONITORING_HOME``: read-merge-write happens
  under an exclusive ``flock`` on ``<file>.lock``, so no process drops the
  records another one wrote.
* A file that is not valid JSON is moved aside as ``<name>.corrupt-<UTC time>``,
  reported once, and a fresh document is started.
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

    _ORJSON_OPTIONS = _orjson.OPT_NON_STR_KEYS
except ImportError:
    _orjson = None  # type: ignore[assignment]

try:  # POSIX; elsewhere processes are not serialised (documented).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["CHUNK_CHARS", "JsonFileStore", "SCHEMA_VERSION", "dumps_document", "encode_record", "iter_document",
           "prepare_home"]

#: The schema version of the logs file (and the default of a store); the metrics and traces files are at 2
#: (``METRICS_SCHEMA_VERSION``, ``TRACES_SCHEMA_VERSION``), each migrating older files on read.
SCHEMA_VERSION = 1

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
        folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        _check_safe_dir(folder)
    return home


def _check_not_foreign_symlink(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
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


def dumps_document(doc: dict[str, Any], memo: dict[int, tuple[Any, str]] | None = None) -> str:
    """Serialise a document with one top-level key, and one record, per line.

    A record given as a tuple is already encoded: ``(json text, ...)`` (what
    ``encode_record`` made; the rest of the tuple is the exporter's index), and
    its text is written as it is.

    With ``memo`` (``id(record) -> (record, text)``), a record that is the very
    object serialised last time reuses its text; ``memo`` is refilled with this
    document's records. Only for stores whose records are never changed in place.
    """
    return "".join(iter_document(doc, memo))


#: About how many characters ``iter_document`` puts in one piece: large enough that a
#: piece costs one write, small enough that no copy of a whole large file is ever made.
CHUNK_CHARS = 1 << 20


def iter_document(doc: dict[str, Any], memo: dict[int, tuple[Any, str]] | None = None) -> Iterator[str]:
    """``dumps_document``'s text in pieces of about ``CHUNK_CHARS`` characters.

    The file store writes the pieces one by one: a 300 MB traces file never exists as one
    string (or one bytes copy of it), and the garbage collector and the other threads run
    between pieces.
    """
    seen: dict[int, tuple[Any, str]] | None = {} if memo is not None else None

    def record_text(item: Any) -> str:
        if type(item) is tuple:
            return item[0]  # type: ignore[no-any-return]
        if seen is None:
            return _compact(item)
        hit = memo.get(id(item)) if memo is not None else None
        text = hit[1] if hit is not None and hit[0] is item else _compact(item)
        seen[id(item)] = (item, text)
        return text

    head = "{\n "
    for key, value in doc.items():
        if isinstance(value, (list, tuple)) and value:
            yield f"{head}{json.dumps(key)}: [\n  "
            batch: list[str] = []
            size = 0
            lead = ""
            for item in value:
                text = record_text(item)
                batch.append(text)
                size += len(text) + 4  # with its ",\n  "
                if size >= CHUNK_CHARS:
                    yield lead + ",\n  ".join(batch)
                    batch, size, lead = [], 0, ",\n  "
            if batch:
                yield lead + ",\n  ".join(batch)
            yield "\n ]"
        elif isinstance(value, dict) and value and key != "resource":
            body = ",\n  ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in value.items())
            yield f"{head}{json.dumps(key)}: {{\n  {body}\n }}"
        else:
            yield f"{head}{json.dumps(key)}: {_compact(value)}"
        head = ",\n "
    yield "{\n}\n" if head == "{\n " else "\n}\n"
    if memo is not None and seen is not None:
        memo.clear()
        memo.update(seen)


def encode_record(value: Any) -> str:
    """One record as compact JSON text (orjson when installed), for a pre-encoded ``(text, ...)`` record."""
    return _compact(value)


def _compact(value: Any) -> str:
    if _orjson is not None:
        try:
            return _orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
        except TypeError:  # JSONEncodeError too: lone surrogates, ints beyond 64 bits, unknown types
            pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class JsonFileStore:
    """One JSON document on disk, updated by read-merge-write under a process lock."""

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
        self._cache: tuple[tuple[int, int, int], dict[str, Any]] | None = None
        # With records_immutable (merges never change a kept record in place), the text of
        # every record written last time, reused for the records that are kept as they were.
        self._memo: dict[int, tuple[Any, str]] | None = {} if records_immutable else None
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._swept = False  # stale temp files of dead writers removed (once, at the first write)
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
            current = self._cached()
            self._cache = None  # the merge may change it: valid again only after a good write
            if current is None:
                current = self._load()
                if self._memo is not None:
                    self._memo.clear()
            new = merge(current)
            new["schema_version"] = self.schema_version
            new["kind"] = self.kind
            self._write(new)
            identity = self._identity()
            if identity is not None:
                self._cache = (identity, new)
            return new

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

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _cached(self) -> dict[str, Any] | None:
        cache = self._cache
        if cache is not None and cache[0] == self._identity():
            return cache[1]
        return None

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

    def _write(self, doc: dict[str, Any]) -> None:
        # A fresh, unguessable name created exclusively and never through a symlink: a
        # planted link or file at a predictable name cannot redirect the write.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, _FILE_MODE)
        replaced = 0
        try:
            for piece in iter_document(doc, self._memo):
                data, bad = _encode_piece(piece)
                replaced += bad
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, self.path)
        if replaced:
            _report_surrogates(self.path)
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


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


def _encode(text: str, path: Path) -> bytes:
    """UTF-8 bytes of a document; a lone surrogate (from any instrumentation) becomes U+FFFD.

    Without this, one such string would make every later write of the file fail
    until retention pushed its record out.
    """
    data, bad = _encode_piece(text)
    if bad:
        _report_surrogates(path)
    return data


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
