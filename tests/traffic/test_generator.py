"""Unit tests of the synthetic traffic generator: reproducibility, realism knobs and the truth of its report."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from traffic import CatalogError, ConfigError, Funnel, TrafficReport, iter_clients, load_catalog_csv, sessionize
from traffic.generator import (
    DUPLICATE,
    MALFORMED,
    MALFORMED_REASONS,
    VALID,
    CatalogIndex,
    break_event,
    iso_ms,
    simulate_client,
)

from .conftest import config


def bodies(cfg, products) -> bytes:
    return b"".join(b.body_bytes() + b"\n" for c in iter_clients(cfg, products) for b in c.batches)


def items(cfg, products):
    for client in iter_clients(cfg, products):
        for batch in client.batches:
            yield client, batch, from_batch(batch)


def from_batch(batch):
    return batch.items


def test_same_seed_same_bytes_other_seed_other_bytes(products):
    first = bodies(config(seed=5), products)
    again = bodies(config(seed=5), products)
    other = bodies(config(seed=6), products)
    assert first == again
    assert first != other
    assert len(first) > 100_000


def test_a_client_does_not_depend_on_the_others(products):
    cfg = config(clients=50)
    catalog = CatalogIndex.build(products, cfg.popularity_skew)
    alone = simulate_client(cfg, catalog, 37)
    in_run = next(c for c in iter_clients(cfg, products) if c.index == 37)
    assert [b.body_bytes() for b in alone.batches] == [b.body_bytes() for b in in_run.batches]
    bigger = dataclasses.replace(cfg, clients=80)  # the user pool grows, but the client id does not change
    assert simulate_client(bigger, catalog, 37).client_id == alone.client_id


def test_events_fall_inside_the_window_in_client_order(products):
    cfg = config()
    start_ms, end_ms = int(cfg.start.timestamp() * 1000), int(cfg.end.timestamp() * 1000)
    for _client, _batch, batch_items in items(cfg, products):
        for item in batch_items:
            if item.kind == VALID:
                assert start_ms <= item.ts_ms <= end_ms
                assert item.event["event_timestamp"] == iso_ms(item.ts_ms)
    cfg2 = config(start=cfg.end.replace(hour=6), clients=100)
    assert {it.event["event_timestamp"][:13] for _, _, b in items(cfg2, products) for it in b if it.kind == VALID} <= {
        f"2030-03-14T{h:02d}" for h in range(6, 12)
    }


def test_sessions_are_separated_by_more_than_the_timeout_and_inside_by_less(products):
    cfg = config(clients=400, returning=0.8)
    timeout = cfg.session_timeout_s * 1000
    multi = 0
    for client in iter_clients(cfg, products):
        by_session: dict[str, list[int]] = defaultdict(list)
        for batch in client.batches:
            for item in batch.items:
                if item.kind == VALID:
                    by_session[item.event["session_id"]].append(item.ts_ms)
        spans = sorted((min(ts), max(ts)) for ts in by_session.values())
        for a, b in itertools.pairwise(spans):
            assert b[0] - a[1] > timeout + 4 * 60_000  # a clear margin: the server splits exactly here
        for ts in by_session.values():
            ts.sort()
            assert all(y - x <= cfg.max_dwell_s * 1000 + 3000 for x, y in itertools.pairwise(ts))
        bounds = sessionize([t for ts in by_session.values() for t in ts], timeout)
        assert len(bounds) == len(by_session)  # the server's rule finds the generator's sessions
        multi += len(by_session) > 1
    assert multi > 100  # returning clients exist


def test_batches_look_like_a_browser_and_never_repeat_an_event_in_one_request(products):
    cfg = config(batch_max=7, duplicate=0.2, malformed=0.1, flush_interval_s=600)
    sizes = Counter()
    for client, _batch, batch_items in items(cfg, products):
        assert 1 <= len(batch_items) <= 7
        sizes[len(batch_items)] += 1
        ids = [it.event["event_id"] for it in batch_items if it.kind in (VALID, DUPLICATE)]
        assert len(ids) == len(set(ids))  # the ingest rejects a repeated event_id inside one request
        for it in batch_items:
            if isinstance(it.event, dict) and "client_id" in it.event:
                assert it.event["client_id"] == client.client_id
    assert sizes[1] > 0 and max(sizes) == 7


def test_report_counts_equal_an_independent_recount_of_what_was_emitted(products):
    cfg = config(clients=500, malformed=0.03, duplicate=0.04)
    report = TrafficReport(cfg)
    seen: set[str] = set()
    by_name: Counter[str] = Counter()
    by_day: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    per_client: dict[str, list[int]] = defaultdict(list)
    revenue_cents = 0
    orders = set()
    for client in iter_clients(cfg, products):
        report.add(client)
        for batch in client.batches:
            for item in json.loads(batch.body_bytes())["events"]:
                ok = isinstance(item, dict) and item.get("event_id") and "client_id" in item
                if ok and item["event_id"] in seen:
                    kinds["duplicate"] += 1
                elif ok and item.get("event_name") != "Add To Cart!" and "colour" not in item:
                    if item.get("event_timestamp") == "yesterday at noon" or (
                        item.get("event_name") == "page_view" and "page" not in item
                    ):
                        raise AssertionError("a malformed event kept its event_id")
                    seen.add(item["event_id"])
                    kinds["valid"] += 1
                    by_name[item["event_name"]] += 1
                    by_day[item["event_timestamp"][:10]] += 1
                    ms = int(datetime.fromisoformat(item["event_timestamp"]).timestamp() * 1000)
                    per_client[item["client_id"]].append(ms)
                    if item["event_name"] == "purchase":
                        p = item["product"]
                        price = p["discount_price"] if p["discount_price"] is not None else p["price"]
                        revenue_cents += round(price * 100) * item["quantity"]
                        orders.add(item["order_id"])
                else:
                    kinds["malformed"] += 1
    for _client, _batch, batch_items in items(cfg, products):
        for it in batch_items:
            if it.kind == MALFORMED:
                reasons[it.reason] += 1
    out = report.as_dict()
    assert out["events"]["valid"] == kinds["valid"] > 3000
    assert out["events"]["duplicates"] == kinds["duplicate"] > 50
    assert out["events"]["malformed"] == kinds["malformed"] > 50
    assert out["events"]["sent"] == sum(kinds.values())
    assert out["events"]["by_name"] == dict(sorted(by_name.items()))
    assert out["events"]["by_day"] == dict(sorted(by_day.items()))
    assert out["events"]["malformed_by_reason"] == dict(sorted(reasons.items()))
    assert set(reasons) == set(MALFORMED_REASONS)
    sessions = sum(len(sessionize(ts, cfg.session_timeout_s * 1000)) for ts in per_client.values())
    assert out["sessions"]["total"] == sessions
    assert out["clients"] == len(per_client) == out["expected"]["first_visits"]
    assert out["purchases"]["revenue"] == f"{revenue_cents // 100}.{revenue_cents % 100:02d}"
    assert out["purchases"]["orders"] == len(orders) > 10
    assert out["expected"]["warehouse_events"] == kinds["valid"]
    assert out["expected"]["ingest_accepted"] == kinds["valid"] + kinds["duplicate"]
    assert sum(out["sessions"]["by_day"].values()) == sessions
    assert sum(out["sessions"]["by_day_and_login_state"].values()) == sessions


def _within(observed: int, trials: int, p: float, sigmas: float = 4.5) -> bool:
    sd = math.sqrt(p * (1 - p) / trials)
    return abs(observed / trials - p) <= sigmas * sd + 1e-9


@pytest.mark.parametrize(
    "funnel",
    [Funnel(view_item=0.8, add_to_cart=0.5, begin_checkout=0.6, purchase=0.5), Funnel(0.4, 0.2, 0.7, 0.9)],
)
def test_funnel_step_probabilities_hold_statistically(products, funnel):
    cfg = config(clients=3000, funnel=funnel, malformed=0.0, duplicate=0.0)
    report = TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        report.add(client)
    reach = report.as_dict()["sessions"]["reaching"]
    total = report.sessions
    assert total > 3000
    assert _within(reach["view_item"], total, funnel.view_item), (reach, total)
    assert _within(reach["add_to_cart"], reach["view_item"], funnel.add_to_cart), reach
    assert _within(reach["begin_checkout"], reach["add_to_cart"], funnel.begin_checkout), reach
    assert _within(reach["purchase"], reach["begin_checkout"], funnel.purchase), reach


def test_zero_and_one_probabilities_are_exact(products):
    cfg = config(clients=200, funnel=Funnel(1.0, 1.0, 1.0, 0.0), malformed=0.0, duplicate=0.0)
    report = TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        report.add(client)
    reach = report.as_dict()["sessions"]["reaching"]
    assert reach["view_item"] == reach["add_to_cart"] == reach["begin_checkout"] == report.sessions
    assert reach["purchase"] == 0 and report.malformed == 0 and report.duplicates == 0


def test_fault_injection_rates(products):
    cfg = config(clients=1500, malformed=0.02, duplicate=0.05)
    report = TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        report.add(client)
    assert _within(report.malformed, report.valid, 0.02)
    assert _within(report.duplicates, report.valid, 0.05)


def test_popular_products_are_viewed_more(products):
    cfg = config(clients=1500)
    report = TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        report.add(client)
    views = {int(pid): v.get("view_item", 0) for pid, v in report.as_dict()["products"].items()}
    ranked = sorted(products, key=lambda p: -p.popularity)
    top = sum(views.get(p.product_id, 0) for p in ranked[:10])
    bottom = sum(views.get(p.product_id, 0) for p in ranked[-10:])
    assert top > 5 * bottom
    assert len(views) > len(products) * 0.8  # the long tail is still viewed


def test_identity_guests_logins_sign_ups_and_shared_users(products):
    cfg = config(clients=1500)
    events = [it.event for _, _, b in items(cfg, products) for it in b if it.kind == VALID]
    names = Counter(e["event_name"] for e in events)
    assert names["login"] > 0 and names["sign_up"] > 0 and names["search"] > 0
    for e in events:
        logged_in = e["user_login_state"] == "logged_in"
        assert (e["user_id"] is not None) == logged_in
        assert e["identity_source"] == ("cognito" if logged_in else None)
    clients_per_user: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["user_id"]:
            clients_per_user[e["user_id"]].add(e["client_id"])
    assert any(len(c) > 1 for c in clients_per_user.values())  # one user, several devices
    states = Counter(e["user_login_state"] for e in events)
    assert states["logged_in"] > 0.1 * len(events) and states["logged_out"] > 0.3 * len(events)


def test_purchase_events_carry_an_order_and_the_products_of_the_cart(products):
    cfg = config(clients=800, max_quantity=3)
    by_order: dict[str, list[dict]] = defaultdict(list)
    carts: dict[str, set] = defaultdict(set)
    for _, _, b in items(cfg, products):
        for it in b:
            if it.kind != VALID:
                continue
            e = it.event
            if e["event_name"] == "add_to_cart":
                carts[e["session_id"]].add(e["product"]["id"])
            if e["event_name"] == "purchase":
                by_order[e["order_id"]].append(e)
    assert by_order
    quantities = set()
    for lines in by_order.values():
        assert len({e["session_id"] for e in lines}) == 1
        assert {e["product"]["id"] for e in lines} <= carts[lines[0]["session_id"]]
        quantities |= {e["quantity"] for e in lines}
    assert quantities == {1, 2, 3}


def test_every_malformed_kind_differs_from_its_source_and_leaves_it_untouched(products):
    event = next(it.event for _, _, b in items(config(clients=5), products) for it in b if it.kind == VALID)
    before = json.dumps(event)
    broken = {reason: break_event(event, reason) for reason in MALFORMED_REASONS}
    assert json.dumps(event) == before
    assert all(b != event for b in broken.values())
    with pytest.raises(ValueError, match="unknown malformed reason"):
        break_event(event, "nope")


def test_catalog_errors_are_clear(tmp_path: Path):
    with pytest.raises(CatalogError, match="not found"):
        load_catalog_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("product_id,sku,name\n1,a,b\n")
    with pytest.raises(CatalogError, match="header lacks"):
        load_catalog_csv(bad)
    header = "product_id,sku,name,category,brand,price,discount_price,url_path,popularity\n"
    bad.write_text(header + "1,S1,A,laptops,X,abc,,/products/a,1.0\n")
    with pytest.raises(CatalogError, match="row 1: column price is not a number"):
        load_catalog_csv(bad)
    bad.write_text(header + "1,S1,A,laptops,X,10,,/p/a,1\n1,S2,B,laptops,X,10,,/p/b,1\n")
    with pytest.raises(CatalogError, match="duplicate product_id"):
        load_catalog_csv(bad)
    bad.write_text(header)
    with pytest.raises(CatalogError, match="no products"):
        load_catalog_csv(bad)
    good = tmp_path / "tiny.csv"
    good.write_text(header + '2,S2,"Mouse, wireless",peripherals,Logi,20.00,15.50,/products/peripherals/m,2\n')
    (product,) = load_catalog_csv(good)
    assert product.name == "Mouse, wireless" and str(product.effective_price) == "15.50"


def test_config_errors_name_the_setting():
    with pytest.raises(ConfigError, match=r"funnel\.purchase"):
        config(funnel=Funnel(purchase=1.5))
    with pytest.raises(ConfigError, match="window is empty"):
        config(start=config().end)
    with pytest.raises(ConfigError, match="session_gap_min_s"):
        config(session_gap_min_s=60)
    with pytest.raises(ConfigError, match="batch_max"):
        config(batch_max=0)


def test_sessionize_splits_only_on_gaps_longer_than_the_timeout():
    assert sessionize([], 10) == []
    assert sessionize([0, 10, 20], 10) == [(0, 3)]
    assert sessionize([0, 11, 21, 40], 10) == [(0, 1), (1, 3), (3, 4)]
    assert sessionize([40, 0, 11], 10) == [(0, 1), (1, 2), (2, 3)]


def test_report_merge_of_parts_equals_the_whole(products):
    cfg = config(clients=200)
    whole, left, right = TrafficReport(cfg), TrafficReport(cfg), TrafficReport(cfg)
    for client in iter_clients(cfg, products):
        whole.add(client)
        (left if client.index < 90 else right).add(client)
    left.merge(right)
    assert left.as_dict() == whole.as_dict()
