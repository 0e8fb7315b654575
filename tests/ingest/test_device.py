"""The device of a request from its User-Agent (clickstream_ingest/device.py), stored under the ingest's own keys.

The expected categories, browsers and OS families below were checked by hand against what each agent is (the
strings are real browsers', crawlers' and tools' User-Agents)."""

from __future__ import annotations

import pytest
from clickstream_ingest.device import CATEGORIES, device

from .helpers import valid_event
from .test_contract import objects_of_request, post

# (User-Agent, category, browser family, OS family)
AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", "desktop", "Chrome", "Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
     "Safari/605.1.15", "desktop", "Safari", "Mac OS X"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", "Firefox",
     "Ubuntu"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36 Edg/124.0.2478.67", "desktop", "Edge", "Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", "mobile", "Mobile Safari", "iOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", "mobile", "Chrome Mobile", "Android"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
     "Chrome/117.0.0.0 Mobile Safari/537.36", "mobile", "Samsung Internet", "Android"),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Mobile/15E148 Safari/604.1", "tablet", "Mobile Safari", "iOS"),
    # an Android tablet: no "Mobile" token
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", "tablet", "Chrome", "Android"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "Googlebot", None),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot", "bingbot", None),
    ("curl/8.5.0", "other", "curl", None),
    ("", "other", None, None),
    (None, "other", None, None),
]


@pytest.mark.parametrize(("agent", "category", "browser", "os"), AGENTS)
def test_device_of_a_user_agent(agent, category, browser, os):
    d = device(agent)
    assert (d.category, d.browser, d.os) == (category, browser, os)
    assert d.category in CATEGORIES


def test_every_category_is_reached():
    assert {category for _, category, _, _ in AGENTS} == set(CATEGORIES)


@pytest.mark.integration
@pytest.mark.parametrize(("agent", "category", "browser", "os"), [AGENTS[0], AGENTS[5], AGENTS[7], AGENTS[9]])
def test_the_endpoint_stores_the_device_of_the_request(local_endpoint, s3, agent, category, browser, os):
    status, _, body = post(local_endpoint.url, {"events": [valid_event(), valid_event()]},
                           headers={"User-Agent": agent})
    assert status == 200 and body["accepted"] == 2, body
    [lines] = objects_of_request(s3, local_endpoint.bucket, body["request_id"]).values()
    for line in lines:
        assert (line["device_category"], line["browser"], line["operating_system"]) == (category, browser, os)
        assert line["user_agent"] == agent  # the raw agent is kept in the raw object (docs/event-contract.md)


@pytest.mark.integration
@pytest.mark.parametrize("key", ["device_category", "browser", "operating_system"])
def test_a_client_cannot_send_the_device_keys(local_endpoint, s3, key):
    """The derived keys are the server's: an event that carries one is refused (unknown field), and the accepted
    event beside it gets the server's value, not the client's."""
    forged = valid_event(**{key: "desktop"})
    status, _, body = post(local_endpoint.url, {"events": [forged, valid_event()]},
                           headers={"User-Agent": AGENTS[5][0]})
    assert status == 200 and (body["accepted"], body["rejected"]) == (1, 1), body
    assert body["errors"][0]["reason"] == "unknown_field" and body["errors"][0]["field"] == key
    objects = objects_of_request(s3, local_endpoint.bucket, body["request_id"])
    [accepted] = [lines for k, lines in objects.items() if k.startswith("events/")]
    assert accepted[0]["device_category"] == "mobile" and accepted[0]["browser"] == "Chrome Mobile"


@pytest.mark.integration
def test_a_device_sent_in_params_stays_a_param(local_endpoint, s3):
    status, _, body = post(local_endpoint.url, {"events": [valid_event(params={"device_category": "desktop"})]},
                           headers={"User-Agent": AGENTS[7][0]})
    assert status == 200 and body["accepted"] == 1, body
    [[line]] = objects_of_request(s3, local_endpoint.bucket, body["request_id"]).values()
    assert line["device_category"] == "tablet" and line["params"] == {"device_category": "desktop"}


@pytest.mark.integration
def test_no_stored_byte_holds_the_full_address(local_endpoint, s3):
    """The local endpoint sees the client at 127.0.0.1: only its /24 is stored, in accepted and rejected lines."""
    status, _, body = post(local_endpoint.url, {"events": [valid_event(), {"event_name": "x"}]})
    assert status == 200 and body["rejected"] == 1
    objects = objects_of_request(s3, local_endpoint.bucket, body["request_id"])
    assert len(objects) == 2
    for lines in objects.values():
        for line in lines:
            assert line["source_ip_prefix"] == "127.0.0.0/24"
            assert "127.0.0.1" not in str(line)
    logged = [line for line in local_endpoint.log().splitlines() if body["request_id"] in line]
    assert logged and not any("127.0.0.1" in line for line in logged)
