"""The sessionization, by the rules of ``rules``: a new session after more than ``timeout`` of inactivity, the
session id, the first visit, the session's login state, engaged and converted sessions.

``assign`` extends a client whose new events all come after everything loaded for it (the client's open session
continued when the first new event is within the timeout of its end); ``resessionize`` makes a client's window of
loaded and new events again from scratch (a late event). Pure functions, no I/O. The tests hold an independent SQL
implementation as their oracle (tests/etl/oracle).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter

import msgspec

from .acquisition import acquisition
from .parse import EventRow, copy_value
from .rules import PAGE_VIEW_EVENTS, converted, engaged, first_visit, new_session, session_id, session_logged_in

_MICRO = timedelta(microseconds=1)
_MILLI = Decimal("0.001")
# Column order of Session.copy_text (all of dw.sessions).
SESSION_COLUMNS = (
    "session_id", "client_id", "user_id", "user_login_state", "session_start", "session_end", "session_date",
    "duration_seconds", "event_count", "page_view_count", "landing_page", "exit_page", "is_engaged",
    "is_converted", "is_first_visit", "purchase_count", "revenue",
    "source", "medium", "campaign", "channel_group", "device_category", "browser",
)
# What the state query reads of a client's latest session (same order as Session's fields after client_id).
STATE_COLUMNS = ("session_id", "user_id", "user_login_state", "session_start", "session_end", "event_count",
                 "page_view_count", "landing_page", "exit_page", "is_first_visit", "purchase_count", "revenue",
                 "source", "medium", "campaign", "channel_group", "device_category", "browser")


def duration(start: datetime, end: datetime) -> Decimal:
    """``extract(epoch FROM end - start)::numeric(12, 3)``."""
    micros = (end - start) // timedelta(microseconds=1)
    return (Decimal(micros) / 1_000_000).quantize(_MILLI, ROUND_HALF_UP)


def duration_millis(start: datetime, end: datetime) -> int:
    """``duration`` in whole milliseconds, for ``end`` not before ``start`` (half up, as numeric rounds)."""
    return ((end - start) // _MICRO + 500) // 1000


class Session(msgspec.Struct, gc=False):
    """One session as dw.sessions holds it. ``start_text`` / ``end_text``: the COPY text of the start and end when they
    came from events (their ``ts_text``); None for a session read from the warehouse (then written from the
    datetimes). Not tracked by the cyclic GC: it holds no containers."""

    session_id: str
    client_id: str
    user_id: str | None
    logged_in: bool
    start: datetime
    end: datetime
    event_count: int
    page_view_count: int
    landing: str | None
    exit: str | None
    first_visit: bool
    purchase_count: int
    revenue: Decimal
    start_text: str | None = None
    end_text: str | None = None
    # from the session's first event (acquisition.acquisition, the ingest's device); None on a session loaded
    # before the warehouse had them
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    channel_group: str | None = None
    device_category: str | None = None
    browser: str | None = None

    @classmethod
    def from_state(cls, client_id: str, row: tuple) -> Session:
        """From dw.sessions' STATE_COLUMNS."""
        (sid, user_id, login, start, end, events, page_views, landing, exit_page, first_visit, purchases,
         revenue, source, medium, campaign, channel, device, browser) = row
        return cls(str(sid), client_id, user_id, login == "logged_in", start.astimezone(UTC), end.astimezone(UTC),
                   events, page_views, landing, exit_page, first_visit, purchases, Decimal(revenue), None, None,
                   source, medium, campaign, channel, device, browser)

    @classmethod
    def begin(cls, row: EventRow) -> Session:
        """A session whose first event is ``row``: its acquisition and device are that event's."""
        source, medium, campaign, channel = acquisition(row.page, row.referrer)
        return cls(session_id(row.client_id, row.ts), row.client_id, None, False, row.ts, row.ts, 0, 0, None, None,
                   False, 0, Decimal(0), row.ts_text, row.ts_text, source, medium, campaign, channel, row.device,
                   row.browser)

    def add(self, row: EventRow, first_visit: bool) -> None:
        """Append an event that sorts after every event already in the session."""
        self.end = row.ts
        self.end_text = row.ts_text
        self.event_count += 1
        if row.event_name in PAGE_VIEW_EVENTS:
            self.page_view_count += 1
            if row.page is not None:
                if self.landing is None:
                    self.landing = row.page
                self.exit = row.page
        if row.user_id is not None:
            self.user_id = row.user_id
        self.logged_in = session_logged_in((self.logged_in, row.logged_in))
        if first_visit:
            self.first_visit = True
        if row.revenue is not None:
            self.purchase_count += 1
            self.revenue += row.revenue

    def copy_text(self) -> str:
        """The session's row of dw.sessions in COPY text format (SESSION_COLUMNS). Only the four texts that come
        from the events can need escapes; the other values are written here."""
        ms = duration_millis(self.start, self.end)
        is_engaged = engaged(ms, self.purchase_count, self.page_view_count)
        start = self.start_text or self.start.isoformat()  # UTC: its first ten characters are the date
        return (f"{self.session_id}\t{copy_value(self.client_id)}\t{copy_value(self.user_id)}\t"
                f"{'logged_in' if self.logged_in else 'logged_out'}\t{start}\t{self.end_text or self.end.isoformat()}\t"
                f"{start[:10]}\t{ms // 1000}.{ms % 1000:03d}\t{self.event_count}\t"
                f"{self.page_view_count}\t{copy_value(self.landing)}\t{copy_value(self.exit)}\t"
                f"{'t' if is_engaged else 'f'}\t{'t' if converted(self.purchase_count) else 'f'}\t"
                f"{'t' if self.first_visit else 'f'}\t{self.purchase_count}\t{self.revenue}\t"
                f"{copy_value(self.source)}\t{copy_value(self.medium)}\t{copy_value(self.campaign)}\t"
                f"{copy_value(self.channel_group)}\t{copy_value(self.device_category)}\t{copy_value(self.browser)}")


@dataclass
class ClientState:
    """What the warehouse knows of a client: when its last loaded event happened, and its latest session."""

    last_seen_at: datetime
    last_session: Session | None

    def appendable(self, first_new: datetime) -> bool:
        """Every new event is later than every loaded one, and the latest session ends at the last event."""
        return (first_new > self.last_seen_at and self.last_session is not None
                and self.last_session.end == self.last_seen_at)


_BY_TIME = attrgetter("ts", "event_id")


@dataclass
class Assigned:
    """One client's new events with their session ids / first-visit flags, and its sessions to (re)write."""

    events: list[tuple[EventRow, str, bool]]
    sessions: list[Session]
    continued: str | None  # id of the loaded session that the new events extend (to be rewritten)


def assign(rows: Iterable[EventRow], state: ClientState | None, timeout: timedelta) -> Assigned:
    """Sessionize one client's new events (sorted by time, then event id); ``state`` None = a new client."""
    ordered = sorted(rows, key=_BY_TIME)
    current = state.last_session if state is not None else None
    continued = None
    sessions: list[Session] = []
    if current is not None and not new_session(ordered[0].ts - current.end, timeout):
        continued = current.session_id
        sessions.append(current)
    else:
        current = None
    events: list[tuple[EventRow, str, bool]] = []
    for n, row in enumerate(ordered):
        first = first_visit(n, state is None)
        if current is None or new_session(row.ts - current.end, timeout):
            current = Session.begin(row)
            sessions.append(current)
        current.add(row, first)
        events.append((row, current.session_id, first))
    return Assigned(events, sessions, continued)


def resessionize(rows: list[EventRow], first_event_id: str,
                 timeout: timedelta) -> tuple[list[tuple[EventRow, str, bool]], list[Session]]:
    """Sessionize a client's window from scratch: ``rows`` are every event of the client from the window's start
    on, loaded and new (the window starts at a session's start, or at the first new event when no loaded session
    reaches it), ``first_event_id`` the client's first event (``FIRST_EVENT_ORDER``). Gives each event its session
    id and first-visit flag, and the window's sessions. The same rules as ``assign``."""
    events: list[tuple[EventRow, str, bool]] = []
    sessions: list[Session] = []
    current: Session | None = None
    for row in sorted(rows, key=_BY_TIME):
        first = row.event_id == first_event_id
        if current is None or new_session(row.ts - current.end, timeout):
            current = Session.begin(row)
            sessions.append(current)
        current.add(row, first)
        events.append((row, current.session_id, first))
    return events, sessions
