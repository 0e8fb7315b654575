"""Parse, check and type the ordinary lines in Python (orjson), for a COPY of typed rows.

A line takes this fast path only when the result is certain to equal what the SQL normalization
(``sql.normalize_sql``) would produce: a JSON object whose used fields are strings (or numbers for the prices
and quantity) of the plain shapes below, with every required field present and valid. Anything else -- bad
JSON, odd types, uppercase UUIDs, non-ASCII event names, epoch timestamps, negative prices, ... -- goes to the
slow path, the jsonb COPY + SQL normalization, which decides it exactly as before. The freshness and future
checks (they need the object's last-modified time and the settings) stay in SQL for both paths.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from .sql import ISO_PREFIX

# Python's re with ASCII digits and an end that does not accept a trailing newline (PostgreSQL's ``$``).
_ISO = re.compile(ISO_PREFIX.removeprefix("^").removesuffix("$"), re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_DECIMAL = re.compile(r"[0-9]{1,11}(\.[0-9]{1,20})?", re.ASCII)
_INTEGER = re.compile(r"[0-9]{1,9}", re.ASCII)
_LOGIN = frozenset(("logged_in", "logged_out"))
_NULL = "\\N"
# Column order of sql.CREATE_FAST / sql.COPY_FAST.
FAST_COLUMNS = (
    "file_idx", "line_no", "event_id", "event_timestamp", "event_name", "user_id", "login_t", "identity_source",
    "client_id", "client_session_id", "page_url_path", "page_referrer", "page_title", "product_id",
    "product_name", "product_category", "product_brand", "product_price", "product_discount_price",
    "product_url_path", "quantity", "order_id", "search_term", "received_at_j", "request_id",
)


class Slow(Exception):
    """The line needs the SQL path."""


@dataclass
class FastSplit:
    """One object: ``rows`` in COPY text format for the typed table, ``slow`` = (line number, raw line)."""

    rows: bytes
    lines: int
    slow: list[tuple[int, bytes]] = field(default_factory=list)


def _text(v: object) -> str | None:
    """jsonb_to_record text + btrim + nullif(''): strings only (other JSON types render differently)."""
    if v is None:
        return None
    if type(v) is not str:
        raise Slow
    v = v.strip(" ")
    return v or None


def _timestamp(v: object) -> str | None:
    """RFC 3339 text as PostgreSQL will read it (raw, not trimmed, as the SQL path casts it)."""
    if v is None:
        return None
    if type(v) is not str or not _ISO.fullmatch(v):
        raise Slow
    try:
        datetime.fromisoformat(v)
    except ValueError:
        raise Slow from None
    return v


def _money(v: object) -> str | None:
    if v is None:
        return None
    t = type(v)
    if t is str:
        v = v.strip(" ")
        if not v:
            return None
        if not _DECIMAL.fullmatch(v):
            raise Slow
        return v
    if t is int:
        if 0 <= v < 10**11:
            return str(v)
        raise Slow
    if t is float and math.isfinite(v) and 0 <= v < 1e11:
        r = repr(v)
        # At most 15 significant digits: the shortest repr then has the exact decimal value of the JSON text.
        if len(r.replace(".", "").replace("-", "").lstrip("0").split("e")[0]) <= 15:
            return r
    raise Slow


def _quantity(v: object) -> str | None:
    if v is None:
        return None
    t = type(v)
    if t is int:
        if 0 <= v < 2**31:
            return str(v)
        raise Slow
    if t is str:
        v = v.strip(" ")
        if not v:
            return None
        if _INTEGER.fullmatch(v):
            return v
    raise Slow


def _event_id(v: object) -> str:
    s = _text(v)
    if s is None or not _UUID.fullmatch(s):
        raise Slow
    return s


def _required(v: object) -> str:
    s = _text(v)
    if s is None:
        raise Slow
    return s


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def typed_row(doc: object) -> list[str | None]:
    """The typed columns (after file_idx and line_no) of one parsed line, or raise Slow."""
    if type(doc) is not dict:
        raise Slow
    g = doc.get
    name = _required(g("event_name"))
    if not name.isascii():
        raise Slow
    login = _text(g("user_login_state"))
    if login is not None and login not in _LOGIN:
        raise Slow
    ts = _timestamp(g("event_timestamp"))
    if ts is None:
        raise Slow
    page = g("page")
    pg = page.get if type(page) is dict else {}.get
    product = g("product")
    pr = product.get if type(product) is dict else {}.get
    return [
        _event_id(g("event_id")), ts, name.lower(), _text(g("user_id")), login, _text(g("identity_source")),
        _required(g("client_id")), _text(g("session_id")), _text(pg("url_path")), _text(pg("referrer")),
        _text(pg("title")), _text(pr("id")), _text(pr("name")), _text(pr("category")), _text(pr("brand")),
        _money(pr("price")), _money(pr("discount_price")), _text(pr("url_path")), _quantity(g("quantity")),
        _text(g("order_id")), _text(g("search_term")), _timestamp(g("received_at")), _text(g("request_id")),
    ]


def split_object(data: bytes, file_idx: int, lines: list[bytes]) -> FastSplit:
    """Typed COPY rows for the lines the fast path can decide; the others (non-blank) listed as slow."""
    out: list[str] = []
    slow: list[tuple[int, bytes]] = []
    loads = orjson.loads
    prefix = f"{file_idx}\t"
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        # \u0000 is valid JSON but not storable in jsonb (the SQL path rejects the line): leave it to SQL.
        if b"\\u0000" in line:
            slow.append((n, line))
            continue
        try:
            row = typed_row(loads(line))
        except (Slow, orjson.JSONDecodeError):
            slow.append((n, line))
            continue
        if b"\\" in line or b"\t" in line or b"\r" in line:  # characters COPY's text format must escape
            row = [None if v is None else _escape(v) for v in row]
        out.append(prefix + str(n) + "\t" + "\t".join(_NULL if v is None else v for v in row) + "\n")
    return FastSplit("".join(out).encode(), len(lines), slow)
