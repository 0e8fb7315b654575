"""Seeded simulation of shop visitors: clients -> sessions -> events -> browser-like batches.

Every client is simulated on its own RNG, seeded from (seed, client index), so a run is reproducible byte for
byte, any client can be regenerated alone, and clients can be generated in any order or in parallel.
Nothing here does I/O: sinks and the report consume the `ClientTraffic` values this module yields.
"""

from __future__ import annotations

import bisect
import copy
import functools
import hashlib
import itertools
import json
import math
import random
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .catalog import Product
from .config import TrafficConfig

VALID, DUPLICATE, MALFORMED = "valid", "duplicate", "malformed"
FUNNEL_STEPS = ("view_item", "add_to_cart", "begin_checkout", "purchase")

# Share of sessions starting in each UTC hour (relative weights): quiet nights, busy evenings.
HOURLY_ACTIVITY = (
    0.20, 0.15, 0.10, 0.08, 0.08, 0.12, 0.25, 0.45, 0.65, 0.80, 0.85, 0.90,
    0.95, 0.90, 0.85, 0.85, 0.90, 0.95, 1.00, 1.00, 0.95, 0.75, 0.50, 0.30,
)  # fmt: skip
# How sessions arrive (the GA4 channel each becomes in the warehouse: clickstream_etl/acquisition.py), with their
# share of sessions: (channel, weight, referrers, landing-page query parameters). A session draws its channel, then
# one referrer and one set of parameters of it; "{gclid}" is a fresh Google Ads click id.
CHANNEL_MIX: tuple[tuple[str, float, tuple[str | None, ...], tuple[dict[str, str], ...]], ...] = (
    ("direct", 0.22, (None,), ({},)),
    ("organic_search", 0.30, ("https://www.google.com/",) * 8 + ("https://www.bing.com/", "https://duckduckgo.com/",
                                                                 "https://www.ecosia.org/"), ({},)),
    ("paid_search", 0.09, ("https://www.google.com/",),
     ({"gclid": "{gclid}"},) * 4 + ({"utm_source": "bing", "utm_medium": "cpc", "utm_campaign": "brand-search"},)),
    ("organic_social", 0.08, ("https://l.facebook.com/", "https://www.instagram.com/", "https://t.co/",
                              "https://www.reddit.com/r/buildapc/", "https://www.linkedin.com/"), ({},)),
    ("paid_social", 0.05, ("https://l.facebook.com/", "https://www.instagram.com/"),
     ({"utm_source": "facebook", "utm_medium": "paid_social", "utm_campaign": "spring-sale"},
      {"utm_source": "instagram", "utm_medium": "paid_social", "utm_campaign": "retarget-cart"})),
    ("email", 0.08, (None,), ({"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "weekly-deals"},)),
    ("referral", 0.09, ("https://www.techreviews.example.org/best-laptops", "https://forum.example.net/t/1234",
                        "https://blog.example.com/build-a-pc"), ({},)),
    ("affiliate", 0.03, ("https://deals.example.net/",),
     ({"utm_source": "deals-partner", "utm_medium": "affiliate", "utm_campaign": "partner-program"},)),
    ("display", 0.03, (None,),
     ({"utm_source": "dv360", "utm_medium": "display", "utm_campaign": "brand-awareness"},)),
    ("organic_video", 0.03, ("https://www.youtube.com/",), ({},)),
)
_CHANNEL_CUM = tuple(itertools.accumulate(weight for _, weight, _, _ in CHANNEL_MIX))
STATIC_PAGES = (("/deals", "Deals"), ("/about", "About us"), ("/support", "Support"), ("/blog", "Blog"))
SEARCH_WORDS = ("laptop", "monitor", "ssd", "keyboard", "mouse", "router", "gaming", "4k", "usb-c", "wifi 6")
# Ways an event is broken on purpose; each one must be rejected by the ingest's validation.
MALFORMED_REASONS = (
    "missing_client_id",
    "missing_event_name",
    "bad_event_name",
    "bad_event_timestamp",
    "unknown_field",
    "negative_price",
    "page_view_without_page",
    "not_an_object",
)

# the ingest's reason code and field for each way the generator breaks an event
INGEST_REJECTIONS = {
    "missing_client_id": ("missing_required_field", "client_id"),
    "missing_event_name": ("missing_required_field", "event_name"),
    "bad_event_name": ("invalid_value", "event_name"),
    "bad_event_timestamp": ("invalid_timestamp", "event_timestamp"),
    "unknown_field": ("unknown_field", "colour"),
    "negative_price": ("invalid_value", "product.price"),
    "page_view_without_page": ("missing_required_field", "page"),
    "not_an_object": ("not_an_object", ""),
}


@dataclass(slots=True)
class Emitted:
    """One JSON value the client sends: a valid event, a re-sent copy of one, or a malformed one."""

    kind: str
    event: Any
    ts_ms: int  # the client time of the event (for malformed ones: of the event it was derived from)
    reason: str | None = None


@dataclass(slots=True)
class Batch:
    """One request body's events, as a browser tracker would flush them."""

    client_index: int
    sent_ms: int
    items: list[Emitted]

    def body(self) -> dict[str, list[Any]]:
        return {"events": [item.event for item in self.items]}

    def body_bytes(self) -> bytes:
        """The request body exactly as the HTTP sink posts it (compact JSON, UTF-8)."""
        return json.dumps(self.body(), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(slots=True)
class ClientTraffic:
    index: int
    client_id: str
    batches: list[Batch] = field(default_factory=list)
    member: bool = False  # of the shared audience (config.audience_*): the same client may come in other runs


@dataclass(frozen=True)
class CatalogIndex:
    """Products with cumulative choice weights: popularity ** skew (the catalog's popularity is Zipf-like)."""

    products: tuple[Product, ...]
    cum_weights: tuple[float, ...]
    event_products: tuple[dict[str, Any], ...]
    categories: tuple[str, ...]
    by_category: dict[str, tuple[int, ...]]

    @classmethod
    def build(cls, products: Sequence[Product], skew: float) -> CatalogIndex:
        if not products:
            raise ValueError("the catalog has no products")
        ranked = sorted(products, key=lambda p: (-p.popularity, p.product_id))
        weights = [p.popularity**skew for p in ranked]
        categories = tuple(sorted({p.category for p in ranked}))
        by_category = {c: tuple(i for i, p in enumerate(ranked) if p.category == c) for c in categories}
        return cls(
            products=tuple(ranked),
            cum_weights=tuple(itertools.accumulate(weights)),
            event_products=tuple(p.as_event_product() for p in ranked),
            categories=categories,
            by_category=by_category,
        )

    def pick(self, rng: random.Random) -> int:
        x = rng.random() * self.cum_weights[-1]
        return min(bisect.bisect_right(self.cum_weights, x), len(self.products) - 1)


def rng_uuid(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng` (deterministic, unlike uuid.uuid4)."""
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64)) | (0x4000 << 64)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def user_uuid(seed: int, kind: str, number: int) -> str:
    """Stable id of registered user `number` (looks like a Cognito `sub`)."""
    h = hashlib.sha256(f"{seed}:{kind}:{number}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=65536)
def _minute_text(minute: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))


def iso_ms(ts_ms: int) -> str:
    """Epoch milliseconds -> RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:34:56.789Z."""
    minute, rest = divmod(ts_ms, 60_000)
    return f"{_minute_text(minute)}{rest // 1000:02d}.{rest % 1000:03d}Z"


class _Session:
    """Builds one session's valid events in time order (state of one browser tab)."""

    def __init__(self, sim: _ClientSim, start_ms: int) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.t = start_ms
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.session_id = rng_uuid(self.rng) if sim.cfg.include_session_id else None
        self.page: dict[str, Any] | None = None
        self.path: str | None = None

    # time
    def dwell(self) -> None:
        """Time spent reading a page before the next click (log-normal, capped below the session timeout)."""
        seconds = math.exp(self.rng.gauss(math.log(25.0), 1.0))
        self.t += int(min(max(seconds, 1.0), self.sim.cfg.max_dwell_s) * 1000)

    def beat(self) -> None:
        self.t += self.rng.randint(150, 2500)

    # events
    def emit(self, name: str, product: dict[str, Any] | None = None, **extra: Any) -> None:
        sim = self.sim
        ev: dict[str, Any] = {
            "event_name": name,
            "event_id": rng_uuid(self.rng),
            "client_id": sim.client_id,
            "event_timestamp": iso_ms(self.t),
            "session_id": self.session_id,
            "user_id": sim.user_id if sim.logged_in else None,
            "user_login_state": "logged_in" if sim.logged_in else "logged_out",
            "identity_source": "cognito" if sim.logged_in else None,
            "page": self.page,
        }
        if product is not None:
            ev["product"] = product
        ev.update(extra)
        self.events.append((self.t, ev))

    def visit(self, path: str, title: str, referrer: str | None = None, *, first: bool = False,
              query: str = "") -> None:
        """A page view; the landing page (``first``) has the session's referrer and campaign parameters."""
        if not first:
            self.dwell()
            referrer = self.sim.cfg.site_origin + (self.path or "/")
        self.path = path
        self.page = {"url_path": path + query, "referrer": referrer, "title": f"{title} | Compushop"}
        self.emit("page_view")

    def view_product(self, idx: int, *, first: bool = False, referrer: str | None = None, query: str = "") -> None:
        product = self.sim.catalog.products[idx]
        self.visit(product.url_path, product.name, referrer, first=first, query=query)
        self.beat()
        self.emit("view_item", self.sim.catalog.event_products[idx])

    def login(self) -> None:
        self.visit("/account/login", "Sign in")
        self.dwell()
        self.sim.logged_in = True
        self.emit("login")

    def sign_up(self) -> None:
        self.visit("/account/sign-up", "Create account")
        self.dwell()
        sim = self.sim
        sim.user_id = rng_uuid(self.rng)
        sim.registered = True
        sim.logged_in = True
        self.emit("sign_up")


@functools.lru_cache(maxsize=64)
def _members(seed: int, audience_seed: int, size: int, count: int) -> tuple[int, ...]:
    """The audience members a run's first ``count`` clients are: a sample without repeats, its own for each run."""
    return tuple(random.Random(f"{seed}:{audience_seed}:audience").sample(range(size), count)) if count else ()


class _ClientSim:
    """One browser (client_id) over the window: identity, sessions and their events."""

    def __init__(self, cfg: TrafficConfig, catalog: CatalogIndex, index: int, start_ms: int, end_ms: int) -> None:
        self.cfg = cfg
        self.catalog = catalog
        self.index = index
        self.rng = random.Random(f"{cfg.seed}:client:{index}")
        self.start_ms, self.end_ms = start_ms, end_ms
        # an audience member (config.audience_*): its identity is the member's in every run
        self.member: int | None = None
        identity, user_seed, users = self.rng, cfg.seed, cfg.clients
        members = _members(cfg.seed, cfg.audience_seed, cfg.audience_size,
                           min(cfg.audience_size, round(cfg.clients * cfg.audience_share)))
        if index < len(members):
            self.member = members[index]
        if self.member is not None:
            identity = random.Random(f"{cfg.audience_seed}:member:{self.member}")
            user_seed, users = cfg.audience_seed, cfg.audience_size
        self.client_id = rng_uuid(identity)
        self.registered = identity.random() < cfg.registered
        self.user_id: str | None = None
        if self.registered:
            pool = max(1, round(users * cfg.registered * cfg.users_per_registered_client))
            self.user_id = user_uuid(user_seed, "user", identity.randrange(pool))
        self.logged_in = False

    def first_session_start(self) -> int:
        # a member's sessions of an earlier run end before this run's window: starting more than the session gap
        # into it keeps them separate sessions
        start = self.start_ms + (self.cfg.session_gap_min_s * 1000 if self.member is not None else 0)
        span = max(0, self.end_ms - start)
        while True:  # rejection sampling against the daily activity curve
            t = start + int(self.rng.random() * span)
            if self.rng.random() < HOURLY_ACTIVITY[(t // 3_600_000) % 24]:
                return t

    def sessions(self) -> list[list[tuple[int, dict[str, Any]]]]:
        cfg, rng = self.cfg, self.rng
        out: list[list[tuple[int, dict[str, Any]]]] = []
        t = self.first_session_start()
        for _ in range(cfg.max_sessions_per_client):
            events = self.session(t)
            if events[-1][0] > self.end_ms:
                break  # would run past the window's end ("now"): the visit has not happened yet
            out.append(events)
            if rng.random() >= cfg.returning:
                break
            t = events[-1][0] + (cfg.session_gap_min_s + int(rng.expovariate(1.0 / cfg.session_gap_mean_s))) * 1000
            if t > self.end_ms:
                break
        return out

    def session(self, start_ms: int) -> list[tuple[int, dict[str, Any]]]:
        cfg, rng, catalog = self.cfg, self.rng, self.catalog
        funnel = cfg.funnel
        self.logged_in = self.registered and rng.random() < cfg.remembered_login
        views = rng.random() < funnel.view_item
        s = _Session(self, start_ms)
        referrer, query = self.entry()
        landing = rng.random()
        viewed: list[int] = []
        if landing < cfg.search:
            term = rng.choice(SEARCH_WORDS)
            s.visit("/search", f"Search: {term}", referrer, first=True, query=query)
            s.beat()
            s.emit("search", search_term=term)
        elif views and landing < cfg.search + (1 - cfg.search) * 0.3:
            idx = catalog.pick(rng)  # straight onto a product page from a search engine or an ad
            s.view_product(idx, first=True, referrer=referrer, query=query)
            viewed.append(idx)
        elif landing < cfg.search + (1 - cfg.search) * 0.65:
            s.visit("/", "Home", referrer, first=True, query=query)
        else:
            category = rng.choice(catalog.categories)
            s.visit(f"/products/{category}", category.title(), referrer, first=True, query=query)
        if self.registered and not self.logged_in and rng.random() < cfg.login:
            s.login()
        if views:
            wanted = 1
            while rng.random() > 1.0 / cfg.mean_product_views and wanted < 30:
                wanted += 1
            while len(viewed) < wanted:
                idx = catalog.pick(rng)
                if rng.random() < 0.4:
                    category = catalog.products[idx].category
                    s.visit(f"/products/{category}", category.title())
                s.view_product(idx)
                viewed.append(idx)
            if rng.random() < funnel.add_to_cart:
                self.shop(s, viewed)
                return s.events
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            path, title = rng.choice(STATIC_PAGES)
            s.visit(path, title)
        return s.events

    def entry(self) -> tuple[str | None, str]:
        """How a session arrives: its referrer and its landing page's query string ("" or "?utm_source=...")."""
        cfg, rng = self.cfg, self.rng
        if cfg.campaign is not None and rng.random() < cfg.campaign_share:
            params = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": cfg.campaign}
            return None, "?" + urllib.parse.urlencode(params)
        x = rng.random() * _CHANNEL_CUM[-1]
        _, _, referrers, queries = CHANNEL_MIX[min(bisect.bisect_right(_CHANNEL_CUM, x), len(CHANNEL_MIX) - 1)]
        referrer = rng.choice(referrers)
        params = rng.choice(queries)
        if not params:
            return referrer, ""
        params = {k: (f"{rng.getrandbits(80):020x}" if v == "{gclid}" else v) for k, v in params.items()}
        return referrer, "?" + urllib.parse.urlencode(params)

    def shop(self, s: _Session, viewed: list[int]) -> None:
        """add_to_cart -> (begin_checkout -> (purchase)), one product event per cart line."""
        cfg, rng, catalog = self.cfg, self.rng, self.catalog
        cart = [viewed[-1]]
        others = [i for i in dict.fromkeys(viewed) if i != viewed[-1]]
        if others and rng.random() < 0.25:
            cart.append(rng.choice(others))
        lines: list[tuple[int, int]] = []
        for n, idx in enumerate(cart):
            if n > 0:
                s.view_product(idx)
            s.dwell()
            quantity = rng.randint(1, cfg.max_quantity)
            s.emit("add_to_cart", catalog.event_products[idx], quantity=quantity)
            lines.append((idx, quantity))
        s.visit("/cart", "Cart")
        if rng.random() >= cfg.funnel.begin_checkout:
            return
        if not self.logged_in:
            if self.registered:
                if rng.random() < cfg.login:
                    s.login()
            elif rng.random() < cfg.sign_up:
                s.sign_up()
        s.visit("/checkout", "Checkout")
        for idx, quantity in lines:
            s.beat()
            s.emit("begin_checkout", catalog.event_products[idx], quantity=quantity)
        if rng.random() >= cfg.funnel.purchase:
            return
        s.dwell()
        s.visit("/checkout/confirmation", "Thank you for your order")
        order_id = "ord-" + rng_uuid(rng)[:18]
        for idx, quantity in lines:
            s.beat()
            s.emit("purchase", catalog.event_products[idx], order_id=order_id, quantity=quantity)


def break_event(event: dict[str, Any], reason: str) -> Any:
    """A copy of a valid event damaged in the way `reason` names (the original is not touched)."""
    bad = copy.deepcopy(event)
    bad["event_id"] = None  # a malformed event never shares an event_id with a valid one
    if reason == "missing_client_id":
        del bad["client_id"]
    elif reason == "missing_event_name":
        del bad["event_name"]
    elif reason == "bad_event_name":
        bad["event_name"] = "Add To Cart!"
    elif reason == "bad_event_timestamp":
        bad["event_timestamp"] = "yesterday at noon"
    elif reason == "unknown_field":
        bad["colour"] = "blue"
    elif reason == "negative_price":
        bad["product"] = {"id": 1, "name": "broken", "price": -5}
    elif reason == "page_view_without_page":
        bad["event_name"] = "page_view"
        del bad["page"]
    elif reason == "not_an_object":
        return f"{bad.get('event_name')} {bad.get('client_id')}"
    else:
        raise ValueError(f"unknown malformed reason {reason!r}")
    return bad


def batch_client(
    cfg: TrafficConfig, rng: random.Random, index: int, events: list[tuple[int, dict[str, Any]]]
) -> list[Batch]:
    """Group a client's events as its tracker would flush them, adding malformed events and re-sends."""
    flush_ms = cfg.flush_interval_s * 1000
    batches: list[Batch] = []
    current: list[Emitted] = []
    opened = 0
    pending_dups: list[Emitted] = []

    def close() -> None:
        last = current[-1].ts_ms
        for start in range(0, len(current), cfg.batch_max):
            batches.append(Batch(index, last + rng.randint(5, 1500), current[start : start + cfg.batch_max]))

    for ts, ev in events:
        if current and (ts - opened > flush_ms or len(current) >= cfg.batch_max):
            close()
            current = []
        if not current:
            opened = ts
            current.extend(pending_dups)
            pending_dups = []
        current.append(Emitted(VALID, ev, ts))
        if rng.random() < cfg.malformed:
            reason = rng.choice(MALFORMED_REASONS)
            current.append(Emitted(MALFORMED, break_event(ev, reason), ts, reason))
        if rng.random() < cfg.duplicate:
            pending_dups.append(Emitted(DUPLICATE, ev, ts))
    if current:
        close()
    if pending_dups:  # re-sent once more after the last flush (a retry whose first answer was lost)
        last = batches[-1].sent_ms
        for start in range(0, len(pending_dups), cfg.batch_max):
            batches.append(Batch(index, last + 2000, pending_dups[start : start + cfg.batch_max]))
    return batches


def simulate_client(cfg: TrafficConfig, catalog: CatalogIndex, index: int) -> ClientTraffic:
    """Client `index` of the run `cfg` (resolved: start and end set), independent of every other client."""
    assert cfg.start is not None and cfg.end is not None, "use TrafficConfig.resolved()"
    start_ms, end_ms = int(cfg.start.timestamp() * 1000), int(cfg.end.timestamp() * 1000)
    sim = _ClientSim(cfg, catalog, index, start_ms, end_ms)
    events = [e for session in sim.sessions() for e in session]
    return ClientTraffic(index, sim.client_id, batch_client(cfg, sim.rng, index, events), sim.member is not None)


def iter_clients(
    cfg: TrafficConfig, products: Sequence[Product], indexes: range | None = None
) -> Iterator[ClientTraffic]:
    """Clients in index order; streaming (one client in memory at a time). Clients without events are skipped."""
    catalog = CatalogIndex.build(products, cfg.popularity_skew)
    for index in indexes if indexes is not None else range(cfg.clients):
        client = simulate_client(cfg, catalog, index)
        if client.batches:
            yield client
