"""What a run sent, counted from the very values the sinks send: the ground truth end-to-end tests compare with.

Valid events are counted once per event_id (re-sent copies are `duplicates`), malformed ones by reason.
Sessions are derived from the valid events with the server's rule (per client_id, a new session after more
than `session_timeout_s` of inactivity), so they are what a correct ETL must find.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .config import TrafficConfig
from .generator import DUPLICATE, FUNNEL_STEPS, INGEST_REJECTIONS, MALFORMED, VALID, ClientTraffic

CENT = Decimal("0.01")


def sessionize(timestamps_ms: Iterable[int], timeout_ms: int) -> list[tuple[int, int]]:
    """Sorted (first index, end index exclusive) of each session: a gap > timeout starts a new one."""
    ts = sorted(timestamps_ms)
    bounds: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(ts)):
        if ts[i] - ts[i - 1] > timeout_ms:
            bounds.append((start, i))
            start = i
    if ts:
        bounds.append((start, len(ts)))
    return bounds


def _price(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def line_revenue(event: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(paid, at list price) of one purchase event: (discount_price or price) x quantity, price x quantity."""
    product = event.get("product") or {}
    quantity = int(event.get("quantity") or 1)
    price = _price(product.get("price") or 0)
    discount = product.get("discount_price")
    paid = _price(discount) if discount is not None else price
    return paid * quantity, price * quantity


@dataclass
class TrafficReport:
    """Accumulates ClientTraffic values; `as_dict()` is the JSON report."""

    config: TrafficConfig
    clients: int = 0
    batches: int = 0
    items_sent: int = 0
    valid: int = 0
    duplicates: int = 0
    malformed: int = 0
    by_name: Counter[str] = field(default_factory=Counter)
    by_day: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[str] = field(default_factory=Counter)
    by_login_state: Counter[str] = field(default_factory=Counter)
    duplicates_by_name: Counter[str] = field(default_factory=Counter)
    malformed_by_reason: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    sessions_by_day: Counter[str] = field(default_factory=Counter)
    sessions_reaching: Counter[str] = field(default_factory=Counter)
    sessions_by_day_state: Counter[str] = field(default_factory=Counter)
    funnel_by_day: Counter[str] = field(default_factory=Counter)
    engaged_sessions: int = 0
    converted_sessions: int = 0
    products: Counter[str] = field(default_factory=Counter)
    product_revenue: Counter[str] = field(default_factory=Counter)
    returning_clients: int = 0
    user_ids: set[str] = field(default_factory=set)
    # the audience members seen (generator.ClientTraffic.member): one client however many runs it came in
    members: set[str] = field(default_factory=set)
    orders: int = 0
    purchase_events: int = 0
    units: int = 0
    revenue: Decimal = Decimal("0.00")
    revenue_at_list_price: Decimal = Decimal("0.00")
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, client: ClientTraffic) -> None:
        seen: set[str] = set()
        valid_events: list[tuple[int, dict[str, Any]]] = []
        if client.member and client.client_id in self.members:
            self.returning_clients += 1  # came in an earlier run: no new client (nor a first visit)
        else:
            self.clients += 1
        if client.member:
            self.members.add(client.client_id)
        for batch in client.batches:
            self.batches += 1
            self.items_sent += len(batch.items)
            for item in batch.items:
                if item.kind == VALID:
                    event_id = item.event["event_id"]
                    if event_id in seen:
                        raise ValueError(f"event_id {event_id} emitted twice as valid")
                    seen.add(event_id)
                    valid_events.append((item.ts_ms, item.event))
                elif item.kind == DUPLICATE:
                    self.duplicates += 1
                    self.duplicates_by_name[item.event["event_name"]] += 1
                elif item.kind == MALFORMED:
                    self.malformed += 1
                    self.malformed_by_reason[item.reason or "?"] += 1
        self._add_valid(valid_events)

    def _add_valid(self, events: list[tuple[int, dict[str, Any]]]) -> None:
        events.sort(key=lambda e: e[0])
        orders: set[str] = set()
        for ts, ev in events:
            self.valid += 1
            self.by_name[ev["event_name"]] += 1
            stamp = ev["event_timestamp"]
            self.by_day[stamp[:10]] += 1
            self.by_hour[stamp[:13]] += 1
            self.by_login_state[ev["user_login_state"]] += 1
            if ev.get("user_id"):
                self.user_ids.add(ev["user_id"])
            product = ev.get("product")
            if product is not None:
                self.products[f"{product['id']}/{ev['event_name']}"] += 1
            if ev["event_name"] == "purchase":
                self.purchase_events += 1
                self.units += int(ev.get("quantity") or 1)
                orders.add(ev["order_id"])
                paid, listed = line_revenue(ev)
                self.revenue += paid
                self.product_revenue[str(ev["product"]["id"])] += paid  # type: ignore[assignment]
                self.revenue_at_list_price += listed
            self.first_ms = ts if self.first_ms is None else min(self.first_ms, ts)
            self.last_ms = ts if self.last_ms is None else max(self.last_ms, ts)
        self.orders += len(orders)
        bounds = sessionize((ts for ts, _ in events), self.config.session_timeout_s * 1000)
        self.sessions += len(bounds)
        if len(bounds) > 1:
            self.returning_clients += 1
        for first, end in bounds:
            self._add_session(events[first:end])

    def _add_session(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        """One server-side session, with the warehouse's definitions (docs/warehouse.md, dw.sessions)."""
        day = chunk[0][1]["event_timestamp"][:10]
        state = "logged_in" if any(ev["user_login_state"] == "logged_in" for _, ev in chunk) else "logged_out"
        self.sessions_by_day[day] += 1
        self.sessions_by_day_state[f"{day}/{state}"] += 1
        names = {ev["event_name"] for _, ev in chunk}
        for step in FUNNEL_STEPS:
            if step in names:
                self.sessions_reaching[step] += 1
        for step, step_day in {(ev["event_name"], ev["event_timestamp"][:10]) for _, ev in chunk}:
            if step in FUNNEL_STEPS:
                self.funnel_by_day[f"{step_day}/{step}"] += 1
        page_views = sum(1 for _, ev in chunk if ev["event_name"] == "page_view")
        duration_ms = chunk[-1][0] - chunk[0][0]
        if duration_ms > 10_000 or page_views >= 2 or "purchase" in names:
            self.engaged_sessions += 1
        if "purchase" in names:
            self.converted_sessions += 1

    def merge(self, other: TrafficReport) -> None:
        """Fold in the report of another, disjoint set of clients (parallel workers)."""
        both = self.members & other.members  # counted as a client in each part: once here
        self.clients -= len(both)
        self.returning_clients += len(both)
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if name == "config":
                continue
            if isinstance(value, Counter):
                mine.update(value)
            elif isinstance(value, set):
                mine |= value
            elif name == "first_ms":
                self.first_ms = value if mine is None else (mine if value is None else min(mine, value))
            elif name == "last_ms":
                self.last_ms = value if mine is None else (mine if value is None else max(mine, value))
            else:
                setattr(self, name, mine + value)

    def as_dict(self) -> dict[str, Any]:
        cfg = self.config
        assert cfg.start is not None and cfg.end is not None
        return {
            "seed": cfg.seed,
            "window": {"start": _iso(cfg.start), "end": _iso(cfg.end)},
            "first_event_ms": self.first_ms,
            "last_event_ms": self.last_ms,
            "clients": self.clients,
            "returning_clients": self.returning_clients,
            "users": len(self.user_ids),
            "requests": self.batches,
            "events": {
                "sent": self.items_sent,
                "valid": self.valid,
                "duplicates": self.duplicates,
                "malformed": self.malformed,
                "by_name": dict(sorted(self.by_name.items())),
                "by_day": dict(sorted(self.by_day.items())),
                "by_hour": dict(sorted(self.by_hour.items())),
                "by_login_state": dict(sorted(self.by_login_state.items())),
                "duplicates_by_name": dict(sorted(self.duplicates_by_name.items())),
                "malformed_by_reason": dict(sorted(self.malformed_by_reason.items())),
            },
            "sessions": {
                "total": self.sessions,
                "timeout_s": cfg.session_timeout_s,
                "by_day": dict(sorted(self.sessions_by_day.items())),
                "by_day_and_login_state": dict(sorted(self.sessions_by_day_state.items())),
                "reaching": {step: self.sessions_reaching[step] for step in FUNNEL_STEPS},
                "funnel_by_day": dict(sorted(self.funnel_by_day.items())),
                "engaged": self.engaged_sessions,
                "converted": self.converted_sessions,
            },
            "products": self._products(),
            "purchases": {
                "events": self.purchase_events,
                "orders": self.orders,
                "units": self.units,
                "revenue": str(self.revenue),
                "revenue_at_list_price": str(self.revenue_at_list_price),
            },
            "expected": {
                # what the ingest should answer, summed over all requests
                "ingest_accepted": self.valid + self.duplicates,
                "ingest_rejected": self.malformed,
                "ingest_rejected_by_reason": self._ingest_reasons(),
                # what the warehouse should hold after the ETL (duplicates dropped by event_id)
                "warehouse_events": self.valid,
                "warehouse_sessions": self.sessions,
                "first_visits": self.clients,
            },
        }

    def _ingest_reasons(self) -> dict[str, int]:
        reasons: Counter[str] = Counter()
        for reason, count in self.malformed_by_reason.items():
            reasons[INGEST_REJECTIONS[reason][0]] += count
        return dict(sorted(reasons.items()))

    def _products(self) -> dict[str, dict[str, Any]]:
        """Per product id: events by name (view_item, add_to_cart, ...) and purchase revenue."""
        out: dict[str, dict[str, Any]] = {}
        for key, count in self.products.items():
            product_id, _, name = key.partition("/")
            out.setdefault(product_id, {})[name] = count
        for product_id, revenue in self.product_revenue.items():
            out.setdefault(product_id, {})["revenue"] = str(revenue)
        return {k: dict(sorted(out[k].items())) for k in sorted(out, key=lambda k: (len(k), k))}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
