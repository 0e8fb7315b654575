"""One ETL run: lock, run log, pending objects in batches until the time budget is spent, aggregate refresh."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime

from . import deltas, load, quarantine, sql
from .config import Settings
from .load import DirectPlan, client_states, freshness, load_batch, refresh_aggregates, source_uri
from .parse import GC_THRESHOLDS, Freshness, ParsedObject
from .parse_worker import Parser, usable_cpus
from .prepare import split_lines
from .sessions import ClientState
from .source import RawObject, batches, fetch, list_objects, pending, start_after_for

LOG = logging.getLogger("clickstream_etl")
# pg_try_advisory_lock key of the ETL ("clkETL"); the migrations runner uses another one.
LOCK_KEY = 0x636C6B45544C
SWITCH_INTERVAL = 0.0005  # sys.setswitchinterval while batches load (see _load_groups)
AHEAD_DURING_APPLY = 4  # batches fetched and parsed ahead while an aggregates' apply holds the main thread
# The first batches are smaller (1/8, 1/4, 1/2 of batch_max_bytes): the database waits for the first two batches'
# parse (and the first one's plan) before its first COPY, and the parser then keeps ahead of batches that grow. So
# are the last ones, in reverse: while the last batch loads, the Python threads have nothing left to do.
RAMP = 3
# The line-level fallback (_unloadable_lines): at most this many lines of one object become `unloadable` rejects,
# found with at most this many probes; beyond either, the object is quarantined.
MAX_UNLOADABLE_LINES = 10
MAX_PROBES = 200


@dataclass
class RunResult:
    run_id: int | None
    status: str
    files_seen: int = 0
    files_loaded: int = 0
    files_remaining: int = 0
    files_quarantined: int = 0  # set aside by this run (etl.quarantine)
    lines_read: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    days_refreshed: int = 0
    message: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def setup_session(conn) -> None:
    conn.autocommit = False
    with conn.cursor() as cur:
        for stmt in sql.SESSION_SETUP:
            cur.execute(stmt)
        for stmt in sql.SAFE_FUNCTIONS:
            cur.execute(stmt)
    conn.commit()


def _try_lock(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        got = cur.fetchone()[0]
    conn.commit()
    return bool(got)


def _unlock(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    conn.commit()


def _start_run(conn, trigger: str, status: str = "running") -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl.runs (trigger, status) VALUES (%s, %s) RETURNING run_id", (trigger, status))
        run_id = cur.fetchone()[0]
        if status == "running":
            # We hold the lock, so any other 'running' row belongs to a run that died.
            cur.execute("UPDATE etl.runs SET status = 'abandoned', finished_at = clock_timestamp(), "
                        "message = 'found running by run ' || %s WHERE status = 'running' AND run_id <> %s",
                        (run_id, run_id))
    conn.commit()
    return run_id


def _finish_run(conn, r: RunResult) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE etl.runs SET finished_at = clock_timestamp(), status = %s, files_seen = %s, files_loaded = %s,
                   files_remaining = %s, files_quarantined = %s, lines_read = %s, events_loaded = %s, duplicates = %s,
                   rejects = %s, rejects_by_reason = %s, days_refreshed = %s, message = %s
               WHERE run_id = %s""",
            (r.status, r.files_seen, r.files_loaded, r.files_remaining, r.files_quarantined, r.lines_read,
             r.events_loaded,
             r.duplicates, r.rejects, json.dumps(r.rejects_by_reason, sort_keys=True), r.days_refreshed,
             r.message, r.run_id))
    conn.commit()


def _newest_loaded_key(conn, bucket: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT max(object_key) FROM etl.files WHERE bucket = %s", (bucket,))
        newest = cur.fetchone()[0]
    conn.commit()
    return newest


def _loaded_since(conn, bucket: str, start_after: str | None) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.files WHERE bucket = %s AND object_key > %s",
                    (bucket, start_after or ""))
        keys = {r[0] for r in cur.fetchall()}
    conn.commit()
    return keys


def find_pending(conn, s3, settings: Settings) -> list[RawObject]:
    newest = _newest_loaded_key(conn, settings.raw_bucket)
    start_after = start_after_for(settings.events_prefix, newest, settings.listing_lookback_hours)
    objects = list_objects(s3, settings.raw_bucket, settings.events_prefix, start_after)
    return pending(objects, _loaded_since(conn, settings.raw_bucket, start_after)
                   | quarantine.open_keys(conn, settings.raw_bucket))


class Deadline:
    """The Lambda's time left: ``left_ms`` asks ``remaining_ms`` (the context's get_remaining_time_in_millis);
    ``projected_ms`` is the last answer less the time since (the deadline does not move), asked once if never."""

    def __init__(self, remaining_ms: Callable[[], int] | None) -> None:
        self._remaining = remaining_ms
        self._at: float | None = None

    def left_ms(self) -> float | None:
        if self._remaining is None:
            return None
        left = self._remaining()
        self._at = time.monotonic() + left / 1000
        return left

    def projected_ms(self) -> float | None:
        if self._remaining is None:
            return None
        if self._at is None:
            return self.left_ms()
        return (self._at - time.monotonic()) * 1000

    def allows(self, seconds: float) -> bool:
        """Whether at least ``seconds`` are left (projected)."""
        left = self.projected_ms()
        return left is None or left >= seconds * 1000


def _split_fetched(parse: Parser, fetched: Future, bucket: str, obj: RawObject, file_idx: int,
                   window: Freshness) -> tuple[bytes, ParsedObject]:
    data = fetched.result()  # an S3 error here stops the run (transient: the object stays pending)
    try:
        return data, parse.split(data, file_idx, source_uri(bucket, obj.key), obj.last_modified, window)
    except Exception as exc:  # the fast parse failed on this input: the SQL path decides each line on its own
        LOG.warning(json.dumps({"message": "fast parse failed, object takes the SQL path", "key": obj.key,
                                "error": f"{quarantine.error_class(exc)}: {quarantine.error_message(exc)}"}))
        return data, load.all_slow(data, file_idx)


def _fetch_batch(fetchers: ThreadPoolExecutor, parser: ThreadPoolExecutor, parse: Parser, s3, bucket: str,
                 batch: list[RawObject], window: Freshness) -> list[Future]:
    """Fetch each object in the pool and parse it (fast path) through the one parser thread, both overlapping the
    database work of earlier batches. The parser thread hands each object to the parse worker process when there is
    one (``Parser``), else parses it itself. One parser, not one per fetch thread: Python threads that all want the
    GIL slow each other down (the same lines took about 30 % more CPU when parsed by 8 threads at once)."""
    return [parser.submit(_split_fetched, parse, fetchers.submit(fetch, s3, bucket, o.key), bucket, o, i, window)
            for i, o in enumerate(batch)]


class StateCache:
    """What the run knows of its clients' states without asking the warehouse, so that the next batch can be
    planned (sessionized in Python) while this one loads.

    Each client a plan touched maps to (batch, state): the state once that batch commits, or None when the
    batch left the client to the SQL path (then only the warehouse knows it, once that batch has committed).
    A client the run has not touched is read from the warehouse: the ETL holds its lock, so nothing else
    changes it. If a batch does not apply its plan as made (a duplicate of a loaded event, a slow-path line),
    the states predicted from that plan are wrong: ``reset`` forgets everything and the next batch is planned
    again from the warehouse. Used by the main thread only (the planner thread gets a copy of what it needs).
    """

    MAX_CLIENTS = 200_000  # beyond this, forget what the warehouse already holds (committed batches)

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, ClientState | None]] = {}
        self.committed = -1  # index of the run's last committed batch

    def resolve(self, cur, clients: set[str]) -> tuple[dict[str, ClientState], set[str]]:
        """(states of the known clients, clients whose state is not known yet): from memory, else the warehouse."""
        states: dict[str, ClientState] = {}
        unknown: set[str] = set()
        ask: list[str] = []
        for c in clients:
            entry = self._known.get(c)
            if entry is None or (entry[1] is None and entry[0] <= self.committed):
                ask.append(c)
            elif entry[1] is None:
                unknown.add(c)
            else:
                states[c] = entry[1]
        if ask:
            states.update(client_states(cur, ask))
        return states, unknown

    def record(self, batch: int, plan: DirectPlan) -> None:
        for c, state in plan.after.items():
            self._known[c] = (batch, state)
        for c in plan.sql_clients:
            self._known[c] = (batch, None)
        if len(self._known) > self.MAX_CLIENTS:
            self._known = {c: e for c, e in self._known.items() if e[0] > self.committed}

    def reset(self) -> None:
        self._known.clear()


class Recorded:
    """The clients this run's direct-path batches made pending (committed) since the last apply, each with its
    earliest window start. Recording such a client again with a window that starts no earlier changes nothing
    (``deltas.record_given`` keeps the first facts and the earliest start), so the batch leaves it out: in a run that
    follows the same clients over many batches, most of each batch's clients were recorded before."""

    def __init__(self) -> None:
        self._start: dict[str, datetime] = {}

    def unrecorded(self, touched: list[tuple[str, datetime, str]]) -> list[tuple[str, datetime, str]]:
        start = self._start.get
        return [t for t in touched if (s := start(t[0])) is None or t[1] < s]

    def add(self, touched: list[tuple[str, datetime, str]]) -> None:
        start = self._start
        for c, w, _ in touched:
            s = start.get(c)
            if s is None or w < s:
                start[c] = w

    def clear(self) -> None:
        self._start.clear()


@dataclass
class _Batch:
    """One batch on its way: its objects, their bytes and fast-path splits, and its Python-path plan."""

    objects: list[RawObject]
    data: list[bytes]
    splits: list[ParsedObject]
    plan: Future | None = None


def _collect(objects: list[RawObject], futures: list[Future]) -> _Batch:
    fetched = [f.result() for f in futures]
    return _Batch(objects, [d for d, _ in fetched], [sp for _, sp in fetched])


def _plan_inputs(conn, cache: StateCache, batch: _Batch) -> tuple[dict[str, ClientState], set[str]]:
    """The states the batch's plan needs (read on the run's connection, before the writes of the batch being
    loaded), and the clients whose state is not known yet."""
    with conn.cursor() as cur:
        return cache.resolve(cur, set().union(*(sp.clients for sp in batch.splits)))


def _plan(splits: list[ParsedObject], states: dict[str, ClientState], timeout, unknown: set[str]) -> DirectPlan:
    return load.plan_direct([r for sp in splits for r in sp.rows], states, timeout, unknown)


def _plan_ahead(planner: ThreadPoolExecutor, conn, cache: StateCache, batch: _Batch, timeout) -> None:
    """Plan the batch in the planner thread, which overlaps the database work of the batch before it."""
    states, unknown = _plan_inputs(conn, cache, batch)
    batch.plan = planner.submit(_plan, batch.splits, states, timeout, unknown)


def use_parse_worker(settings: Settings) -> bool:
    """Whether the run parses in a worker process (``Settings.parse_worker``)."""
    return settings.parse_worker == "on" or (settings.parse_worker == "auto" and usable_cpus() > 1)


class _Unattributable(Exception):
    """The line-level fallback cannot name a few lines that make an object's load fail."""


def _blanked(lines: list[bytes], keep) -> bytes:
    """The object's bytes with every line not in ``keep`` emptied (line numbers unchanged; blank lines load as
    nothing)."""
    return b"".join((line if n in keep else b"") + b"\n" for n, line in enumerate(lines, 1))


def _unloadable_lines(conn, settings: Settings, run_id: int, obj: RawObject, data: bytes,
                      error: BaseException) -> list[load.Unloadable]:
    """The few lines of ``obj`` that make its load fail on their own, found by halving (each probe a load rolled
    back), or _Unattributable: when the failure needs several lines together, when more than
    ``MAX_UNLOADABLE_LINES`` or half the object's lines fail (more likely a fault of the system than of the data:
    the object is better quarantined, replayable, than rejected line by line for good), or after ``MAX_PROBES``."""
    lines = split_lines(data)
    candidates = [n for n, line in enumerate(lines, 1) if line.strip()]
    probes = 0

    def failure(subset: list[int]) -> BaseException | None:
        nonlocal probes
        probes += 1
        if probes > MAX_PROBES:
            raise _Unattributable
        try:
            load_batch(conn, settings.raw_bucket, [(obj, _blanked(lines, set(subset)))], settings, run_id,
                       commit=False)
        except Exception as exc:
            if quarantine.is_transient(exc):
                raise
            return exc
        return None

    bad: dict[int, BaseException] = {}

    def search(subset: list[int], exc: BaseException) -> None:  # ``subset`` fails with ``exc``
        if len(subset) == 1:
            bad[subset[0]] = exc
            if len(bad) > MAX_UNLOADABLE_LINES or 2 * len(bad) >= len(candidates):
                raise _Unattributable
            return
        half = len(subset) // 2
        found = False
        for part in (subset[:half], subset[half:]):
            part_exc = failure(part)
            if part_exc is not None:
                found = True
                search(part, part_exc)
        if not found:  # each half loads alone: the lines fail only together
            raise _Unattributable

    search(candidates, error)
    return [load.Unloadable(n, *quarantine.line_reject(conn, e),
                            lines[n - 1].replace(b"\x00", b"").decode("utf-8", errors="replace"))
            for n, e in sorted(bad.items())]


def _load_alone(conn, settings: Settings, result: RunResult, obj: RawObject, data: bytes) -> load.BatchResult | None:
    """One object in its own transaction. If it fails with an error that is not transient: its few unloadable lines
    become rejects and the rest loads (the line-level fallback), else it is quarantined (None). A transient error
    is raised."""
    try:
        return load_batch(conn, settings.raw_bucket, [(obj, data)], settings, result.run_id)
    except Exception as exc:
        if quarantine.is_transient(exc):
            raise
        error = exc
    try:
        unloadable = _unloadable_lines(conn, settings, result.run_id, obj, data, error)
        keep = set(range(1, len(split_lines(data)) + 1)) - {u.line for u in unloadable}
        b = load_batch(conn, settings.raw_bucket, [(obj, _blanked(split_lines(data), keep))], settings,
                       result.run_id, unloadable=unloadable)
        LOG.warning(json.dumps({"message": "unloadable lines rejected", "run_id": result.run_id, "key": obj.key,
                                "lines": [u.line for u in unloadable]}))
        return b
    except _Unattributable:
        pass
    except Exception as exc:
        if quarantine.is_transient(exc):
            raise
        error = exc
    _set_aside(conn, settings.raw_bucket, result, obj, error, "object quarantined")
    return None


def _set_aside(conn, bucket: str, result: RunResult, obj: RawObject, error: BaseException, message: str) -> None:
    """Quarantine ``obj`` (a run's or a replay's failed load), count it and log ``message`` with the error."""
    quarantine.record(conn, bucket, obj, error, result.run_id)
    result.files_quarantined += 1
    LOG.error(json.dumps({"message": message, "run_id": result.run_id, "key": obj.key,
                          "error_class": quarantine.error_class(error), "error": quarantine.error_message(error)}))


def _isolate(conn, settings: Settings, result: RunResult, batch: _Batch, error: BaseException) -> load.BatchResult:
    """A batch failed with an error that is not transient (``error``, its transaction rolled back): load its objects
    one at a time (``_load_alone``: an object that fails again on its own has its few unloadable lines rejected, or
    is quarantined) and the others load. A transient error stops the run (raised)."""
    LOG.warning(json.dumps({"message": "batch failed, loading its objects one by one", "run_id": result.run_id,
                            "files": len(batch.objects),
                            "error": f"{quarantine.error_class(error)}: {quarantine.error_message(error)}"}))
    total = load.BatchResult(fast_fallback=True)
    for obj, data in zip(batch.objects, batch.data, strict=True):
        b = _load_alone(conn, settings, result, obj, data)
        if b is None:
            continue
        total.files += b.files
        total.lines += b.lines
        total.events_loaded += b.events_loaded
        total.duplicates += b.duplicates
        total.rejects += b.rejects
        total.rejects_by_reason.update(b.rejects_by_reason)
        total.parse_fallback = total.parse_fallback or b.parse_fallback
    return total


def _load_groups(conn, s3, settings: Settings, groups: list[list[RawObject]], result: RunResult,
                 reasons: Counter[str], deadline: Deadline) -> None:
    """Load the batches in order, one transaction each. Three stages overlap: fetch + parse (thread pool, two
    batches ahead), planning the Python path (one planner thread, one batch ahead, from the states the cache
    predicts) and the database work of the current batch (this thread)."""
    window = freshness(settings)
    timeout = load.sql_params(settings)["timeout"]
    cache = StateCache()
    recorded = Recorded()
    # Parsing allocates millions of small objects that live until their batch commits: with the default
    # thresholds the cyclic GC keeps re-scanning them (about 12 % of the ETL's CPU). Nothing here makes cycles.
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    # Each database round trip of this thread ends with a wait for the GIL, which the parser and planner threads
    # hold; by default a waiting thread gets it after 5 ms. Dozens of round trips per batch made that add up.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    fetching: dict[int, list[Future]] = {}
    current: _Batch | None = None
    # the parse worker is ended last, after the executors' exits waited for the parser thread's last parse
    with (Parser(use_parse_worker(settings) and bool(groups)) as parse,
          ThreadPoolExecutor(max_workers=8) as pool, ThreadPoolExecutor(max_workers=1) as parser,
          ThreadPoolExecutor(max_workers=1) as planner):
        try:
            scheduled = 0  # batches handed to the fetch pool and the parser so far

            def schedule(upto: int) -> None:
                nonlocal scheduled
                for m in range(scheduled, min(upto, len(groups))):
                    fetching[m] = _fetch_batch(pool, parser, parse, s3, settings.raw_bucket, groups[m], window)
                scheduled = max(scheduled, min(upto, len(groups)))

            schedule(2)
            current = _collect(groups[0], fetching.pop(0)) if groups else None
            if current is not None and load.DIRECT:
                _plan_ahead(planner, conn, cache, current, timeout)
            replan = False
            since_applied = 0  # events loaded since the aggregates' pending change was last applied
            for n in range(len(groups)):
                left = deadline.left_ms()
                if left is not None and left < settings.min_remaining_seconds * 1000:
                    result.message = "stopped early: Lambda time budget nearly spent"
                    break
                plan: DirectPlan | None = None
                if current.plan is not None:
                    plan = current.plan.result()
                    if replan:  # planned from states the previous batch did not write: plan again
                        cache.reset()
                        states, unknown = _plan_inputs(conn, cache, current)
                        plan = _plan(current.splits, states, timeout, unknown)
                    cache.record(n, plan)
                following = None
                if n + 1 < len(groups):
                    following = _collect(groups[n + 1], fetching.pop(n + 1))
                    schedule(n + 3)
                    if plan is not None:
                        _plan_ahead(planner, conn, cache, following, timeout)
                touched = None
                if plan is not None:
                    touched, plan.touched = plan.touched, recorded.unrecorded(plan.touched)
                try:
                    b = load_batch(conn, settings.raw_bucket, list(zip(current.objects, current.data, strict=True)),
                                   settings, result.run_id, current.splits, plan)
                except Exception as exc:
                    if quarantine.is_transient(exc):
                        raise
                    b = _isolate(conn, settings, result, current, exc)  # fast_fallback: the plan was not applied
                cache.committed = n
                replan = plan is not None and b.fast_fallback  # the plan was not applied
                if touched is not None and not b.fast_fallback:
                    recorded.add(touched)
                _count(result, reasons, b)
                since_applied += b.events_loaded
                if (settings.aggregate_every_events and since_applied >= settings.aggregate_every_events
                        and deadline.allows(settings.min_apply_seconds)):
                    # the parser works further ahead while this thread waits for the apply
                    schedule(n + 3 + AHEAD_DURING_APPLY)
                    deltas.apply_pending(conn)
                    recorded.clear()
                    since_applied = 0
                current = following
        finally:
            for futures in fetching.values():
                for f in futures:
                    f.cancel()
            # fetches not started yet: a parse still waiting on one gets CancelledError, which nothing reads
            pool.shutdown(wait=False, cancel_futures=True)
            if current is not None and current.plan is not None:
                current.plan.cancel()
            gc.set_threshold(*thresholds)
            sys.setswitchinterval(switch)


def _count(result: RunResult, reasons: Counter[str], b) -> None:
    result.files_loaded += b.files
    result.lines_read += b.lines
    result.events_loaded += b.events_loaded
    result.duplicates += b.duplicates
    result.rejects += b.rejects
    reasons.update(b.rejects_by_reason)
    LOG.info(json.dumps({"message": "batch loaded", "run_id": result.run_id, "files": b.files, "lines": b.lines,
                         "events": b.events_loaded, "duplicates": b.duplicates, "rejects": b.rejects,
                         "parse_fallback": b.parse_fallback, "fast_fallback": b.fast_fallback}))


def _aggregate(conn, settings: Settings, deadline: Deadline, result: RunResult) -> bool:
    """The aggregates' change for every client the batches touched, and the days an earlier version left dirty;
    or neither when less than ``min_apply_seconds`` is left (then False: all of it stays pending)."""
    if not deadline.allows(settings.min_apply_seconds):
        note = "aggregates left pending for the next run: Lambda time budget nearly spent"
        result.message = f"{result.message}; {note}" if result.message else note
        return False
    deltas.apply_pending(conn)
    result.days_refreshed = refresh_aggregates(conn)  # days left dirty by an earlier version: recomputed
    return True


def _skipped_locked(conn, trigger: str) -> RunResult:
    """Record a run (or replay) that found another one holding the ETL's lock."""
    result = RunResult(_start_run(conn, trigger, status="skipped_locked"), "skipped_locked",
                       message="another ETL run holds the lock")
    _finish_run(conn, result)
    return result


def _record_failure(conn, result: RunResult, reasons: Counter[str], exc: BaseException, unrecorded: str) -> None:
    """Record a run (or replay) that ``exc`` stopped as failed, its message prefixed ``transient:`` or ``error:``,
    and release the lock; whatever committed before stays committed. ``unrecorded`` is logged if that fails."""
    with contextlib.suppress(Exception):  # the connection may be gone (then the server ended the transaction)
        conn.rollback()
    result.status = "failed"
    result.rejects_by_reason = dict(sorted(reasons.items()))
    kind = "transient" if quarantine.is_transient(exc) else "error"
    result.message = f"{kind}: {type(exc).__name__}: {exc}"[:2000]
    try:
        _finish_run(conn, result)
        _unlock(conn)
    except Exception:  # the connection itself may be gone; the original error matters
        LOG.exception(unrecorded)


def run_etl(conn, s3, settings: Settings, *, remaining_ms: Callable[[], int] | None = None,
            trigger: str = "cli") -> RunResult:
    """Load every pending object (or as many as the time budget allows) and refresh the touched aggregates.

    ``conn`` is a fresh psycopg2 connection; ``remaining_ms`` is the Lambda context's
    ``get_remaining_time_in_millis`` (None: no limit): no batch starts with less than ``min_remaining_seconds``
    left, and the aggregates' apply and refresh do not start with less than ``min_apply_seconds`` (the clients
    and days stay pending for the next run, which applies them first). An object whose own data fails its load
    is quarantined and the run goes on (``quarantine``). Raises on transient database/S3 errors after recording
    the run as failed; whatever committed before the error stays committed, the rest stays pending.
    """
    setup_session(conn)
    if not _try_lock(conn):
        result = _skipped_locked(conn, trigger)
        LOG.info(json.dumps({"message": "etl skipped: locked", "run_id": result.run_id}))
        return result
    result = RunResult(_start_run(conn, trigger), "running")
    reasons: Counter[str] = Counter()
    try:
        deltas.finish_partial(conn)  # an apply cut between its parts' commits, before new clients become pending
        todo = find_pending(conn, s3, settings)
        result.files_seen = len(todo)
        groups = batches(todo, settings.batch_max_bytes, settings.batch_max_files, RAMP)
        deadline = Deadline(remaining_ms)
        _load_groups(conn, s3, settings, groups, result, reasons, deadline)
        result.files_remaining = result.files_seen - result.files_loaded - result.files_quarantined
        aggregated = _aggregate(conn, settings, deadline, result)
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.status = "partial" if result.files_remaining or not aggregated else "succeeded"
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        result.files_remaining = result.files_seen - result.files_loaded - result.files_quarantined
        _record_failure(conn, result, reasons, exc, "could not record the failed run")
        raise
    LOG.info(json.dumps({"message": "etl run finished", **result.as_dict()}))
    return result


def replay(conn, s3, settings: Settings, *, key: str | None = None, trigger: str = "replay") -> RunResult:
    """Load the open quarantined objects (all, or only ``key``) as they are in S3 now, under the ETL's lock, one
    transaction each: the object's rows, its manifest row and the record's ``resolved_at`` commit together, so a
    replayed object loads once and a second replay finds nothing open. An object that fails again with an error
    that is not transient stays quarantined (one more attempt, the new error); a transient error stops the replay
    like a run. The aggregates are applied at the end, as in a run."""
    setup_session(conn)
    if not _try_lock(conn):
        return _skipped_locked(conn, trigger)
    result = RunResult(_start_run(conn, trigger), "running")
    reasons: Counter[str] = Counter()
    bucket = settings.raw_bucket
    try:
        deltas.finish_partial(conn)
        keys = quarantine.open_records(conn, bucket, key)
        result.files_seen = len(keys)
        for k in keys:
            resolve = (quarantine.resolve_sql(), {"run_id": result.run_id, "bucket": bucket, "key": k})
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM etl.files WHERE bucket = %s AND object_key = %s", (bucket, k))
                if cur.fetchone()[0]:  # already in the manifest (loaded by other means): only close the record
                    cur.execute(*resolve)
                    conn.commit()
                    continue
            conn.commit()
            head = s3.head_object(Bucket=bucket, Key=k)
            obj = RawObject(k, int(head["ContentLength"]), str(head.get("ETag", "")).strip('"'), head["LastModified"])
            data = fetch(s3, bucket, k)
            try:
                b = load_batch(conn, bucket, [(obj, data)], settings, result.run_id, also=resolve)
            except Exception as exc:
                if quarantine.is_transient(exc):
                    raise
                _set_aside(conn, bucket, result, obj, exc, "replayed object failed again")
                continue
            _count(result, reasons, b)
        deltas.apply_pending(conn)
        result.days_refreshed = refresh_aggregates(conn)
        result.rejects_by_reason = dict(sorted(reasons.items()))
        result.status = "succeeded"
        if result.files_quarantined:
            result.message = f"{result.files_quarantined} object(s) failed again and stay quarantined"
        _finish_run(conn, result)
        _unlock(conn)
    except Exception as exc:
        _record_failure(conn, result, reasons, exc, "could not record the failed replay")
        raise
    LOG.info(json.dumps({"message": "etl replay finished", **result.as_dict()}))
    return result
