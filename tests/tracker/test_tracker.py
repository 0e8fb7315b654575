"""files/tracker/clickstream.js in headless chromium against the real ingest endpoint writing to the emulator's S3."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
from traffic.browser import DemoShop, read_event_lines, run_browser_journey, tracked, wait_for_events

pytestmark = pytest.mark.integration
KEY = re.compile(r"^events/\d{4}/\d{2}/\d{2}/\d{2}/events-[0-9a-f-]{36}\.json$")


def _new_page(browser):
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_journey_through_the_local_ingest_server_lands_in_s3(browser, aws_env, ingest_process):
    """The end-to-end helper, against `python -m clickstream_local.ingest_server` as the services run it."""
    with DemoShop(endpoint=ingest_process["url"], port=ingest_process["page_port"]) as shop:
        journey = run_browser_journey(browser, shop)
    assert journey.page_errors == []
    assert journey.counts == Counter(
        {"page_view": 6, "view_item": 1, "add_to_cart": 1, "login": 1, "begin_checkout": 1, "purchase": 1}
    )
    s3 = aws_env.client("s3")
    lines = wait_for_events(s3, ingest_process["bucket"], journey.event_ids)
    assert len(lines) == len(journey.events)  # each event stored exactly once
    product = shop.products[0]
    by_id = {line["event_id"]: line for line in lines}
    for sent in journey.events:
        line = by_id[sent["event_id"]]
        assert KEY.match(line["_key"])
        assert line["client_id"] == journey.client_id
        assert line["event_name"] == sent["event_name"]
        assert line["event_timestamp"] == sent["event_timestamp"]
        assert line["page"]["url_path"] == sent["page"]["url_path"]
        assert line["page"]["title"].endswith("| Compushop")
        assert "HeadlessChrome" in (line["user_agent"] or "")
        assert line["source_ip_prefix"] == "127.0.0.0/24"
        # the ingest's device of the browser's User-Agent (headless Chrome on Linux)
        assert (line["device_category"], line["browser"], line["operating_system"]) == (
            "desktop", "HeadlessChrome", "Linux")
        # a navigation within the shop sends no referrer (the session would be a referral from itself)
        assert line["page"]["referrer"] is None or not line["page"]["referrer"].startswith(shop.url("/"))
        if sent["event_name"] in ("view_item", "add_to_cart", "begin_checkout", "purchase"):
            assert line["product"] == {**product.as_event_product(), "id": str(product.product_id)}
    purchase = next(line for line in lines if line["event_name"] == "purchase")
    assert purchase["user_id"] == "demo-user-1" and purchase["user_login_state"] == "logged_in"
    assert purchase["identity_source"] == "cognito" and purchase["order_id"].startswith("ord-")
    first = next(line for line in lines if line["page"]["url_path"] == "/")
    assert first["user_id"] is None and first["user_login_state"] == "logged_out"
    assert len({line["session_id"] for line in lines}) == 1  # one frontend session across six page loads
    assert read_event_lines(s3, ingest_process["bucket"], prefix="rejected/") == []  # the contract is respected


def test_client_id_is_stable_across_page_loads_and_batches_are_one_object_per_request(
    browser, aws_env, raw_bucket, shop_and_ingest
):
    shop, ingest = shop_and_ingest
    shop.tracker_config.update(batchSize=5, flushInterval=60_000, autoPageView=False)
    context, page, errors = _new_page(browser)
    page.goto(shop.url("/"))
    first_id = page.evaluate("clickstream.clientId()")
    ids = page.evaluate("""() => { const out = [];
        for (let i = 0; i < 12; i++) out.push(clickstream.track('search', {search_term: 'ssd ' + i}));
        return out; }""")
    _wait(lambda: page.evaluate("clickstream.stats().sent") == 10, what="two full batches")
    assert page.evaluate("clickstream.stats().queued") == 2  # the rest waits for the timer or page hide
    page.goto(shop.url("/cart"))  # pagehide -> beacon with the last 2; the new page sends a page_view later
    assert page.evaluate("clickstream.clientId()") == first_id
    page.evaluate("clickstream.track('page_view')")
    page.evaluate("clickstream.flush()")
    _wait(lambda: page.evaluate("clickstream.stats().sent") == 1, what="second page flush")
    context.close()
    lines = wait_for_events(aws_env.client("s3"), raw_bucket, ids)
    assert {line["client_id"] for line in read_event_lines(aws_env.client("s3"), raw_bucket)} == {first_id}
    per_object = Counter(line["_key"] for line in lines)
    assert sorted(per_object.values()) == [2, 5, 5]
    assert [p["body"].count("event_id") for p in ingest.posts()][:3] == [5, 5, 2]
    assert errors == []


def test_events_queued_at_page_hide_leave_by_send_beacon(browser, aws_env, raw_bucket, shop_and_ingest):
    shop, ingest = shop_and_ingest
    shop.tracker_config.update(flushInterval=600_000)  # the timer never fires in this test
    context, page, errors = _new_page(browser)
    page.goto(shop.url(shop.products[1].url_path))
    page.click("#add")
    events = tracked(page)
    assert [e["event_name"] for e in events] == ["page_view", "view_item", "add_to_cart"]
    assert ingest.posts() == []  # nothing sent yet: batch not full, timer far away
    page.goto("about:blank")
    lines = wait_for_events(aws_env.client("s3"), raw_bucket, [e["event_id"] for e in events])
    assert {line["event_name"] for line in lines} == {"page_view", "view_item", "add_to_cart"}
    (post,) = ingest.posts()
    assert post["headers"].get("sec-fetch-mode") == "no-cors"  # a beacon, not the tracker's fetch (mode cors)
    assert post["headers"].get("content-type", "").startswith("text/plain")
    context.close()
    assert errors == []


def test_retries_with_backoff_after_503_and_delivers_exactly_once(browser, aws_env, raw_bucket, shop_and_ingest):
    shop, ingest = shop_and_ingest
    ingest.fail_next = 2
    shop.tracker_config.update(batchSize=3, flushInterval=200, retryBase=300, autoPageView=False)
    context, page, errors = _new_page(browser)
    page.goto(shop.url("/"))
    ids = page.evaluate("[1, 2, 3].map(i => clickstream.track('search', {search_term: 'gpu ' + i}))")
    stats = _wait(
        lambda: (s := page.evaluate("clickstream.stats()"))["sent"] == 3 and s, what="delivery after two 503s"
    )
    assert stats["retries"] == 2 and stats["failedRequests"] == 2 and stats["dropped"] == 0
    posts = ingest.posts()
    assert [p["failed"] for p in posts] == [True, True, False]
    assert posts[0]["body"] == posts[2]["body"]  # the same events, same event_ids: a safe retry
    assert posts[0]["headers"].get("sec-fetch-mode") == "cors"
    lines = wait_for_events(aws_env.client("s3"), raw_bucket, ids)
    assert len(lines) == 3
    context.close()
    assert errors == []


def test_unreachable_endpoint_bounded_queue_drops_oldest_and_never_breaks_the_page(
    browser, aws_env, raw_bucket, shop_and_ingest
):
    shop, ingest = shop_and_ingest
    shop.tracker_config.update(endpoint="http://127.0.0.1:9/clickstream", maxQueue=5, batchSize=5,
                               retryBase=100, retryMax=200, autoPageView=False)  # fmt: skip
    context, page, errors = _new_page(browser)
    page.goto(shop.url("/"))
    result = page.evaluate("""() => {
        const ids = [];
        for (let i = 0; i < 12; i++) ids.push(clickstream.track('search', {search_term: 'x' + i}));
        const circular = {}; circular.self = circular;
        const bad = [clickstream.track('Not A Name'), clickstream.track(undefined),
                     clickstream.track('x', {params: circular}), clickstream.pageView({page: 42}),
                     clickstream.setUser({toString: null})];
        return {ids: ids, bad: bad, stats: clickstream.stats()};
    }""")
    assert result["stats"]["dropped"] == 7 + 1  # 12 tracked into a queue of 5, then pageView pushed one more out
    assert result["stats"]["invalid"] == 3  # bad name, no name, unserialisable params: refused, not thrown
    assert result["stats"]["errors"] == 1  # setUser's String() threw inside the tracker and was contained
    assert result["bad"][:3] == [False, False, False] and isinstance(result["bad"][3], str)
    stats = _wait(
        lambda: (st := page.evaluate("clickstream.stats()"))["failedRequests"] >= 2 and not st["inFlight"] and st,
        what="two failed attempts",
    )
    assert stats["sent"] == 0 and stats["queued"] == 5 and stats["retries"] >= 2
    # leaving while the endpoint fails: the queue is kept in localStorage (a beacon could be lost), and the next
    # page, whose endpoint works again, sends it first
    shop.tracker_config["endpoint"] = ingest.url
    page.goto(shop.url("/cart"))
    survivors = [*result["ids"][8:], result["bad"][3]]  # the 5 newest: 12 - 7 dropped, then the page view's push
    lines = wait_for_events(aws_env.client("s3"), raw_bucket, survivors)
    assert len(lines) == 5
    stored = {line["event_id"] for line in read_event_lines(aws_env.client("s3"), raw_bucket)}
    assert not stored & set(result["ids"][:8])  # the dropped oldest never arrive
    context.close()
    assert errors == []


def test_cookie_fallback_when_local_storage_is_blocked(browser, shop_and_ingest):
    shop, _ingest = shop_and_ingest
    context = browser.new_context()
    context.add_init_script(
        "Object.defineProperty(window, 'localStorage',"
        " {get() { throw new DOMException('blocked', 'SecurityError'); }});"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(shop.url("/"))
    first = page.evaluate("clickstream.clientId()")
    assert f"cs_client_id={first}" in page.evaluate("document.cookie")
    page.goto(shop.url("/cart"))
    assert page.evaluate("clickstream.clientId()") == first
    assert page.evaluate("clickstream.stats().errors") == 0
    context.close()
    assert errors == []


def test_script_tag_data_attributes_alone_configure_the_tracker(browser, aws_env, raw_bucket, shop_and_ingest):
    shop, _ingest = shop_and_ingest
    context, page, errors = _new_page(browser)
    page.goto(shop.url("/tag"))
    _wait(lambda: page.evaluate("clickstream.stats().sent") == 1, what="the automatic page_view")
    client_id = page.evaluate("clickstream.clientId()")
    (line,) = [x for x in read_event_lines(aws_env.client("s3"), raw_bucket) if x["client_id"] == client_id]
    assert line["event_name"] == "page_view" and line["page"]["url_path"] == "/tag"
    assert line["page"]["title"] == "Tag | Compushop"
    context.close()
    assert errors == []


def test_tracker_file_is_small_and_has_no_dependencies():
    from traffic.browser import TRACKER_JS

    source = TRACKER_JS.read_text()
    assert len(source.encode()) < 24_000
    assert not re.search(r"^\s*(import|export)\s|require\(", source, re.M)
    assert "XMLHttpRequest" not in source  # no synchronous requests
    json.dumps(source)  # plain text


def test_landing_query_reaches_the_ingest_and_a_referrer_within_the_shop_is_left_out(browser, shop_and_ingest):
    """The landing page's query string (UTM tags) goes in page.url_path; a referrer on another site is sent, one on
    the shop itself is not (a session that starts on an internal navigation is no referral from the shop)."""
    shop, ingest = shop_and_ingest
    context, page, errors = _new_page(browser)
    page.goto(shop.url("/?utm_source=newsletter&utm_medium=email"), referer="https://mail.example.com/inbox")
    page.goto(shop.url("/cart"), referer=shop.url("/"))
    page.goto("about:blank")  # pagehide: the rest leaves by sendBeacon

    def page_views():
        sent = [e for p in ingest.posts() for e in json.loads(p["body"])["events"] if e["event_name"] == "page_view"]
        return sent if len(sent) >= 2 else None

    first, second = _wait(page_views, what="both page views")[:2]
    assert first["page"]["url_path"] == "/?utm_source=newsletter&utm_medium=email"
    assert first["page"]["referrer"] == "https://mail.example.com/inbox"
    assert second["page"]["url_path"] == "/cart" and second["page"]["referrer"] is None
    context.close()
    assert errors == []
