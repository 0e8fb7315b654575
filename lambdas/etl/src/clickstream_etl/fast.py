"""Parse, check and type the ordinary lines in Python (orjson), ready for a COPY of final rows.

A line takes this fast path only when the result is certain to equal what the SQL normalization
(``sql.normalize_sql``) would produce: a JSON object whose used fields are strings (or numbers for the prices
and quantity) of the plain shapes below, with every required field present and valid. Anything else -- bad
JSON, odd types, uppercase UUIDs, non-ASCII event names, epoch timestamps, negative prices, ... -- goes to the
slow path, the jsonb COPY + SQL normalization, which decides it exactly as before. The fast path also applies
the freshness/future checks (against ``received_at``, else the object's last-modified time) and the login-state
default, exactly as the SQL path does.

Each accepted line becomes a ``FastRow``: the COPY text of ``EVENT_COLUMNS`` (everything of ``dw.events`` but the
session columns, which the load adds) plus the few values sessionization needs. Timestamps are written as
given when in UTC ('Z'), else as the canonical UTC text of the value Python parsed, so the warehouse stores
exactly the instant Python sessionized.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import msgspec
import orjson

from .prepare import split_lines
from .sql import ISO_PREFIX

# Python's re with ASCII digits and an end that does not accept a trailing newline (PostgreSQL's ``$``).
_ISO = re.compile(ISO_PREFIX.removeprefix("^").removesuffix("$"), re.ASCII)
# A shape of _ISO (what the ingest writes: UTC, milliseconds), checked first because it is cheaper.
_ISO_MS_Z = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
# event_id, event_timestamp and received_at as the ingest writes them, tab-separated: one match instead of three
# (what each regex costs is mostly the call).
_INGEST_SHAPES = re.compile(f"{_UUID.pattern}\t{_ISO_MS_Z.pattern}\t{_ISO_MS_Z.pattern}", re.ASCII)
_DECIMAL = re.compile(r"[0-9]{1,11}(\.[0-9]{1,20})?", re.ASCII)
_INTEGER = re.compile(r"[0-9]{1,9}", re.ASCII)
_LOGIN = frozenset(("logged_in", "logged_out"))
_NULL = "\\N"
_CENT = Decimal("0.01")
# gc.set_threshold while lines are parsed (the runner's load, the parse worker): parsing allocates millions of small
# objects that live until their batch commits, and with the default thresholds the cyclic GC keeps re-scanning them.
GC_THRESHOLDS = (200_000, 50, 1000)
# Order of the values in FastRow.text: dw.events' columns without session_id / is_first_visit.
EVENT_COLUMNS = (
    "event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source", "client_id",
    "client_session_id", "page_url_path", "page_referrer", "page_title", "product_id", "product_name",
    "product_category", "product_brand", "product_price", "product_discount_price", "product_url_path",
    "quantity", "order_id", "search_term", "received_at", "request_id", "source_file", "source_line",
)
# Index of each value in typed_row's list.
TYPED_COLUMNS = (
    "event_id", "event_timestamp", "event_name", "user_id", "login_t", "identity_source", "client_id",
    "client_session_id", "page_url_path", "page_referrer", "page_title", "product_id", "product_name",
    "product_category", "product_brand", "product_price", "product_discount_price", "product_url_path",
    "quantity", "order_id", "search_term", "received_at_j", "request_id",
)
STALE = ("stale_event", "older than the freshness window before received_at")
FUTURE = ("future_event", "later than the allowed skew after received_at")
NO_RECEIVED = ("missing_field", "received_at")


class Slow(Exception):
    """The line needs the SQL path."""


# The plain-line decoder (``plain_row``): msgspec checks in C that each used field is a string (or a number where
# a price or quantity may be one), ignores every other field, and any line it refuses goes on to ``typed_row``.
# ``gc=False``: the structs hold only strings, numbers and each other, so the cyclic GC need not track them (a
# quarter of the decode's time).
_Text = str | None
_Number = int | float | str | None


class _Page(msgspec.Struct, gc=False):
    url_path: _Text = None
    referrer: _Text = None
    title: _Text = None


class _Product(msgspec.Struct, gc=False):
    id: _Text = None
    name: _Text = None
    category: _Text = None
    brand: _Text = None
    price: _Number = None
    discount_price: _Number = None
    url_path: _Text = None


class _Event(msgspec.Struct, gc=False):
    event_id: _Text = None
    event_timestamp: _Text = None
    event_name: _Text = None
    user_id: _Text = None
    user_login_state: _Text = None
    identity_source: _Text = None
    client_id: _Text = None
    session_id: _Text = None
    page: _Page | None = None
    product: _Product | None = None
    quantity: int | str | None = None
    order_id: _Text = None
    search_term: _Text = None
    received_at: _Text = None
    request_id: _Text = None


_decode_plain = msgspec.json.Decoder(_Event).decode
_NO_PAGE = _Page()
_NO_PRODUCT = _Product()


class FastRow(msgspec.Struct, gc=False, array_like=True):
    """One accepted line: what sessionization needs, and ``text`` = COPY text of EVENT_COLUMNS (no newline).

    A struct that the cyclic GC does not track (it holds no containers): a million of them live until their batch
    commits, and creating one costs a fifth of a slotted dataclass. ``array_like``: the parse worker sends rows as
    msgpack arrays, not maps (a fifth smaller, and a quarter less to decode)."""

    file_idx: int
    line_no: int
    event_id: str
    client_id: str
    ts: datetime
    ts_text: str  # the event_timestamp of ``text``: UTC, starting with the date
    event_name: str
    user_id: str | None
    logged_in: bool
    page: str | None
    revenue: Decimal | None  # purchase events only: coalesce(discount, price, 0) * coalesce(quantity, 1)
    text: str


@dataclass
class FastSplit:
    """One object: accepted ``rows``; ``rejects`` = (line, reason, detail, event_id); ``slow`` = (line, raw)."""

    rows: list[FastRow]
    lines: int
    slow: list[tuple[int, bytes]] = field(default_factory=list)
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)
    clients: set[str] = field(default_factory=set)  # of ``rows`` (made by the parser thread, read by the runner)


def _text(v: object) -> str | None:
    """jsonb_to_record text + btrim + nullif(''): strings only (other JSON types render differently)."""
    if v is None:
        return None
    if type(v) is not str:
        raise Slow
    v = v.strip(" ")
    return v or None


def _timestamp(v: object) -> tuple[datetime, str] | None:
    """RFC 3339 text (the shapes both the SQL regex and Python accept) -> (aware UTC datetime, COPY text)."""
    if v is None:
        return None
    if type(v) is str and len(v) == 24 and _ISO_MS_Z.fullmatch(v):  # the ingest's own shape: a cheaper check
        try:
            return datetime.fromisoformat(v), v
        except ValueError:
            raise Slow from None
    if type(v) is not str or not _ISO.fullmatch(v):
        raise Slow
    try:
        dt = datetime.fromisoformat(v)
        if v[-1] == "Z":
            return dt, v
        dt = dt.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Slow from None
    return dt, dt.isoformat()


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
        # At most 15 significant digits: the shortest repr then has the exact decimal value of the JSON text. A repr
        # of at most 16 characters without an exponent has at most 15 digits (it always holds a ".").
        if (len(r) <= 16 and "e" not in r) or len(r.replace(".", "").replace("-", "").lstrip("0").split("e")[0]) <= 15:
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


def copy_value(v: object) -> str:
    """One value in COPY text format (None -> \\N, strings escaped)."""
    if v is None:
        return _NULL
    return _escape(v) if isinstance(v, str) else str(v)


def typed_row(doc: object) -> list:
    """The typed values (TYPED_COLUMNS) of one parsed line, or raise Slow.

    Timestamps become (aware UTC datetime, text for COPY) pairs; the text is the raw value when it is in UTC
    ('Z', read alike by Python and PostgreSQL), else the canonical UTC rendering of the value Python read.
    """
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


def is_plain(line: bytes) -> bool:
    """True when no string of the line can need trimming or COPY escapes: no backslash (so no JSON escape at all),
    tab or CR, and no quote next to a space. Cheap byte scans in C (the two-byte ones cost five times the others:
    an empty string ``""``, which the SQL path makes NULL, is left to ``plain_row``)."""
    return not (b"\\" in line or b"\t" in line or b"\r" in line or b'" ' in line or b' "' in line)


def plain_row(line: bytes, file_idx: int, line_no: int, source_text: str, last_modified: datetime | None,
              window: Window) -> FastRow | tuple[int, str, str, str]:
    """``split_object``'s outcome for a line that ``is_plain`` -- its row, or its reject ``(line_no, reason, detail,
    event_id)`` -- exactly as ``typed_row``, ``accept`` and ``make_row`` give it, or raise Slow,
    msgspec.MsgspecError or ValueError (then the caller tries ``typed_row``, which decides the line as before).

    On a plain line every string is already trimmed (so ``_text`` is ``or None``, and ``x or \\N`` is
    ``copy_value(_text(x))``) and holds no backslash, tab, CR or newline (no COPY escape): the values go from the
    decoded struct straight into the row's text. The checks and their order are typed_row's; ``source_text`` is the
    source file's COPY text (escaped).
    """
    e = _decode_plain(line)
    name = e.event_name
    if not name or not name.isascii():
        raise Slow
    login = e.user_login_state
    if login is not None and login not in _LOGIN:
        raise Slow
    event_id, ts_text, received_text = e.event_id, e.event_timestamp, e.received_at
    if (event_id is not None and ts_text is not None and received_text is not None
            and _INGEST_SHAPES.fullmatch(f"{event_id}\t{ts_text}\t{received_text}")):  # no tab in a plain line
        try:
            ts = datetime.fromisoformat(ts_text), ts_text
            stated = datetime.fromisoformat(received_text), received_text
        except ValueError:
            raise Slow from None
    else:
        ts = _timestamp(ts_text)
        if ts is None or event_id is None or not _UUID.fullmatch(event_id):
            raise Slow
        stated = _timestamp(received_text)
    client_id = e.client_id
    if not client_id:
        raise Slow
    pg = e.page or _NO_PAGE
    pr = e.product or _NO_PRODUCT
    price, discount, quantity = _money(pr.price), _money(pr.discount_price), _quantity(e.quantity)
    received = stated[0] if stated is not None else last_modified
    if received is None:
        return line_no, NO_RECEIVED[0], NO_RECEIVED[1], event_id
    at = ts[0]
    if at < received - window.freshness:
        return line_no, STALE[0], STALE[1], event_id
    if at > received + window.future_skew:
        return line_no, FUTURE[0], FUTURE[1], event_id
    user_id = e.user_id or None
    if login is None:
        login = "logged_in" if user_id is not None else "logged_out"
    name = name.lower()
    n = _NULL
    text = (f"{event_id}\t{ts[1]}\t{name}\t{user_id or n}\t{login}\t{e.identity_source or n}\t{client_id}\t"
            f"{e.session_id or n}\t{pg.url_path or n}\t{pg.referrer or n}\t{pg.title or n}\t{pr.id or n}\t"
            f"{pr.name or n}\t{pr.category or n}\t{pr.brand or n}\t{price or n}\t{discount or n}\t"
            f"{pr.url_path or n}\t{quantity or n}\t{e.order_id or n}\t{e.search_term or n}\t"
            f"{stated[1] if stated is not None else received.isoformat()}\t{e.request_id or n}\t{source_text}\t"
            f"{line_no}")
    page = pg.url_path or None
    revenue = _revenue(price, discount, quantity) if name == "purchase" else None
    return FastRow(file_idx, line_no, event_id, client_id, at, ts[1], name, user_id, login == "logged_in", page,
                   revenue, text)


def _revenue(price: str | None, discount: str | None, quantity: str | None) -> Decimal:
    """numeric(14,2) rounding of the price as PostgreSQL does it (half away from zero), times the quantity."""
    chosen = discount if discount is not None else price
    value = Decimal(chosen).quantize(_CENT, ROUND_HALF_UP) if chosen is not None else Decimal(0)
    return value * (int(quantity) if quantity is not None else 1)


@dataclass(frozen=True)
class Window:
    """Freshness checks: reject events older than received - freshness or later than received + future_skew."""

    freshness: timedelta
    future_skew: timedelta


def accept(v: list, last_modified: datetime | None, window: Window) -> tuple[datetime | None, tuple | None]:
    """(effective received_at, reject reason or None), with the SQL path's order of checks."""
    received = v[21][0] if v[21] is not None else last_modified
    if received is None:
        return None, NO_RECEIVED
    ts = v[1][0]
    if ts < received - window.freshness:
        return received, STALE
    if ts > received + window.future_skew:
        return received, FUTURE
    return received, None


def make_row(v: list, file_idx: int, line_no: int, source_file: str, received: datetime,
             escape: bool = True) -> FastRow:
    """``escape`` False: no value holds a backslash, tab, CR or newline (the caller checked the raw line)."""
    user_id, login = v[3], v[4]
    if login is None:
        login = "logged_in" if user_id is not None else "logged_out"
    name = v[2]
    values = [v[0], v[1][1], name, user_id, login, *v[5:21],
              v[21][1] if v[21] is not None else received.isoformat(), v[22], source_file, str(line_no)]
    text = "\t".join(map(copy_value, values) if escape else [_NULL if x is None else x for x in values])
    return FastRow(file_idx, line_no, v[0], v[6], v[1][0], v[1][1], name, user_id, login == "logged_in", v[8],
                   _revenue(v[15], v[16], v[18]) if name == "purchase" else None, text)


def split_object(data: bytes, file_idx: int, lines: list[bytes], source_file: str = "",
                 last_modified: datetime | None = None, window: Window | None = None) -> FastSplit:
    """Accepted rows and rejects for the lines the fast path can decide; the others (non-blank) listed as slow."""
    window = window or Window(timedelta(hours=72), timedelta(minutes=15))
    rows: list[FastRow] = []
    rejects: list[tuple[int, str, str, str]] = []
    slow: list[tuple[int, bytes]] = []
    loads = orjson.loads
    unsafe_source = any(c in source_file for c in "\\\t\r\n")
    source_text = _escape(source_file) if unsafe_source else source_file
    # What the ingest writes is plain throughout: then one scan of the object answers for every line (a pattern
    # absent from the object is absent from each of its lines), and no value of it needs a COPY escape.
    all_plain = is_plain(data)
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if all_plain or is_plain(line):
            try:
                out = plain_row(line, file_idx, n, source_text, last_modified, window)
            except (Slow, ValueError, msgspec.MsgspecError):  # ValueError: e.g. bytes that are not UTF-8
                pass  # typed_row decides
            else:
                if type(out) is tuple:
                    rejects.append(out)
                else:
                    rows.append(out)
                continue
        # \u0000 is valid JSON but not storable in jsonb (the SQL path rejects the line): leave it to SQL.
        if b"\\u0000" in line:
            slow.append((n, line))
            continue
        try:
            v = typed_row(loads(line))
        except (Slow, orjson.JSONDecodeError):
            slow.append((n, line))
            continue
        received, problem = accept(v, last_modified, window)
        if problem is not None:
            rejects.append((n, problem[0], problem[1], v[0]))
            continue
        # JSON text holds a backslash, tab or CR only where a value may need COPY escapes
        escape = unsafe_source or b"\\" in line or b"\t" in line or b"\r" in line
        rows.append(make_row(v, file_idx, n, source_file, received, escape))
    return FastSplit(rows, len(lines), slow, rejects, {r.client_id for r in rows})


def split_for_batch(data: bytes, file_idx: int, source_file: str = "", last_modified: datetime | None = None,
                    window: Window | None = None) -> FastSplit:
    """``split_object`` of a whole object: the fast-path split of the batch's ``file_idx``-th object (the runner's
    parser thread or its parse worker, ``load.load_batch`` for splits not made ahead)."""
    return split_object(data, file_idx, split_lines(data), source_file, last_modified, window)
