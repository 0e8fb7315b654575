"""Which errors stop a run and which set one raw object aside, and the quarantine records (etl.quarantine).

A load error is *transient* when it says nothing about the data: the warehouse unreachable or gone mid-run
(connection errors, an administrator's shutdown, a server out of resources), a lock not available, a
serialization failure or deadlock, a statement cancelled (statement_timeout), S3 throttled, failing or
unreachable. The run then stops cleanly: everything not committed stays pending, the next run tries again.

Anything else that a batch raises may come from the data of one of its objects, whatever its type: an index row
too large (``ProgramLimitExceeded``), a number out of range, a character the database cannot store, an error of
the ETL's own code on some input. The runner then loads the batch's objects one by one: an object that still fails
on its own with such an error is quarantined -- a record here with its error, the object untouched in S3 and not
in the manifest -- and the run goes on. Runs skip an open record's object until ``replay`` loads it.
"""

from __future__ import annotations

import contextlib
import functools
import re

import psycopg2
import psycopg2.errorcodes
import psycopg2.errors

from .source import RawObject

# SQLSTATE classes / codes that say nothing about the data (PostgreSQL, Appendix A).
_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")  # connection, rollback, resources, operator, system
_TRANSIENT_CODES = ("55P03", "55006", "25P03")  # lock not available, object in use, idle-in-transaction timeout
_MESSAGE_MAX = 2000


@functools.cache
def _sqlstates() -> dict[type, str]:
    """psycopg2.errors' class of each SQLSTATE, reversed (an error raised by the client has no pgcode)."""
    codes: dict[type, str] = {}
    for code in vars(psycopg2.errorcodes).values():
        if isinstance(code, str) and len(code) == 5:
            with contextlib.suppress(KeyError):
                codes.setdefault(psycopg2.errors.lookup(code), code)
    return codes


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` stops the run (leave the objects pending), False if it may be an object's data."""
    if isinstance(exc, psycopg2.Error):
        code = exc.pgcode or _sqlstates().get(type(exc))
        if code is None:  # no server answer: connection lost or refused, or the client's own state
            return isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError)
        return code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES
    try:
        import botocore.exceptions
    except ImportError:  # pragma: no cover - boto3 is a dependency of the ETL
        return False
    # S3 throttled, failing, unreachable or refusing (any botocore error: the object's bytes never arrived)
    return isinstance(exc, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError)


def error_class(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def error_message(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__)[:_MESSAGE_MAX]


# A check constraint of the warehouse that bounds a text column's bytes (sql/dw/0011_text_bounds.sql): its name is
# the column's, so that a line it refuses is rejected naming the column.
_BOUND = re.compile(r"(\w+)_max_bytes")
_BOUND_LIMIT = re.compile(r"octet_length\(\w+\) <= (\d+)")


def line_reject(conn, exc: BaseException) -> tuple[str, str]:
    """The reason and detail of a reject for a line whose load fails on its own with ``exc`` (the runner's
    line-level fallback): ``value_too_large`` naming the column and its limit when a byte bound of the warehouse
    refused it, else ``unloadable`` with the error. ``conn`` (not in a failed transaction) reads the limit."""
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", None)
    bound = _BOUND.fullmatch(constraint or "")
    if isinstance(exc, psycopg2.errors.CheckViolation) and bound:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s AND contype = 'c' "
                        "LIMIT 1", (constraint,))
            row = cur.fetchone()
        conn.commit()
        limit = _BOUND_LIMIT.search(row[0]) if row else None
        over = f"over {limit.group(1)} bytes" if limit else "over its byte limit"
        return "value_too_large", f"{bound.group(1)} {over}, the warehouse's limit (check constraint {constraint})"
    return "unloadable", f"{error_class(exc)}: {error_message(exc)}"[:1000]


def record(conn, bucket: str, obj: RawObject, exc: BaseException, run_id: int) -> None:
    """Set ``obj`` aside (or count one more failed attempt of an object already set aside), in its own
    transaction."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                """INSERT INTO etl.quarantine AS q (bucket, object_key, etag, size_bytes, error_class, error_message,
                                                     run_id)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (bucket, object_key) DO UPDATE
                   SET etag = excluded.etag, size_bytes = excluded.size_bytes, error_class = excluded.error_class,
                       error_message = excluded.error_message, last_seen_at = clock_timestamp(),
                       attempts = q.attempts + 1, run_id = excluded.run_id, resolved_at = NULL,
                       resolved_run_id = NULL""",
                (bucket, obj.key, obj.etag, obj.size, error_class(exc), error_message(exc), run_id))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def open_keys(conn, bucket: str) -> set[str]:
    """The keys of ``bucket`` that are quarantined and not replayed yet."""
    with conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.quarantine WHERE bucket = %s AND resolved_at IS NULL", (bucket,))
        keys = {r[0] for r in cur.fetchall()}
    conn.commit()
    return keys


def open_records(conn, bucket: str, key: str | None = None) -> list[str]:
    """The open records' keys (all of ``bucket``, or only ``key``), oldest first."""
    with conn.cursor() as cur:
        cur.execute("SELECT object_key FROM etl.quarantine WHERE bucket = %s AND resolved_at IS NULL "
                    "AND (%s::text IS NULL OR object_key = %s) ORDER BY first_seen_at, object_key",
                    (bucket, key, key))
        keys = [r[0] for r in cur.fetchall()]
    conn.commit()
    return keys


def resolve_sql() -> str:
    """The statement that closes a record, run in the transaction that commits the object's manifest row."""
    return ("UPDATE etl.quarantine SET resolved_at = clock_timestamp(), resolved_run_id = %(run_id)s "
            "WHERE bucket = %(bucket)s AND object_key = %(key)s AND resolved_at IS NULL")
