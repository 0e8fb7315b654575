"""A session's acquisition: its source, medium, campaign and GA4 default channel group, from its landing event.

The landing event is the session's first event (by time, then event id). Its page URL (``page.url_path``, which
holds the page's query string as the browser's location has it) and its referrer (``page.referrer``) decide, in
this order (GA4's "traffic source dimensions"):

1. a Google Ads click id (``gclid``): source ``google``, medium ``cpc`` (auto-tagging wins over manual tags, as
   GA4's default), campaign ``utm_campaign`` or ``(not set)``;
2. any of ``utm_source`` / ``utm_medium`` / ``utm_campaign``: those values, ``(not set)`` for a missing one;
3. a referrer on a search engine (``SEARCH``): source the engine's name, medium ``organic``, campaign ``(organic)``;
4. any other referrer: source its host (without ``www.``), medium ``referral``, campaign ``(referral)``;
5. nothing: source ``(direct)``, medium ``(none)``, campaign ``(direct)``.

Values are stored as sent (trimmed, control characters removed, at most ``VALUE_MAX`` characters: GA4's own limit
on a parameter value); the channel rules compare them without case.

``channel_group`` is GA4's default channel group, rule for rule and in GA4's order of evaluation ("[GA4] Default
channel group", Google Analytics Help): ``CHANNEL_RULES``. GA4 matches sources against Google's list of source
categories (search, social, shopping, video sites); ``SEARCH`` / ``SOCIAL`` / ``SHOPPING`` / ``VIDEO`` below hold the
main sites of each category from that list (no maintained library of it exists on PyPI: referer-parser's data was
last released in 2016). A dotless entry matches a source with that name or a host that has it as a label before
its top-level domain (``google`` matches ``google``, ``google.de``, ``www.google.co.uk``: ``_site``); an entry
with a dot matches that host exactly (``t.co``).

A load sees the same few landing pages, referrers and campaigns again and again: the answers are kept
(``functools.lru_cache``), so a session costs a dictionary lookup, not a URL parse and the channel rules.

The session's source is its own landing event's: GA4's *session* source with last non-direct attribution across
sessions is an attribution model, not this rule.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

VALUE_MAX = 100
DIRECT = "(direct)"
NONE = "(none)"
NOT_SET = "(not set)"
ORGANIC = "organic"
REFERRAL = "referral"

# Google's source categories (main sites of each). The value is the source's name for a search engine.
SEARCH = frozenset((
    "google", "bing", "yahoo", "duckduckgo", "baidu", "yandex", "ecosia", "naver", "seznam", "qwant", "startpage",
    "ask", "aol", "so.com", "sogou", "daum", "brave", "msn", "ya.ru", "perplexity",
))
SOCIAL = frozenset((
    "facebook", "fb", "fb.com", "fb.me", "m.facebook.com", "l.facebook.com", "lm.facebook.com", "instagram", "ig",
    "linkedin", "lnkd.in", "twitter", "t.co", "x.com", "pinterest", "reddit", "tiktok", "snapchat", "tumblr",
    "quora", "vk", "weibo", "whatsapp", "telegram", "t.me", "threads.net", "discord", "messenger", "mastodon",
    "bsky.app", "nextdoor", "xing", "line",
))
SHOPPING = frozenset((
    "amazon", "ebay", "etsy", "walmart", "aliexpress", "alibaba", "shopify", "target", "bestbuy", "idealo",
    "google shopping", "shopping.google.com", "shopzilla", "pricerunner",
))
VIDEO = frozenset((
    "youtube", "youtu.be", "m.youtube.com", "vimeo", "twitch", "dailymotion", "wistia", "netflix", "disneyplus",
    "hulu", "crackle",
))

_PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
_EMAIL = re.compile(r"^(email|e-mail|e_mail|e mail)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DISPLAY_MEDIA = frozenset(("display", "banner", "expandable", "interstitial", "cpm"))
_SOCIAL_MEDIA = frozenset(("social", "social-network", "social-media", "sm", "social network", "social media"))
_REFERRAL_MEDIA = frozenset(("referral", "app", "link"))


class Acquisition(NamedTuple):
    source: str
    medium: str
    campaign: str
    channel_group: str


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = _CONTROL.sub("", value).strip()[:VALUE_MAX].strip()
    return value or None


# second-level labels under which a country registers names (google.co.uk, google.com.br)
_SECOND_LEVEL = frozenset(("co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "go"))


def _site(source: str) -> str:
    """The name of the site a source names: the label before a host's top-level domain (and before a country's
    second-level domain), else the source itself: ``l.facebook.com`` -> ``facebook``, ``www.google.co.uk`` ->
    ``google``, ``com.google.android.gm`` (an app) -> ``android``, ``newsletter`` -> ``newsletter``."""
    parts = source.split(".")
    if len(parts) < 2:
        return source
    if len(parts) > 2 and parts[-2] in _SECOND_LEVEL:
        return parts[-3]
    return parts[-2]


def _in(source: str, sites: frozenset[str]) -> bool:
    return source in sites or _site(source) in sites


def _search_engine(host: str) -> str | None:
    """The search engine's name of a referrer host, or None."""
    return _site(host) if _in(host, SEARCH) else None


def _query(url_path: str | None) -> dict[str, str]:
    """The first value of each parameter of the page's query string (names without case)."""
    if not url_path or "?" not in url_path:
        return {}
    query = urlsplit(url_path).query
    out: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=False):
        out.setdefault(key.lower(), value)
    return out


@functools.lru_cache(maxsize=4096)
def _host(referrer: str | None) -> tuple[str | None, bool]:
    """The referrer's host without ``www.`` (None without one), and whether it is a web page (http/https: only
    those can be a search engine's results; ``android-app://com.google.android.gm`` is an app)."""
    if not referrer:
        return None, False
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:
        return None, False
    if not host:
        return None, False
    return _clean(host.removeprefix("www.")), parts.scheme in ("http", "https")


def source_medium_campaign(url_path: str | None, referrer: str | None) -> tuple[str, str, str]:
    """The (source, medium, campaign) of a landing event's page URL and referrer (the module's rules 1-5)."""
    params = _query(url_path)
    campaign = _clean(params.get("utm_campaign"))
    if _clean(params.get("gclid")):
        return "google", "cpc", campaign or NOT_SET
    source, medium = _clean(params.get("utm_source")), _clean(params.get("utm_medium"))
    if source or medium or campaign:
        return source or NOT_SET, medium or NOT_SET, campaign or NOT_SET
    host, web = _host(referrer)
    if host is not None:
        engine = _search_engine(host) if web else None
        if engine is not None:
            return engine, ORGANIC, "(organic)"
        return host, REFERRAL, "(referral)"
    return DIRECT, NONE, DIRECT


def _paid(m: str) -> bool:
    return _PAID_MEDIUM.match(m) is not None


def _shop_campaign(c: str) -> bool:
    return _SHOP_CAMPAIGN.match(c) is not None


# GA4's default channel group, in GA4's order of evaluation: (channel, condition on lower-cased source, medium,
# campaign). The first that holds names the channel; none: Unassigned.
CHANNEL_RULES: tuple[tuple[str, object], ...] = (
    ("Direct", lambda s, m, c: s == DIRECT and m in (NOT_SET, NONE)),
    ("Cross-network", lambda s, m, c: "cross-network" in c),
    ("Paid Shopping", lambda s, m, c: (_in(s, SHOPPING) or _shop_campaign(c)) and _paid(m)),
    ("Paid Search", lambda s, m, c: _in(s, SEARCH) and _paid(m)),
    ("Paid Social", lambda s, m, c: _in(s, SOCIAL) and _paid(m)),
    ("Paid Video", lambda s, m, c: _in(s, VIDEO) and _paid(m)),
    ("Display", lambda s, m, c: m in _DISPLAY_MEDIA),
    ("Paid Other", lambda s, m, c: _paid(m)),
    ("Organic Shopping", lambda s, m, c: _in(s, SHOPPING) or _shop_campaign(c)),
    ("Organic Social", lambda s, m, c: _in(s, SOCIAL) or m in _SOCIAL_MEDIA),
    ("Organic Video", lambda s, m, c: _in(s, VIDEO) or "video" in m),
    ("Organic Search", lambda s, m, c: _in(s, SEARCH) or m == ORGANIC),
    ("Referral", lambda s, m, c: m in _REFERRAL_MEDIA),
    ("Email", lambda s, m, c: _EMAIL.match(s) is not None or _EMAIL.match(m) is not None),
    ("Affiliates", lambda s, m, c: m == "affiliate"),
    ("Audio", lambda s, m, c: m == "audio"),
    ("SMS", lambda s, m, c: s == "sms" or m == "sms"),
    ("Mobile Push Notifications", lambda s, m, c: m.endswith("push") or "mobile" in m or "notification" in m
     or s == "firebase"),
)
UNASSIGNED = "Unassigned"
CHANNEL_GROUPS = (*(name for name, _ in CHANNEL_RULES), UNASSIGNED)


@functools.lru_cache(maxsize=4096)
def channel_group(source: str, medium: str, campaign: str) -> str:
    """GA4's default channel group of a (source, medium, campaign)."""
    s, m, c = source.lower(), medium.lower(), campaign.lower()
    for name, holds in CHANNEL_RULES:
        if holds(s, m, c):  # type: ignore[operator]
            return name
    return UNASSIGNED


@functools.lru_cache(maxsize=16384)
def acquisition(url_path: str | None, referrer: str | None) -> Acquisition:
    """The acquisition of a session whose landing event has this page URL and referrer."""
    source, medium, campaign = source_medium_campaign(url_path, referrer)
    return Acquisition(source, medium, campaign, channel_group(source, medium, campaign))
