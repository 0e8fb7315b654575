"""Load one batch of raw objects in ONE transaction: events, clients, sessions, rejects, dirty days, manifest."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extras

from . import aggregates, faults, sql
from .config import Settings
from .parse import EventRow, Freshness, ParsedObject, decoded_row, parse_object
from .plan import DirectPlan, Recorded, WarehousePlan, plan_in_warehouse
from .prepare import Prepared, prepare_lines, split_lines
from .source import RawObject

# False: every row is planned in its batch (``sessionize_in_warehouse``), none ahead (tests compare both).
DIRECT = True


@dataclass
class BatchResult:
    files: int = 0
    lines: int = 0
    events_loaded: int = 0
    duplicates: int = 0
    rejects: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    parse_fallback: bool = False
    fast_fallback: bool = False


def source_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def sql_params(settings: Settings) -> dict[str, timedelta | bool]:
    params: dict[str, timedelta | bool] = {
        "timeout": timedelta(minutes=settings.session_timeout_minutes),
        "freshness": timedelta(hours=settings.freshness_hours),
        "future_skew": timedelta(minutes=settings.future_skew_minutes),
    }
    if settings.event_ledger:  # the hot window's schema: dedup against the ledger, and the load writes it
        params["ledger"] = True
    return params


def _copy(cur, statement: str, data: bytes) -> None:
    # One read of the whole buffer: psycopg2 holds the GIL only for that read, then sends without it, so the
    # parse and planner threads do not slow the COPY down (each 1 MB chunk used to wait for the GIL).
    cur.copy_expert(statement, io.BytesIO(data), size=max(len(data), 8192))


def _stage_raw(cur, payload: bytes) -> bool:
    """COPY every line as jsonb; if one is not JSON, COPY as text and parse line by line. True on fallback."""
    cur.execute("SAVEPOINT etl_raw")
    try:
        _copy(cur, sql.COPY_RAW, payload)
        cur.execute("RELEASE SAVEPOINT etl_raw")
        return False
    except psycopg2.DataError:
        cur.execute("ROLLBACK TO SAVEPOINT etl_raw")
    cur.execute(sql.CREATE_RAW_TEXT)
    _copy(cur, sql.COPY_RAW_TEXT, payload)
    cur.execute(sql.RAW_FROM_TEXT)
    return True


def freshness(settings: Settings) -> Freshness:
    return Freshness(timedelta(hours=settings.freshness_hours), timedelta(minutes=settings.future_skew_minutes))


def _normalize(cur) -> bool:
    """Fast plain casts; on bad data the same statement with NULL-returning casts. True on fallback."""
    cur.execute("SAVEPOINT etl_decode")
    try:
        cur.execute(sql.normalize_sql(safe=False))
        cur.execute("RELEASE SAVEPOINT etl_decode")
        return False
    except psycopg2.DataError:
        cur.execute("ROLLBACK TO SAVEPOINT etl_decode")
    cur.execute(sql.normalize_sql(safe=True))
    return True


def _raw_line(data: bytes, line_no: int) -> str:
    lines = split_lines(data)
    raw = lines[line_no - 1] if 0 < line_no <= len(lines) else b""
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def _decode_slow(cur, bucket: str, objects: list[tuple[RawObject, bytes]], splits: list[ParsedObject],
                 window: Freshness) -> tuple[list[Prepared], bool, list[tuple], list[EventRow]]:
    """The lines the Python decoder left (``ParsedObject.slow``), decoded by PostgreSQL's general decoder
    (``sql.normalize_sql``), then judged by the same rules as every other line (``parse.decoded_row``). Returns
    (prepared, parse fallback, their rejects ``(file_idx, line, reason, detail, event_id)``, their rows)."""
    prepared = [prepare_lines(s.slow, i, s.lines) for i, s in enumerate(splits)]
    if not any(p.copy_data for p in prepared):
        return prepared, False, [], []
    cur.execute(sql.CREATE_DECODED)
    for stmt in sql.CREATE_BATCH_TABLES:
        cur.execute(stmt)
    fallback = _stage_raw(cur, b"".join(p.copy_data for p in prepared))
    fallback = _normalize(cur) or fallback
    cur.execute(sql.DECODED)
    sources = [(source_uri(bucket, o.key), o.last_modified) for o, _ in objects]
    rejects: list[tuple] = []
    rows: list[EventRow] = []
    for decoded in cur.fetchall():
        file_idx = decoded[0]
        out = decoded_row(decoded, *sources[file_idx], window)
        if type(out) is tuple:
            rejects.append((file_idx, *out))
        else:
            rows.append(out)
    return prepared, fallback, rejects, rows


_ID_FIELD = sql.EVENT_COPY_COLUMNS.index("event_id")


def _event_ids(events: bytes) -> bytes:
    """The event ids of COPY text of ``dw.events`` (``sql.COPY_EVENTS``), one a line: the ledger's COPY text."""
    if _ID_FIELD == 0:
        return b"\n".join(line.split(b"\t", 1)[0] for line in events.splitlines()) + b"\n"
    return b"\n".join(line.split(b"\t")[_ID_FIELD] for line in events.splitlines()) + b"\n"


def _copy_ledger(cur, events: bytes) -> None:
    """The hot window's ledger (``dw.event_ids``) gets the ids of ``events``, in the load's transaction, before
    them: an id loaded before (also of a day that has left ``dw.events``) fails it with a unique violation."""
    _copy(cur, sql.COPY_EVENT_IDS, _event_ids(events))


def apply_direct(cur, plan: DirectPlan, recorded: Recorded | None = None, ledger: bool = False) -> None:
    """Write a plan in the savepoint ``etl_direct``: record its clients for the aggregates (``aggregates``), rewrite the
    continued sessions, COPY the events and sessions, insert/update the clients. A duplicate of an already loaded
    event makes the COPY fail (primary key; with ``ledger``, the hot window's, the ledger's): the caller then rolls
    back to the savepoint and plans the whole batch in it (``sessionize_in_warehouse``). Statements go in as few
    round trips as the COPYs allow: each costs this thread a wait for the GIL while the parser and planner threads
    run."""
    touched = recorded.unrecorded(plan.touched) if recorded is not None else plan.touched
    record, params = aggregates.record_planned(touched, {c[0] for c in plan.new_clients})
    first = ["SAVEPOINT etl_direct"]
    if record:
        first.append(record)
    if plan.continued:
        first.append(sql.DELETE_SESSIONS)
        params["ids"] = sql.array(plan.continued)
    cur.execute(";\n".join(first), params)
    if plan.events:
        if ledger:
            _copy_ledger(cur, plan.events)
        _copy(cur, sql.COPY_EVENTS, plan.events)
        _copy(cur, sql.COPY_SESSIONS, plan.sessions)
    statements, params = [], {}
    if plan.new_clients:
        ids, first_ids, first_at, last_at = (sql.array(c) for c in zip(*plan.new_clients, strict=True))
        statements.append(sql.NEW_CLIENTS)
        params.update({"ids": ids, "first": first_ids, "first_at": first_at, "last_at": last_at})
    if plan.seen_clients:
        ids, last_at = (sql.array(c) for c in zip(*plan.seen_clients, strict=True))
        statements.append(sql.SEEN_CLIENTS)
        params.update({"seen_ids": ids, "seen_last_at": last_at})
    # the update probes dw.clients' primary key per client
    cur.execute(";\n".join([sql.script(sql.INDEX_ONLY, statements), "RELEASE SAVEPOINT etl_direct"]), params)


def apply_warehouse_plan(cur, plan: WarehousePlan, ledger: bool = False) -> int:
    """Write a ``WarehousePlan``: its clients recorded for the aggregates first (their windows' facts as they are),
    then the windows' sessions replaced, the loaded events' changes, the new events and the clients. Returns the
    events it loaded."""
    if not plan.windows:
        return 0
    record, params = aggregates.record_planned(plan.touched, plan.new_clients)
    w_clients, w_starts = (sql.array(c) for c in zip(*plan.windows, strict=True))
    params.update({"w_clients": w_clients, "w_starts": w_starts})
    statements = [record, sql.DELETE_WINDOWS]
    if plan.rewrite:
        r_ids, r_sessions, r_first = (sql.array(c) for c in zip(*plan.rewrite, strict=True))
        params.update({"r_ids": r_ids, "r_sessions": r_sessions, "r_first": r_first})
        statements.append(sql.REWRITE_EVENTS)
    cur.execute(sql.script(sql.INDEX_ONLY, statements), params)
    if plan.events:
        if ledger:
            _copy_ledger(cur, plan.events)
        _copy(cur, sql.COPY_EVENTS, plan.events)
    _copy(cur, sql.COPY_SESSIONS, plan.sessions)
    c_ids, c_first, c_first_at, c_last_at = (sql.array(c) for c in zip(*plan.clients, strict=True))
    cur.execute(sql.script(sql.INDEX_ONLY, [sql.UPSERT_CLIENTS]),
                {"c_ids": c_ids, "c_first": c_first, "c_first_at": c_first_at, "c_last_at": c_last_at})
    return sum(plan.loaded.values())


def sessionize_in_warehouse(cur, rows: list[EventRow], params: dict) -> tuple[int, Counter[int]]:
    """``rows`` deduplicated and sessionized with what the warehouse holds of their clients, and written
    (``plan_in_warehouse``, ``apply_warehouse_plan``). Returns (events loaded, loaded per object index).
    tests/etl/oracle.sessionize does the same in SQL (the tests' oracle)."""
    ledger = params.get("ledger", False)  # the hot window's schema (sql_params)
    plan = plan_in_warehouse(cur, rows, params["timeout"], ledger)
    return apply_warehouse_plan(cur, plan, ledger), plan.loaded


def all_slow(data: bytes, file_idx: int) -> ParsedObject:
    """Every non-blank line of the object for PostgreSQL's general decoder."""
    lines = split_lines(data)
    return ParsedObject([], len(lines), [(n, line) for n, line in enumerate(lines, 1) if line.strip()])


@dataclass(frozen=True)
class Unloadable:
    """A line of a one-object batch that made its load fail on its own (``runner``'s line-level fallback): loaded
    as a reject with ``reason`` (``value_too_large`` when a byte bound of the warehouse refused it, else
    ``unloadable``: ``quarantine.line_reject``), ``detail`` the column or the error, ``raw`` the line as stored."""

    line: int
    reason: str
    detail: str
    raw: str


def load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
               run_id: int, splits: list[ParsedObject] | None = None, plan: DirectPlan | None = None,
               also: tuple[str, dict] | None = None, unloadable: list[Unloadable] | None = None,
               commit: bool = True, recorded: Recorded | None = None) -> BatchResult:
    """``_load_batch``; if PostgreSQL refuses a value the fast path let through, the same batch again with every
    line through PostgreSQL's general decoder (which types each line on its own)."""
    try:
        return _load_batch(conn, bucket, objects, settings, run_id, splits, plan, also, unloadable, commit,
                           recorded)
    except psycopg2.DataError:
        result = _load_batch(conn, bucket, objects, settings, run_id,
                             [all_slow(data, i) for i, (_, data) in enumerate(objects)], also=also,
                             unloadable=unloadable, commit=commit)
        result.fast_fallback = True
        return result


def _load_batch(conn, bucket: str, objects: list[tuple[RawObject, bytes]], settings: Settings,
                run_id: int, splits: list[ParsedObject] | None = None, plan: DirectPlan | None = None,
                also: tuple[str, dict] | None = None, unloadable: list[Unloadable] | None = None,
                commit: bool = True, recorded: Recorded | None = None) -> BatchResult:
    """Stage, validate, de-duplicate, sessionize and insert ``objects``, then commit with their manifest rows.

    ``splits``: ``parse_object(...)`` of each object if the caller already made them (else made here).
    ``plan``: ``plan.plan_direct(...)`` of the splits' rows, made by the caller (the pipeline plans one batch ahead).
    ``recorded``: the clients already recorded for the aggregates since the last apply, left out of the plan's
    record (and the plan's clients added once the batch commits).
    It is applied only if every line was typed in Python and none is already loaded (else
    ``BatchResult.fast_fallback``); otherwise, or without a plan, the whole batch is planned in the batch.
    ``also``: one more statement (and its parameters) for the same transaction (the replay closes the object's
    quarantine record with its manifest row). ``unloadable``: lines of the (only) object, blank in its bytes here,
    that are rejects with their reason. ``commit=False``: everything but the commit, then roll back (a
    probe of the line-level fallback: does this load fail?).
    Ordinary lines of clients whose new events follow their loaded ones are sessionized ahead (the plan) and
    COPYed straight into the warehouse; everything else (out-of-order clients, a batch with a line PostgreSQL
    decoded or an already loaded event_id) is sessionized in the batch with what the warehouse holds
    (``sessionize_in_warehouse``), by the same code.

    On any error the transaction is rolled back and the objects stay pending.
    """
    params = sql_params(settings)
    result = BatchResult(files=len(objects))
    window = freshness(settings)
    if splits is None:
        splits = [parse_object(data, i, source_uri(bucket, o.key), o.last_modified, window)
                  for i, (o, data) in enumerate(objects)]
    try:
        with conn.cursor() as cur:
            prepared, result.parse_fallback, rejects, slow_rows = _decode_slow(cur, bucket, objects, splits, window)
            raw_of = {(0, u.line): u.raw for u in unloadable or ()}
            rejects.extend((0, u.line, u.reason, u.detail, None) for u in unloadable or ())
            for i, (p, s) in enumerate(zip(prepared, splits, strict=True)):
                rejects.extend((i, r.line_number, r.reason, r.detail, None) for r in p.pre_rejects)
                rejects.extend((i, line, reason, detail, event_id) for line, reason, detail, event_id in s.rejects)
            result.lines = sum(s.lines for s in splits)
            direct: DirectPlan | None = None
            if DIRECT and plan is not None and not slow_rows:
                try:
                    apply_direct(cur, plan, recorded, settings.event_ledger)
                    direct = plan
                except psycopg2.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT etl_direct")
            result.fast_fallback = direct is None  # the plan was not applied: every row is planned in the batch
            faults.checkpoint("after_copy")
            sql_rows = [r for s in splits for r in s.rows] + slow_rows if direct is None else direct.sql_rows
            loaded, new = sessionize_in_warehouse(cur, sql_rows, params)
            direct_loaded = direct.loaded if direct is not None else Counter()
            result.events_loaded = loaded + sum(direct_loaded.values())
            reject_rows = [
                (source_uri(bucket, objects[i][0].key), line, reason, detail or None, event_id,
                 raw_of[i, line] if (i, line) in raw_of else _raw_line(objects[i][1], line), run_id)
                for i, line, reason, detail, event_id in rejects
            ]
            if reject_rows:
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO etl.rejects (source_file, line_number, reason, detail, event_id, raw_line, "
                         "run_id) VALUES %s", reject_rows)
            per_file_rejects = Counter(i for i, *_ in rejects)
            valid = Counter({i: len(s.rows) for i, s in enumerate(splits)}) + Counter(r.file_idx for r in slow_rows)
            manifest = []
            for i, (obj, _) in enumerate(objects):
                n_valid, n_new = valid[i], new.get(i, 0) + direct_loaded[i]
                manifest.append((bucket, obj.key, obj.etag, obj.size, obj.last_modified, run_id,
                                 splits[i].lines, n_new, n_valid - n_new, per_file_rejects[i]))
            psycopg2.extras.execute_values(
                cur, "INSERT INTO etl.files (bucket, object_key, etag, size_bytes, last_modified, run_id, lines, "
                     "events_loaded, duplicates, rejects) VALUES %s", manifest)
            if settings.lake_enabled:  # the lake's outbox row of each object, in this transaction (docs/lake.md)
                from .lake.outbox import record
                record(cur, [(source_uri(bucket, m[1]), m[7]) for m in manifest])
            result.rejects = len(rejects)
            result.rejects_by_reason = Counter(r[2] for r in rejects)
            result.duplicates = sum(m[8] for m in manifest)
            if also is not None:
                cur.execute(*also)
        if not commit:
            conn.rollback()
            return result
        faults.checkpoint("before_commit")
        conn.commit()
        if direct is not None and recorded is not None:
            recorded.add(direct.touched)
    except BaseException:
        if not conn.closed:  # a connection the server ended has no transaction left; its error is the one to raise
            conn.rollback()
        raise
    faults.checkpoint("after_commit")
    return result
