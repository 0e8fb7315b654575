"""The fast-path parse (``parse.parse_object``) in a worker process, so that it no longer shares the GIL with the
run's planner and database threads.

In one process, the parser thread held the GIL for most of the load: the main thread waited for it after each
database round trip and the planner shared what was left (Python's whole pipeline ran on one core while the
database had the other). The worker parses each object and sends back its ``ParsedObject`` as msgpack (msgspec):
encoding and decoding a row cost a small part of its parse (``EventRow`` is ``array_like``).

Protocol, over the worker's stdin and stdout: frames of an 8-byte little-endian length and a payload. A request is
two frames: a msgpack header ``[file_idx, source_file, last_modified, freshness_us, future_skew_us]`` and the
object's bytes. A reply is one frame: ``b"\\0"`` + the msgpack ``ParsedObject``, or ``b"\\1"`` + an error text. The
worker exits at the end of its stdin: when the parent closes it, or dies (a SIGKILLed run leaves no worker behind;
a worker writing to a parent that died gets EPIPE and exits).

The worker is a plain ``python -m clickstream_etl.parse_worker`` subprocess (not ``multiprocessing``: no
semaphores, which Lambda lacks, and no re-import of the parent's ``__main__``, which is Lambda's own bootstrap
there). If it cannot start or goes away, the parent parses in its own thread, as before (``ParseWorker.split``
raises ``WorkerGone`` and the runner falls back).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import sys
import threading
import traceback
from datetime import datetime, timedelta

import msgspec

from .parse import GC_THRESHOLDS, Freshness, ParsedObject, parse_object

_LENGTH = struct.Struct("<Q")
_OK, _ERROR = b"\0", b"\1"
_Header = tuple[int, str, datetime | None, int, int]
_encode = msgspec.msgpack.Encoder().encode
_decode_split = msgspec.msgpack.Decoder(ParsedObject).decode
_decode_header = msgspec.msgpack.Decoder(_Header).decode
_MICROSECOND = timedelta(microseconds=1)
log = logging.getLogger(__name__)


class WorkerGone(RuntimeError):
    """The worker process could not be started, or stopped answering (it exited)."""


def _read_frame(stream) -> bytes | None:
    """The next frame's payload, or None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise EOFError("truncated frame length")
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("truncated frame")
    return payload


def _write_frames(stream, *payloads: bytes) -> None:
    for payload in payloads:
        stream.write(_LENGTH.pack(len(payload)))
        stream.write(payload)
    stream.flush()


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class ParseWorker:
    """One worker process; ``split`` is called from one thread at a time (the runner's parser thread)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # the parent's own import path
        try:
            self._proc = subprocess.Popen(  # this interpreter, this package's module
                [sys.executable, "-m", "clickstream_etl.parse_worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, env=env)
        except (OSError, ValueError, TypeError) as exc:  # no such interpreter; no sys.executable at all
            raise WorkerGone(f"the parse worker did not start: {exc}") from exc
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def split(self, data: bytes, file_idx: int, source_file: str, last_modified: datetime | None,
              window: Freshness) -> ParsedObject:
        """``parse.parse_object``'s result, computed by the worker."""
        header = _encode([file_idx, source_file, last_modified, window.freshness // _MICROSECOND,
                          window.future_skew // _MICROSECOND])
        with self._lock:
            try:
                _write_frames(self._proc.stdin, header, data)
                reply = _read_frame(self._proc.stdout)
            except (OSError, EOFError, ValueError) as exc:  # ValueError: a pipe already closed
                raise WorkerGone(f"the parse worker went away: {exc}") from exc
        if reply is None:
            raise WorkerGone(f"the parse worker exited (code {self._proc.poll()})")
        if reply[:1] == _ERROR:
            raise RuntimeError(f"the parse worker failed: {reply[1:].decode('utf-8', 'replace')}")
        return _decode_split(memoryview(reply)[1:])

    def close(self) -> None:
        """End the worker (end of its stdin) and reap it; kill it if it does not exit promptly."""
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class Parser:
    """The runner's parse: in a worker process when ``use_worker``, else -- or once the worker is gone -- in the
    calling thread. Call ``split`` from one thread at a time, and ``close`` at the end (or use it as a context
    manager)."""

    def __init__(self, use_worker: bool) -> None:
        self._worker: ParseWorker | None = None
        if use_worker:
            try:
                self._worker = ParseWorker()
            except WorkerGone as exc:
                log.warning("%s; parsing in this process", exc)
            else:
                log.info("parse worker started (pid %d)", self._worker.pid)

    @property
    def in_worker(self) -> bool:
        return self._worker is not None

    def split(self, data: bytes, file_idx: int, source_file: str, last_modified: datetime | None,
              window: Freshness) -> ParsedObject:
        if self._worker is not None:
            try:
                return self._worker.split(data, file_idx, source_file, last_modified, window)
            except WorkerGone as exc:
                log.warning("%s; parsing in this process from now on", exc)
                self._worker.close()
                self._worker = None
        return parse_object(data, file_idx, source_file, last_modified, window)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __enter__(self) -> Parser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(requests, replies) -> None:
    """The worker's loop: answer each request until the end of ``requests``."""
    while True:
        header = _read_frame(requests)
        if header is None:
            return
        data = _read_frame(requests)
        if data is None:
            raise EOFError("a request without its object")
        try:
            file_idx, source_file, last_modified, freshness_us, skew_us = _decode_header(header)
            window = Freshness(timedelta(microseconds=freshness_us), timedelta(microseconds=skew_us))
            split = parse_object(data, file_idx, source_file, last_modified, window)
            reply = _OK + _encode(split)
        except Exception:  # the parent raises it, with the worker's traceback
            reply = _ERROR + traceback.format_exc().encode()
        _write_frames(replies, reply)


def main() -> int:
    import gc

    gc.set_threshold(*GC_THRESHOLDS)
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, EOFError):  # the parent went away
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
