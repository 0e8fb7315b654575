"""A session's acquisition (clickstream_etl/acquisition.py) and device: the hand-checked golden set of GA4's default
channel groups, and the sessions the ETL writes -- a session continued across two runs keeps its landing event's
acquisition, a late event that becomes a session's first event gives it its own, a late event that merges two
sessions leaves the earlier one's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from clickstream_etl.acquisition import CHANNEL_GROUPS, VALUE_MAX, acquisition, channel_group

from .helpers import event_line, ndjson, object_key

# (landing page URL path with its query, referrer) -> (source, medium, campaign, channel group), each checked by
# hand against GA4's documented rules ("[GA4] Default channel group", "[GA4] Traffic-source dimensions").
GOLDEN = [
    # nothing: direct
    (("/", None), ("(direct)", "(none)", "(direct)", "Direct")),
    (("/laptops", ""), ("(direct)", "(none)", "(direct)", "Direct")),
    # campaign name with cross-network, before the paid channels
    (("/?utm_source=google&utm_medium=cpc&utm_campaign=pmax-cross-network", None),
     ("google", "cpc", "pmax-cross-network", "Cross-network")),
    # a shopping site with a paid medium; a paid medium with a shopping campaign name
    (("/?utm_source=amazon&utm_medium=cpc&utm_campaign=q2", None), ("amazon", "cpc", "q2", "Paid Shopping")),
    (("/?utm_source=partner&utm_medium=paid&utm_campaign=spring_shopping", None),
     ("partner", "paid", "spring_shopping", "Paid Shopping")),
    # gclid: google / cpc, over the UTM tags and the referrer (the UTM campaign is kept)
    (("/laptops?gclid=EAIaIQobChMI&utm_source=newsletter&utm_medium=email&utm_campaign=spring",
      "https://www.google.com/"), ("google", "cpc", "spring", "Paid Search")),
    (("/?gclid=abc", None), ("google", "cpc", "(not set)", "Paid Search")),
    (("/?utm_source=bing&utm_medium=ppc", None), ("bing", "ppc", "(not set)", "Paid Search")),
    (("/?utm_source=facebook&utm_medium=paid_social&utm_campaign=spring", None),
     ("facebook", "paid_social", "spring", "Paid Social")),
    (("/?utm_source=youtube&utm_medium=cpv", None), ("youtube", "cpv", "(not set)", "Paid Video")),
    (("/?utm_source=dv360&utm_medium=display&utm_campaign=brand", None), ("dv360", "display", "brand", "Display")),
    (("/?utm_source=adnet&utm_medium=banner", None), ("adnet", "banner", "(not set)", "Display")),
    (("/?utm_source=adnet&utm_medium=retargeting", None), ("adnet", "retargeting", "(not set)", "Paid Other")),
    # shopping site or shopping campaign without a paid medium
    (("/", "https://www.ebay.com/itm/1"), ("ebay.com", "referral", "(referral)", "Organic Shopping")),
    (("/?utm_source=partner&utm_medium=feed&utm_campaign=summer-shop", None),
     ("partner", "feed", "summer-shop", "Organic Shopping")),
    # social: a referrer on a social site (its host is the source), a social medium
    (("/", "https://l.facebook.com/l.php?u=x"), ("l.facebook.com", "referral", "(referral)", "Organic Social")),
    (("/", "https://t.co/abc"), ("t.co", "referral", "(referral)", "Organic Social")),
    (("/?utm_source=instagram&utm_medium=social", None), ("instagram", "social", "(not set)", "Organic Social")),
    (("/?utm_source=club&utm_medium=social-network", None), ("club", "social-network", "(not set)",
                                                              "Organic Social")),
    (("/", "https://www.youtube.com/watch?v=1"), ("youtube.com", "referral", "(referral)", "Organic Video")),
    (("/?utm_source=vendor&utm_medium=video", None), ("vendor", "video", "(not set)", "Organic Video")),
    # a search engine's results page: the engine's name, organic
    (("/", "https://www.google.de/"), ("google", "organic", "(organic)", "Organic Search")),
    (("/", "https://www.google.co.uk/search?q=laptop"), ("google", "organic", "(organic)", "Organic Search")),
    (("/", "https://duckduckgo.com/"), ("duckduckgo", "organic", "(organic)", "Organic Search")),
    (("/?utm_source=portal&utm_medium=organic", None), ("portal", "organic", "(not set)", "Organic Search")),
    # any other site
    (("/", "https://blog.example.org/best-laptops"), ("blog.example.org", "referral", "(referral)", "Referral")),
    (("/", "android-app://com.google.android.gm/"),
     ("com.google.android.gm", "referral", "(referral)", "Referral")),
    # UTM tags over the referrer
    (("/?utm_source=newsletter&utm_medium=email&utm_campaign=spring", "https://mail.example.com/"),
     ("newsletter", "email", "spring", "Email")),
    (("/?utm_source=e-mail&utm_medium=crm", None), ("e-mail", "crm", "(not set)", "Email")),
    (("/?utm_source=partner-42&utm_medium=affiliate", None), ("partner-42", "affiliate", "(not set)", "Affiliates")),
    (("/?utm_source=spotify&utm_medium=audio", None), ("spotify", "audio", "(not set)", "Audio")),
    (("/?utm_source=sms&utm_medium=text", None), ("sms", "text", "(not set)", "SMS")),
    (("/?utm_source=app&utm_medium=web-push", None), ("app", "web-push", "(not set)", "Mobile Push Notifications")),
    (("/?utm_source=foo&utm_medium=bar", None), ("foo", "bar", "(not set)", "Unassigned")),
    (("/?utm_campaign=spring", None), ("(not set)", "(not set)", "spring", "Unassigned")),
    # case: values kept as sent, compared without case; names of the parameters without case
    (("/?UTM_SOURCE=Google&utm_medium=CPC", None), ("Google", "CPC", "(not set)", "Paid Search")),
    # percent-encoding decoded, control characters (a NUL the warehouse cannot store) removed, the first value wins
    (("/?utm_source=news%20letter&utm_source=other&utm_medium=e-mail&utm_campaign=a%09b%00c", None),
     ("news letter", "e-mail", "abc", "Email")),
    # empty tags are absent
    (("/?utm_source=&utm_medium=", "https://www.bing.com/"), ("bing", "organic", "(organic)", "Organic Search")),
]


@pytest.mark.parametrize(("landing", "expected"), GOLDEN, ids=[f"{e[3]}:{lp[0]}" for lp, e in GOLDEN])
def test_golden_channels(landing, expected):
    assert tuple(acquisition(*landing)) == expected


def test_every_ga4_channel_group_is_in_the_golden_set():
    assert {e[3] for _, e in GOLDEN} == set(CHANNEL_GROUPS)


def test_values_are_cut_to_ga4s_length():
    got = acquisition("/?utm_source=s&utm_medium=email&utm_campaign=" + "x" * 300, None)
    assert got.campaign == "x" * VALUE_MAX and got.channel_group == "Email"


def test_direct_needs_both_source_and_medium():
    assert channel_group("(direct)", "(none)", "(not set)") == "Direct"
    assert channel_group("(direct)", "email", "(not set)") == "Email"


# --- the sessions the ETL writes ----------------------------------------------------------------------------------

T = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
MOBILE = ("mobile", "Mobile Safari", "iOS")
DESKTOP = ("desktop", "Chrome", "Windows")
TABLET = ("tablet", "Chrome", "Android")
EMAIL_LANDING = "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring"


def _sessions(world, client: str) -> list[tuple]:
    return world.query("SELECT session_start, event_count, landing_page, source, medium, campaign, channel_group, "
                       "device_category, browser FROM dw.sessions WHERE client_id = %s ORDER BY session_start",
                       (client,))


def _run(world, name: str, lines: list[dict]) -> None:
    world.put(object_key(T + timedelta(hours=1), name), ndjson(lines))
    result = world.run_cli()
    assert result["status"] == "succeeded" and result["events_loaded"] == len(lines), result


@pytest.mark.integration
def test_a_session_continued_in_a_second_run_keeps_its_landing_events_acquisition(world):
    _run(world, "r1", [event_line("page_view", "k1", T, page=EMAIL_LANDING, referrer="https://mail.example.com/",
                                  device=MOBILE)])
    _run(world, "r2", [event_line("page_view", "k1", T + timedelta(minutes=5), page="/laptops",
                                  referrer="https://www.google.com/", device=DESKTOP),
                       event_line("view_item", "k1", T + timedelta(minutes=6), page="/laptops?utm_source=x",
                                  product={"id": "p1"}, device=DESKTOP)])
    assert _sessions(world, "k1") == [(T, 3, EMAIL_LANDING, "newsletter", "email", "spring", "Email", "mobile",
                                       "Mobile Safari")]


@pytest.mark.integration
def test_a_late_event_that_becomes_the_first_gives_the_session_its_acquisition(world):
    _run(world, "r1", [event_line("page_view", "k2", T + timedelta(minutes=10), page="/", device=DESKTOP),
                       event_line("page_view", "k2", T + timedelta(minutes=12), page="/deals", device=DESKTOP)])
    assert _sessions(world, "k2")[0][3:7] == ("(direct)", "(none)", "(direct)", "Direct")
    _run(world, "r2", [event_line("page_view", "k2", T, page="/laptops", referrer="https://www.google.com/",
                                  device=TABLET)])
    assert _sessions(world, "k2") == [(T, 3, "/laptops", "google", "organic", "(organic)", "Organic Search",
                                       "tablet", "Chrome")]


@pytest.mark.integration
def test_late_events_merge_sessions_and_start_a_later_one_earlier(world):
    """Two sessions 50 min apart; a late event between them merges them (the first one's acquisition stays), and a
    late event before a third session starts it earlier with its own acquisition."""
    _run(world, "r1", [
        event_line("page_view", "k3", T, page="/", referrer="https://l.facebook.com/", device=MOBILE),
        event_line("page_view", "k3", T + timedelta(minutes=50), page=EMAIL_LANDING, device=DESKTOP),
        event_line("page_view", "k3", T + timedelta(hours=3), page="/?utm_source=partner&utm_medium=affiliate",
                   device=DESKTOP),
    ])
    assert [s[6] for s in _sessions(world, "k3")] == ["Organic Social", "Email", "Affiliates"]
    _run(world, "r2", [
        event_line("page_view", "k3", T + timedelta(minutes=25), page="/deals", device=DESKTOP),
        event_line("page_view", "k3", T + timedelta(hours=3) - timedelta(minutes=10), page="/",
                   referrer="https://duckduckgo.com/", device=TABLET),
    ])
    assert _sessions(world, "k3") == [
        (T, 3, "/", "l.facebook.com", "referral", "(referral)", "Organic Social", "mobile", "Mobile Safari"),
        (T + timedelta(hours=3) - timedelta(minutes=10), 2, "/", "duckduckgo", "organic", "(organic)",
         "Organic Search", "tablet", "Chrome"),
    ]
