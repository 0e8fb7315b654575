"""Parse raw lines into event rows: checked and typed in Python (orjson, msgspec), ready for a COPY of final rows.

A line is typed here only when the result is certain to equal what PostgreSQL's general decoder
(``sql.normalize_sql``) would give: a JSON object whose used fields are strings (or numbers for the prices and
quantity) of the plain shapes below, with every required field present and valid. Anything else -- bad JSON, odd
types, uppercase UUIDs, non-ASCII event names, epoch timestamps, negative prices, ... -- is left to that decoder
(``ParsedObject.slow``: the jsonb COPY + one SQL statement that only types), whose decoded lines come back here
(``decoded_row``). Every line, however typed, is then judged by the same rules (``rules``: freshness, login
state, revenue) in ``accept`` / ``make_row`` (``plain_row`` is their fast form for a plain line).

Each accepted line becomes an ``EventRow``: the COPY text of ``ROW_COLUMNS`` (``columns.EVENT_COLUMNS`` and where
the line came from; the load adds the session columns) plus the few values sessionization needs. Timestamps are
written as given when in UTC ('Z'), else as the canonical UTC text of the value Python parsed, so the warehouse
stores exactly the instant Python sessionized.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import orjson

from . import columns
from .columns import EVENT_COLUMNS, OBJECTS, PROVENANCE, TOP_KEYS
from .prepare import split_lines
from .rules import LOGGED_IN, LOGIN_STATES, PURCHASE, Freshness, login_state, revenue
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
_NULL = "\\N"
# gc.set_threshold while lines are parsed (the runner's load, the parse worker): parsing allocates millions of small
# objects that live until their batch commits, and with the default thresholds the cyclic GC keeps re-scanning them.
GC_THRESHOLDS = (200_000, 50, 1000)
# The service's defaults (config.Settings), for callers without settings (tests).
DEFAULT_FRESHNESS = Freshness(timedelta(hours=72), timedelta(minutes=15))
# Order of the values in EventRow.text: the event's columns, then where the line came from.
ROW_COLUMNS = columns.NAMES + PROVENANCE
# Positions in typed_row's list (columns.EVENT_COLUMNS' order) of the values this module reads itself.
(_ID, _TS, _NAME, _USER, _LOGIN, _CLIENT, _PAGE, _PRICE, _DISCOUNT, _QUANTITY, _RECEIVED, _REFERRER, _DEVICE,
 _BROWSER) = map(columns.index, (
    "event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "client_id", "page_url_path",
    "product_price", "product_discount_price", "quantity", "received_at", "page_referrer", "device_category",
    "browser"))


class Slow(Exception):
    """The line needs PostgreSQL's general decoder."""


# The plain-line decoder (``plain_row``): msgspec checks in C that each used field is a string (or a number where
# a price or quantity may be one), ignores every other field, and any line it refuses goes on to ``typed_row``.
# ``gc=False``: the structs hold only strings, numbers and each other, so the cyclic GC need not track them.
# Made from columns.EVENT_COLUMNS: one struct per nested object, one for the line.
_Text = str | None
_PLAIN_TYPES = {"money": int | float | str | None, "quantity": int | str | None}


def _plain_struct(name: str, fields: list[tuple[str, object]]) -> type[msgspec.Struct]:
    return msgspec.defstruct(name, [(f, t, None) for f, t in fields], gc=False)


_PLAIN_OBJECTS = {
    obj: _plain_struct(f"Plain_{obj}", [(c.source[1], _PLAIN_TYPES.get(c.kind, _Text))
                                        for c in EVENT_COLUMNS if c.source[0] == obj and len(c.source) == 2])
    for obj in OBJECTS}
_PlainEvent = _plain_struct("PlainEvent", [
    (key, _PLAIN_OBJECTS[key] | None) if key in OBJECTS else
    (key, next(_PLAIN_TYPES.get(c.kind, _Text) for c in EVENT_COLUMNS if c.source == (key,))) for key in TOP_KEYS])
_decode_plain = msgspec.json.Decoder(_PlainEvent).decode
_NO_OBJECT = {obj: cls() for obj, cls in _PLAIN_OBJECTS.items()}
_NO_PAGE, _NO_PRODUCT = _NO_OBJECT["page"], _NO_OBJECT["product"]


def _plain_text_function():
    """``_plain_text(e, <objects>, <checked values>)``: the COPY text of ROW_COLUMNS of a plain line, made from
    columns.EVENT_COLUMNS. An optional text is written straight from the decoded struct (``x or \\N``: on a plain
    line every string is already trimmed and needs no COPY escape); every other column from the value
    ``plain_row`` checked, passed by the column's name. Generated once (as ``collections.namedtuple`` makes its
    methods): a loop over the columns per row would cost more than the row's parse."""
    fields, checked = [], []
    for c in EVENT_COLUMNS:
        if c.kind == "text":
            holder = c.source[0] if len(c.source) == 2 else "e"
            fields.append("{" + f"{holder}.{c.source[-1]} or n" + "}")
        else:
            checked.append(c.name)
            fields.append("{" + c.name + "}")
    fields += ["{" + p + "}" for p in PROVENANCE]
    params = ", ".join(["e", *OBJECTS, *checked, *PROVENANCE])
    source = f"def _plain_text({params}, n={_NULL!r}):\n    return f{chr(9).join(fields)!r}\n"
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the source is made from this package's constants only
    return namespace["_plain_text"]


_plain_text = _plain_text_function()


class EventRow(msgspec.Struct, gc=False, array_like=True):
    """One accepted line: what sessionization needs, and ``text`` = COPY text of ROW_COLUMNS (no newline).

    A struct that the cyclic GC does not track (it holds no containers): a million of them live until their batch
    commits, and creating one costs less than a slotted dataclass. ``array_like``: the parse worker sends rows as
    msgpack arrays, not maps (smaller, and less to decode)."""

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
    revenue: Decimal | None  # purchase events only: rules.revenue
    text: str
    # what a session takes from its first event (sessions.Session.begin: acquisition, device)
    referrer: str | None = None
    device: str | None = None
    browser: str | None = None


@dataclass
class ParsedObject:
    """One object parsed: accepted ``rows``; ``rejects`` = (line, reason, detail, event_id); ``slow`` = (line, raw)."""

    rows: list[EventRow]
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


def _required_timestamp(v: object) -> tuple[datetime, str]:
    ts = _timestamp(v)
    if ts is None:
        raise Slow
    return ts


def _name(v: object) -> str:
    s = _required(v)
    if not s.isascii():
        raise Slow
    return s.lower()


def _login(v: object) -> str | None:
    s = _text(v)
    if s is not None and s not in LOGIN_STATES:
        raise Slow
    return s


# The check of each kind of column (columns.py), for typed_row.
_KIND_CHECKS = {"uuid": _event_id, "timestamp": _timestamp, "name": _name, "required": _required, "login": _login,
                "money": _money, "quantity": _quantity, "text": _text}
_TYPED = tuple((c.source, _required_timestamp if c.kind == "timestamp" and c.required else _KIND_CHECKS[c.kind])
               for c in EVENT_COLUMNS)


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_value(v: object) -> str:
    """One value in COPY text format (None -> \\N, strings escaped)."""
    if v is None:
        return _NULL
    return _escape(v) if isinstance(v, str) else str(v)


def typed_row(doc: object) -> list:
    """The typed values (columns.EVENT_COLUMNS' order) of one parsed line, or raise Slow.

    Timestamps become (aware UTC datetime, text for COPY) pairs; the text is the raw value when it is in UTC
    ('Z', read alike by Python and PostgreSQL), else the canonical UTC rendering of the value Python read.
    """
    if type(doc) is not dict:
        raise Slow
    g = doc.get
    values = []
    for source, check in _TYPED:
        if len(source) == 1:
            v = g(source[0])
        else:
            obj = g(source[0])
            v = obj.get(source[1]) if type(obj) is dict else None
        values.append(check(v))
    return values


def is_plain(line: bytes) -> bool:
    """True when no string of the line can need trimming or COPY escapes: no backslash (so no JSON escape at all),
    tab or CR, and no quote next to a space. Cheap byte scans in C (the two-byte ones cost five times the others:
    an empty string ``""``, which the general decoder makes NULL, is left to ``plain_row``)."""
    return not (b"\\" in line or b"\t" in line or b"\r" in line or b'" ' in line or b' "' in line)


def plain_row(line: bytes, file_idx: int, line_no: int, source_text: str, last_modified: datetime | None,
              window: Freshness) -> EventRow | tuple[int, str, str, str]:
    """``parse_lines``' outcome for a line that ``is_plain`` -- its row, or its reject ``(line_no, reason, detail,
    event_id)`` -- exactly as ``typed_row``, ``accept`` and ``make_row`` give it, or raise Slow,
    msgspec.MsgspecError or ValueError (then the caller tries ``typed_row``, which decides the line as before).

    On a plain line every string is already trimmed (so ``_text`` is ``or None``) and holds no backslash, tab, CR or
    newline (no COPY escape): the values go from the decoded struct straight into the row's text
    (``_plain_text``). ``source_text`` is the source file's COPY text (escaped).
    """
    e = _decode_plain(line)
    name = e.event_name
    if not name or not name.isascii():
        raise Slow
    login = e.user_login_state
    if login is not None and login not in LOGIN_STATES:
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
    page = e.page or _NO_PAGE
    product = e.product or _NO_PRODUCT
    price, discount, quantity = _money(product.price), _money(product.discount_price), _quantity(e.quantity)
    received = stated[0] if stated is not None else last_modified
    at = ts[0]
    problem = window.problem(at, received)
    if problem is not None:
        return line_no, problem[0], problem[1], event_id
    user_id = e.user_id or None
    login = login_state(login, user_id)
    name = name.lower()
    n = _NULL
    text = _plain_text(e, page, product, event_id=event_id, event_timestamp=ts[1], event_name=name,
                       user_login_state=login, client_id=client_id, product_price=price or n,
                       product_discount_price=discount or n, quantity=quantity or n,
                       received_at=stated[1] if stated is not None else received.isoformat(), source_file=source_text,
                       source_line=line_no)
    return EventRow(file_idx, line_no, event_id, client_id, at, ts[1], name, user_id, login == LOGGED_IN,
                    page.url_path or None, revenue(price, discount, quantity) if name == PURCHASE else None, text,
                    page.referrer or None, e.device_category or None, e.browser or None)


def accept(v: list, last_modified: datetime | None, window: Freshness) -> tuple[datetime | None, tuple | None]:
    """(effective received_at, reject reason or None) of ``typed_row``'s values."""
    received = v[_RECEIVED][0] if v[_RECEIVED] is not None else last_modified
    return received, window.problem(v[_TS][0], received)


def make_row(v: list, file_idx: int, line_no: int, source_file: str, received: datetime,
             escape: bool = True) -> EventRow:
    """The row of ``typed_row``'s values. ``escape`` False: no value holds a backslash, tab, CR or newline (the
    caller checked the raw line)."""
    user_id = v[_USER]
    login = login_state(v[_LOGIN], user_id)
    name = v[_NAME]
    ts, ts_text = v[_TS]
    values = list(v)
    values[_TS] = ts_text
    values[_LOGIN] = login
    values[_RECEIVED] = v[_RECEIVED][1] if v[_RECEIVED] is not None else received.isoformat()
    values += [source_file, str(line_no)]
    text = "\t".join(map(copy_value, values) if escape else [_NULL if x is None else x for x in values])
    return EventRow(file_idx, line_no, v[_ID], v[_CLIENT], ts, ts_text, name, user_id, login == LOGGED_IN, v[_PAGE],
                    revenue(v[_PRICE], v[_DISCOUNT], v[_QUANTITY]) if name == PURCHASE else None, text,
                    v[_REFERRER], v[_DEVICE], v[_BROWSER])


def decoded_row(decoded: tuple, source_file: str, last_modified: datetime | None,
                window: Freshness) -> EventRow | tuple[int, str, str, str | None]:
    """A line the general decoder in PostgreSQL decoded (``sql.DECODED``: file_idx, line_no, reason, detail, the
    event id as read, then columns.EVENT_COLUMNS typed): its row by the same rules as every other line
    (``accept``, ``make_row``), or its reject ``(line_no, reason, detail, event_id)``."""
    file_idx, line_no, reason, detail, id_read, *values = decoded
    if reason:
        return line_no, reason, detail, id_read
    v: list = [None if x is None else x if type(x) is str else str(x) for x in values]
    for i in (_TS, _RECEIVED):
        if values[i] is not None:
            at = values[i].astimezone(UTC)
            v[i] = at, at.isoformat()
    received, problem = accept(v, last_modified, window)
    if problem is not None:
        return line_no, problem[0], problem[1], id_read
    return make_row(v, file_idx, line_no, source_file, received)


def parse_lines(data: bytes, file_idx: int, lines: list[bytes], source_file: str = "",
                last_modified: datetime | None = None, window: Freshness | None = None) -> ParsedObject:
    """Accepted rows and rejects for the lines the fast path can decide; the others (non-blank) listed as slow."""
    window = window or DEFAULT_FRESHNESS
    rows: list[EventRow] = []
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
        # \u0000 is valid JSON but not storable in jsonb (the general decoder rejects the line): leave it to it.
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
            rejects.append((n, problem[0], problem[1], v[_ID]))
            continue
        # JSON text holds a backslash, tab or CR only where a value may need COPY escapes
        escape = unsafe_source or b"\\" in line or b"\t" in line or b"\r" in line
        rows.append(make_row(v, file_idx, n, source_file, received, escape))
    return ParsedObject(rows, len(lines), slow, rejects, {r.client_id for r in rows})


def parse_object(data: bytes, file_idx: int, source_file: str = "", last_modified: datetime | None = None,
                 window: Freshness | None = None) -> ParsedObject:
    """``parse_lines`` of a whole object: the parse of the batch's ``file_idx``-th object (the pipeline's parser
    thread or its parse worker, ``load.load_batch`` for objects not parsed ahead)."""
    return parse_lines(data, file_idx, split_lines(data), source_file, last_modified, window)
