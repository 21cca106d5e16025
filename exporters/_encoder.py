"""A helper process that turns a write's new traces into JSON text, on another core.

Under sustained load the traces writer's main cost is the JSON of the traces it
writes: about 5 µs of the host's GIL per span, for every trace that reaches the file
(docs/benchmarks.md). A write with at least ``MIN_TRACES`` new traces hands them to
this process instead: the host pays ``marshal`` (its compact records out, the texts
back: about a third of the encoding) and the encoding runs beside it. The text is
the same as the host's own (the same functions: ``traces._new_trace``).

The process is an accelerator, never a dependency:
- started at the first write that needs it, with the host's interpreter (not at all when
  ``sys.executable`` is not a Python, as under uWSGI: every write stays in the host) and
  ``sys.path`` (``-I``: no ``PYTHONPATH`` hooks, so ``opentelemetry-instrument``
  does not instrument it), in its own session (a terminal's Ctrl-C is for the host);
- it exits when its input closes: when the host exits, however it exits;
- a reply that does not come within the deadline, a dead process, a value
  ``marshal`` cannot carry: the batch is encoded in the host (nothing lost), the
  fault is counted (``monitoring_layer_errors_total{kind="export"}``) and logged
  once, the process is stopped and started again at a later write; after
  ``MAX_FAILURES`` it is not started again in this process;
- a forked child does not use its parent's process (it closes its copies of the
  pipes) and starts its own when it needs one.

Protocol, both ways: an 8-byte little-endian length, then ``marshal`` data. Request:
``(max spans per trace, [(trace id hex, pending entry), ...])`` for at most ``BATCH_TRACES``
traces; reply: one ``(text, end_unix_nano, spans over the cap)`` per trace, in order. A write
sends its traces in such requests one after another, so the host holds one reply's bytes at a
time, not the whole write's twice. ``marshal``'s format is the interpreter's own, and both
ends run the same interpreter.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from monitoring_layer import _selfmon

__all__ = ["EncoderProcess", "MAX_FAILURES", "MIN_TRACES", "serve"]

#: A write with fewer new traces is encoded in the host: not worth a process (about 20 ms).
MIN_TRACES = 500
#: Failures after which the process is not started again (each one is counted).
MAX_FAILURES = 3
#: Traces per request: the host holds one reply's bytes at a time beside the texts (about 3 MB).
BATCH_TRACES = 1_000
#: A reply buffer up to this size is kept for the next reply: allocating and freeing megabytes at
#: every request moves glibc's mmap threshold up and leaves the host's heap fragmented.
KEEP_BUFFER_BYTES = 16 << 20
#: The longest wait for a whole write's replies: this plus ``PER_TRACE_S`` per trace (the first
#: write's includes the process's start, about half a second). Past it the host encodes.
BASE_DEADLINE_S = 10.0
PER_TRACE_S = 0.0005

#: The pipes' size asked for (Linux ``F_SETPIPE_SZ``; ``/proc/sys/fs/pipe-max-size`` is 1 MiB by default).
PIPE_BYTES = 1 << 20

_HEADER = struct.Struct("<Q")
_CHUNK = PIPE_BYTES


class EncoderProcess:
    """The host's end: ``encode()`` a batch in the helper process, or None (encode it yourself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()
        self.failures = 0
        self.batches = 0  # encoded by the process: for tests and the benchmark's notes
        self._buffer = bytearray()

    @property
    def pid(self) -> int | None:
        """The helper process's id while it runs (None before the first batch and after a stop)."""
        process = self._process
        return process.pid if process is not None and self._pid == os.getpid() else None

    @property
    def usable(self) -> bool:
        return self.failures < MAX_FAILURES and _is_python(sys.executable)

    def encode(self, max_spans: int, jobs: list[tuple[str, tuple[Any, ...]]]) -> list[Any] | None:
        """The ``(text, end, over cap)`` of each job, or None when the process could not answer."""
        if not self.usable:
            return None
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the pipes are the parent's
                self._forget()
            deadline = time.monotonic() + BASE_DEADLINE_S + PER_TRACE_S * len(jobs)
            replies: list[Any] = []
            try:
                for first in range(0, len(jobs), BATCH_TRACES):
                    part = jobs[first:first + BATCH_TRACES]
                    try:
                        payload = marshal.dumps((max_spans, part))
                    except ValueError as exc:  # a value marshal cannot carry: this write stays in the host
                        _selfmon.fault("export", exc, key="traces encoder process: marshal", strict=False)
                        return None
                    process = self._process or self._start()
                    _send(process, _HEADER.pack(len(payload)), deadline)
                    _send(process, payload, deadline)
                    del payload
                    (size,) = _HEADER.unpack(self._receive(process, _HEADER.size, deadline))
                    answer = marshal.loads(self._receive(process, size, deadline))
                    if type(answer) is not list or len(answer) != len(part):
                        raise ValueError(f"answered {len(answer)} traces for {len(part)}")
                    replies += answer
            except Exception as exc:  # noqa: BLE001 - dead, hung, or nonsense: the host encodes instead
                self.failures += 1
                self._stop(kill=True)
                note = "" if self.usable else f"; not started again ({MAX_FAILURES} failures)"
                _selfmon.fault("export", f"traces encoder process: {exc!r}: this write was encoded in the "
                               f"host process instead{note}", key="traces encoder process", strict=False)
                return None
            self.batches += 1
            return replies

    def _receive(self, process: subprocess.Popen[bytes], size: int, deadline: float) -> memoryview:
        """``size`` bytes from the process, in the kept buffer (valid until the next call)."""
        assert process.stdout is not None
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        fd = process.stdout.fileno()
        done = 0
        while done < size:
            _wait(fd, select.POLLIN, deadline)
            try:
                got = os.readv(fd, [view[done:]])
            except BlockingIOError:
                continue
            if not got:
                raise EOFError(f"traces encoder process exited (code {process.poll()})")
            done += got
        if len(self._buffer) > KEEP_BUFFER_BYTES:  # an outsized reply: not kept
            self._buffer = bytearray()
        return view

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the process: its input closes, it exits (killed past ``timeout_s``)."""
        with self._lock:
            if self._pid != os.getpid():
                self._forget()
            else:
                self._stop(kill=False, timeout_s=timeout_s)

    def after_fork_in_child(self) -> None:
        """Drop the parent's process (its pipes' copies close) without waiting for or signalling it."""
        self._lock = threading.Lock()
        self._forget()
        self.failures = self.batches = 0

    def _start(self) -> subprocess.Popen[bytes]:
        code = ("import sys; sys.path[:] = %r\n"
                "from monitoring_layer.exporters._encoder import serve\nserve()\n" % (sys.path,))
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True,
        )
        assert process.stdin is not None and process.stdout is not None
        for pipe in (process.stdin, process.stdout):
            os.set_blocking(pipe.fileno(), False)
            # Each time the writer thread wakes from a poll it waits for the GIL, up to a switch
            # interval (5 ms) while the host records: with the default 64 KiB pipes a reply of a
            # thousand traces took fifty such waits, and writes ran for seconds. 1 MiB is the most
            # an unprivileged process may ask for by default.
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._process = process
        return process

    def _stop(self, *, kill: bool, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for pipe in (process.stdin, process.stdout):
            with contextlib.suppress(OSError, ValueError):
                if pipe is not None:
                    pipe.close()  # its input closes: it exits
        if kill:
            process.kill()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _forget(self) -> None:
        process, self._process = self._process, None
        self._pid = os.getpid()
        if process is not None:
            process.returncode = 0  # the parent's child: never waited for or signalled from here
            for pipe in (process.stdin, process.stdout):
                with contextlib.suppress(OSError, ValueError):
                    if pipe is not None:
                        pipe.close()  # this process's copy of the descriptor only


def _is_python(executable: str | None) -> bool:
    """Whether ``sys.executable`` is a Python interpreter (under uWSGI and other embedders it is not)."""
    if not executable:
        return False
    return os.path.basename(executable).lower().startswith(("python", "pypy"))


def _wait(fd: int, events: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, events | select.POLLERR | select.POLLHUP)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply from the traces encoder process within its deadline")
        if poller.poll(min(left, 1.0) * 1000):
            return


def _send(process: subprocess.Popen[bytes], data: bytes, deadline: float) -> None:
    assert process.stdin is not None
    fd = process.stdin.fileno()
    view = memoryview(data)
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            view = view[os.write(fd, view[:_CHUNK]):]
        except BlockingIOError:
            continue




def serve() -> None:  # pragma: no cover - runs in the helper process (tests drive it through EncoderProcess)
    """The helper's loop: read a request, answer it, until the input closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from monitoring_layer.exporters.traces import _new_trace

    read = sys.stdin.buffer.read
    write = sys.stdout.buffer.write
    flush = sys.stdout.buffer.flush
    while True:
        header = read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        max_spans, jobs = marshal.loads(read(size))
        reply = marshal.dumps([_new_trace(trace_id, entry, max_spans) for trace_id, entry in jobs])
        write(_HEADER.pack(len(reply)))
        write(reply)
        flush()
