"""The hourly anomaly checks (clickstream_etl.anomalies): generated incidents are flagged with their reason, a
normal day raises no flag, quiet hours are not judged, evaluations are exact under re-runs.

Weeks of traffic through raw objects and the ETL would take an hour of this shared machine, so the detector's
tests write the hourly figures the checks read (dw.agg_hourly_activity, etl.files, dw.agg_hourly_ingest_rejects,
etl.rejects) straight into a migrated warehouse: several weeks of seeded traffic with a daily and a weekly rhythm,
week-to-week drift and counting noise, with the traffic generator's own funnel and fault rates (bench/traffic). One
incident (a broken tracker) goes end to end: the generator's raw objects -> the ETL's CLI -> the flag.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from clickstream_etl import anomalies
from clickstream_etl.anomalies import AnomalySettings, hours_to_evaluate, judge_count, judge_rate
from clickstream_etl.config import Settings
from clickstream_etl.runner import setup_session
from psycopg2.extras import execute_values
from traffic import TrafficConfig, load_catalog_csv
from traffic.config import Funnel
from traffic.runner import run_s3

from .helpers import _migrated, make_world

HOUR, WEEK = timedelta(hours=1), timedelta(weeks=1)
BUCKET, PREFIX = "raw-anomalies", "events/"
# The test week starts on a Monday; six weeks of history before it (the default baseline).
TEST_WEEK = datetime(2026, 11, 2, tzinfo=UTC)
WEEKS = AnomalySettings().baseline_weeks


# --- the generated traffic ----------------------------------------------------------------------------------------


def _poisson(rng: random.Random, lam: float) -> int:
    return max(0, round(rng.gauss(lam, math.sqrt(lam)))) if lam > 0 else 0


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p)))))) if n > 0 else 0


def _sessions(hour: datetime, peak: float, week_factor: float) -> float:
    """Expected sessions of an hour: a daily rhythm (night at a fifth of the evening peak) and quieter weekends."""
    daily = 0.2 + 0.8 * math.sin(math.pi * ((hour.hour - 4) % 24) / 24) ** 2
    weekly = 0.8 if hour.weekday() >= 5 else 1.0
    return peak * daily * weekly * week_factor


def hour_figures(rng: random.Random, hour: datetime, peak: float, week_factor: float) -> dict[str, int]:
    """One hour's figures as the ETL would count them, from the traffic generator's funnel and fault rates."""
    cfg, f = TrafficConfig(), Funnel()
    s = _poisson(rng, _sessions(hour, peak, week_factor))
    viewers = _binomial(rng, s, f.view_item)
    carts = _binomial(rng, viewers, f.add_to_cart)
    checkouts = _binomial(rng, carts, f.begin_checkout)
    purchases = _binomial(rng, checkouts, f.purchase)
    page_views = _poisson(rng, s * 4.0)
    view_items = _poisson(rng, viewers * cfg.mean_product_views)
    other = _poisson(rng, s * (cfg.search + 0.3))  # search, login, sign_up
    events = page_views + view_items + carts + checkouts + purchases + other
    duplicates = _binomial(rng, events, cfg.duplicate)
    return {"events": events, "page_views": page_views, "view_items": view_items, "add_to_carts": carts,
            "begin_checkouts": checkouts, "purchases": purchases, "lines": events + duplicates,
            "duplicates": duplicates, "ingest_rejects": _binomial(rng, events, cfg.malformed),
            "etl_rejects": _poisson(rng, events * 0.0005), "stale": _poisson(rng, events * 0.0002)}


def history(seed: int, *, peak: float = 2000, until: datetime = TEST_WEEK + 7 * 24 * HOUR,
            weeks: int = WEEKS) -> dict[datetime, dict[str, int]]:
    """Every hour from ``weeks`` weeks before the test week up to ``until`` (excluded)."""
    rng = random.Random(seed)
    out, start = {}, TEST_WEEK - weeks * WEEK
    factors = [rng.gauss(1.0, 0.05) for _ in range(weeks + 1)]  # week-to-week drift
    h = start
    while h < until:
        out[h] = hour_figures(rng, h, peak, factors[(h - start) // WEEK])
        h += HOUR
    return out


def write(dsn: str, figures: dict[datetime, dict[str, int]]) -> None:
    """The figures into the tables the checks read, as the ETL would have left them."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            execute_values(cur, "INSERT INTO dw.agg_hourly_activity VALUES %s", [
                (h, h.date(), "logged_out", f["events"], f["page_views"], f["view_items"], f["add_to_carts"],
                 f["begin_checkouts"], f["purchases"], 0, 0, 0, 0, 0, 0) for h, f in figures.items()])
            execute_values(cur, "INSERT INTO etl.files (bucket, object_key, size_bytes, run_id, lines, events_loaded,"
                                " duplicates, rejects) VALUES %s", [
                (BUCKET, f"{PREFIX}{h:%Y/%m/%d/%H}/events-{uuid.uuid4()}.json", 1, 0, f["lines"],
                 f["lines"] - f["duplicates"] - f["etl_rejects"] - f["stale"], f["duplicates"],
                 f["etl_rejects"] + f["stale"]) for h, f in figures.items()])
            execute_values(cur, "INSERT INTO dw.agg_hourly_ingest_rejects VALUES %s", [
                (h, "invalid_value", "", f["ingest_rejects"]) for h, f in figures.items() if f["ingest_rejects"]])
            stale = [(f"s3://{BUCKET}/{PREFIX}{h:%Y/%m/%d/%H}/events-stale.json", n + 1, "stale_event", "{}", 0)
                     for h, f in figures.items() for n in range(f["stale"])]
            execute_values(cur, "INSERT INTO etl.rejects (source_file, line_number, reason, raw_line, run_id)"
                                " VALUES %s", stale)
        conn.commit()
    finally:
        conn.close()


def evaluate(dsn: str, now: datetime, **overrides) -> dict[datetime, list[anomalies.Flag]]:
    settings = Settings(raw_bucket=BUCKET, dw_host="unused", anomalies=replace(AnomalySettings(), **overrides))
    conn = psycopg2.connect(dsn)
    try:
        setup_session(conn)
        return anomalies.evaluate(conn, settings, None, now=now)
    finally:
        conn.close()


def stored(dsn: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT h.hour, h.checks, h.flags, f.check_name, f.subject, f.direction, f.observed,"
                        " f.expected, f.lower_bound, f.upper_bound, f.reason FROM dw.anomaly_hours h"
                        " LEFT JOIN dw.anomaly_flags f USING (hour) ORDER BY 1, 4, 5")
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def dsn(pg_server, request) -> str:
    return _migrated(pg_server, f"dw_anom_{uuid.uuid4().hex[:10]}")


def _kinds(flags) -> set[tuple[str, str, str]]:
    return {(f.check, f.subject, f.direction) for f in flags}


# Tuesday of the test week at the evening peak: the hour of the incidents.
INCIDENT = TEST_WEEK + timedelta(days=1, hours=18)


def _incident(dsn: str, seed: int, change) -> list[anomalies.Flag]:
    figures = history(seed, until=INCIDENT + HOUR)
    change(figures[INCIDENT])
    write(dsn, figures)
    result = evaluate(dsn, INCIDENT + HOUR + timedelta(minutes=10), recheck_hours=1)
    assert list(result) == [INCIDENT]
    return result[INCIDENT]


# --- the incidents ------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_traffic_drop_is_flagged_low_with_its_reason(dsn) -> None:
    def drop(f):  # six in ten visitors gone (e.g. the tracker removed from some pages)
        for k in ("events", "page_views", "view_items", "add_to_carts", "begin_checkouts", "purchases", "lines"):
            f[k] = int(f[k] * 0.4)

    flags = _incident(dsn, 11, drop)
    assert ("volume", "(all)", "low") in _kinds(flags)
    assert ("volume", "page_view", "low") in _kinds(flags)
    assert all(f.direction == "low" for f in flags if f.check == "volume")
    (total,) = [f for f in flags if f.subject == "(all)"]
    assert total.observed < total.lower < total.expected < total.upper
    rows = [r for r in stored(dsn) if r[4] == "(all)"]
    assert rows and rows[0][5] == "low" and "below the lower bound" in rows[0][10] and "volume (all)" in rows[0][10]


@pytest.mark.integration
def test_a_broken_tracker_sending_bad_events_is_a_reject_spike(dsn) -> None:
    def broken(f):  # a release that sends every add_to_cart without its items: the ingest refuses them
        f["ingest_rejects"] += f["add_to_carts"] * 2

    flags = _incident(dsn, 12, broken)
    assert ("reject_rate", "", "high") in _kinds(flags)
    (flag,) = [f for f in flags if f.check == "reject_rate"]
    assert flag.observed > flag.upper > flag.expected
    assert "duplicate_rate" not in {f.check for f in flags}


@pytest.mark.integration
def test_a_checkout_outage_is_a_purchase_conversion_drop(dsn) -> None:
    def outage(f):  # the payment page fails: nine in ten checkouts do not complete
        lost = f["purchases"] - f["purchases"] // 10
        f["purchases"] -= lost
        f["events"] -= lost
        f["lines"] -= lost

    flags = _incident(dsn, 13, outage)
    assert ("conversion", "begin_checkout>purchase", "low") in _kinds(flags)
    assert ("volume", "purchase", "low") in _kinds(flags)
    assert ("conversion", "add_to_cart>begin_checkout", "low") not in _kinds(flags)
    assert ("volume", "(all)", "low") not in _kinds(flags)  # the rest of the traffic is normal


@pytest.mark.integration
def test_late_arrivals_use_the_freshness_rules_stale_rejects(dsn) -> None:
    def late(f):  # a mobile app flushing a week-old queue: its events are rejected as stale (rules.STALE)
        f["stale"] += f["events"] // 10
        f["lines"] += f["events"] // 10

    flags = _incident(dsn, 14, late)
    assert ("late_rate", "", "high") in _kinds(flags)


# --- no false positives -------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_normal_day_raises_no_flag(dsn, seed) -> None:
    day = TEST_WEEK + timedelta(days=2)  # a Wednesday
    write(dsn, history(seed, until=day + 24 * HOUR))
    result = evaluate(dsn, day + 24 * HOUR + timedelta(minutes=10), recheck_hours=24, catchup_hours=24)
    assert sorted(result) == [day + i * HOUR for i in range(24)]
    assert [f.reason for flags in result.values() for f in flags] == []
    rows = stored(dsn)
    assert len(rows) == 24 and all(r[2] == 0 and r[3] is None for r in rows)
    # every hour's volumes and quality rates judged (7 + 3); the conversions (2 more) where checkouts reach the
    # minimum volume: the busier half of the day
    # every hour's big volumes ((all), page_view, view_item, (other)) and quality rates judged; the small volumes
    # and the conversions where they reach the minimum volume: all 12 checks in the busier half of the day
    assert all(r[1] >= 7 for r in rows)
    assert sum(r[1] == 12 for r in rows) >= 8


@pytest.mark.integration
def test_quiet_hours_are_not_judged(dsn) -> None:
    """A small shop (a few sessions an hour): its figures swing far more than a big one's, but below the minimum
    volume nothing is judged, so even an hour without any traffic raises no flag."""
    figures = history(21, peak=8, until=INCIDENT + HOUR)
    figures[INCIDENT] = dict.fromkeys(figures[INCIDENT], 0)
    write(dsn, figures)
    result = evaluate(dsn, INCIDENT + HOUR + timedelta(minutes=10), recheck_hours=1)
    assert result == {INCIDENT: []}
    assert stored(dsn)[0][1:3] == (0, 0)


@pytest.mark.integration
def test_too_little_history_judges_nothing_yet(dsn) -> None:
    figures = history(22, until=INCIDENT + HOUR, weeks=2)
    figures[INCIDENT] = dict.fromkeys(figures[INCIDENT], 0)  # would be flagged with enough weeks
    write(dsn, figures)
    assert evaluate(dsn, INCIDENT + HOUR + timedelta(minutes=10), recheck_hours=1) == {INCIDENT: []}
    assert evaluate(dsn, INCIDENT + HOUR + timedelta(minutes=10), recheck_hours=1, min_baseline_weeks=2)[INCIDENT]


# --- exactly once -------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_evaluations_are_exact_under_re_runs_and_follow_late_data(dsn) -> None:
    figures = history(31, until=INCIDENT + HOUR)
    figures[INCIDENT]["ingest_rejects"] += figures[INCIDENT]["events"]
    write(dsn, figures)
    now = INCIDENT + HOUR + timedelta(minutes=10)
    first = evaluate(dsn, now, recheck_hours=3)
    before = stored(dsn)
    assert evaluate(dsn, now, recheck_hours=3) == first
    assert stored(dsn) == before  # the same rows, not twice
    assert ("reject_rate", "", "high") in _kinds(first[INCIDENT])
    # An hour later, the earlier hours are evaluated again (recheck) with the data as it is then: the reject
    # objects turn out to belong to another bucket's ingest and are removed, and the flag goes with them.
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE dw.agg_hourly_ingest_rejects SET rejects = %s WHERE received_hour = %s",
                    (max(1, figures[INCIDENT]["ingest_rejects"] - figures[INCIDENT]["events"]), INCIDENT))
    conn.close()
    later = evaluate(dsn, now + HOUR, recheck_hours=3)
    assert INCIDENT in later and later[INCIDENT] == []
    assert next(r for r in stored(dsn) if r[0] == INCIDENT)[2] == 0


def test_which_hours_a_run_evaluates() -> None:
    s = AnomalySettings(settle_minutes=10, recheck_hours=3, catchup_hours=48)
    t = datetime(2026, 12, 7, 12, 5, tzinfo=UTC)
    data = t - 30 * 24 * HOUR
    # 12:05 is within the settle time of the hour 11:00-12:00: the newest closed hour is 10:00
    assert hours_to_evaluate(t, None, data, s) == [t.replace(hour=h, minute=0) for h in (8, 9, 10)]
    assert hours_to_evaluate(t + timedelta(minutes=5), None, data, s)[-1] == t.replace(minute=0) - HOUR
    # after a gap: every hour since the last evaluated one, at most catchup_hours
    last = t.replace(minute=0) - 10 * HOUR
    assert hours_to_evaluate(t, last, data, s)[0] == last + HOUR
    assert len(hours_to_evaluate(t, t - 30 * 24 * HOUR, data, s)) == 48
    assert hours_to_evaluate(t, None, None, s) == []  # nothing loaded yet
    assert hours_to_evaluate(t, None, t.replace(minute=0) - 2 * HOUR, s) == [t.replace(hour=10, minute=0)]


def test_robust_bounds_ignore_one_odd_week_and_respect_the_floors() -> None:
    s = AnomalySettings()
    # one odd week (a promotion) does not widen the bounds: median and MAD of the others
    ok, flag = judge_count("volume", "(all)", 600, [1000, 1010, 990, 1005, 3000, 995], s)
    assert ok and flag and flag.direction == "low" and flag.expected == 1002.5
    assert flag.upper - flag.expected == pytest.approx(s.min_relative_change * 1002.5)
    # identical weeks (MAD 0): the counting-noise and minimum-change floors still apply
    assert judge_count("volume", "x", 1100, [1000] * 6, s) == (True, None)
    assert judge_count("volume", "x", 90, [99] * 6, s) == (False, None)  # below the minimum volume
    assert judge_count("volume", "x", 0, [500, 500], s) == (False, None)  # too few weeks
    ok, flag = judge_rate("reject_rate", "", 30, 1000, [(5, 1000)] * 6, ("high",), s)
    assert ok and flag and flag.expected == 0.005 and flag.upper == pytest.approx(0.025)
    assert judge_rate("reject_rate", "", 0, 1000, [(50, 1000)] * 6, ("high",), s) == (True, None)  # good news
    assert judge_rate("reject_rate", "", 30, 50, [(5, 1000)] * 6, ("high",), s) == (False, None)


def test_settings_from_the_environment() -> None:
    s = anomalies.settings_from_env({"ANOMALY_BASELINE_WEEKS": "8", "ANOMALY_THRESHOLD": "3.5"})
    assert (s.baseline_weeks, s.min_baseline_weeks, s.threshold, s.enabled) == (8, 3, 3.5, True)
    assert anomalies.settings_from_env({"ANOMALY_ENABLED": "false"}).enabled is False
    from clickstream_env import ConfigError

    with pytest.raises(ConfigError, match="ANOMALY_MIN_BASELINE_WEEKS"):
        anomalies.settings_from_env({"ANOMALY_BASELINE_WEEKS": "2", "ANOMALY_MIN_BASELINE_WEEKS": "3"})
    with pytest.raises(ConfigError, match="ANOMALY_THRESHOLD"):
        anomalies.settings_from_env({"ANOMALY_THRESHOLD": "zero"})


# --- end to end ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_broken_tracker_through_raw_objects_and_the_etl_is_flagged(pg_server, moto_server, monkeypatch) -> None:
    """The hour just closed: the generator's traffic with a broken tracker (a third of its events malformed, which
    the ingest writes under rejected/), through the ETL's CLI, against six weeks of history with the generator's
    usual fault rates; the run flags the reject rate and publishes AnomaliesFlagged (emulator's CloudWatch)."""
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    world = make_world(pg_server, moto_server, "anomaly-e2e")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    cfg = TrafficConfig(seed=5, clients=120, start=hour, end=hour + HOUR, malformed=0.5, returning=0.0).resolved()
    _, stats = run_s3(cfg, load_catalog_csv(), bucket=world.bucket, lines_per_object=300)
    lines = stats.event_lines
    assert lines >= 2 * AnomalySettings().min_volume and stats.rejected_lines > 0
    rng = random.Random(5)
    conn = psycopg2.connect(world.dsn)
    with conn, conn.cursor() as cur:
        for k in range(1, WEEKS + 1):
            h = hour - k * WEEK
            n = _poisson(rng, lines)
            cur.execute("INSERT INTO etl.files (bucket, object_key, size_bytes, run_id, lines, events_loaded,"
                        " duplicates, rejects) VALUES (%s, %s, 1, 0, %s, %s, %s, 0)",
                        (world.bucket, f"events/{h:%Y/%m/%d/%H}/events-{uuid.uuid4()}.json", n,
                         n - _binomial(rng, n, cfg.duplicate), _binomial(rng, n, cfg.duplicate)))
            cur.execute("INSERT INTO dw.agg_hourly_ingest_rejects VALUES (%s, 'invalid_value', '', %s)",
                        (h, max(1, _binomial(rng, n, TrafficConfig().malformed))))
    conn.close()
    namespace = f"Test/{uuid.uuid4().hex[:8]}"
    run = world.run_cli("--metrics", timeout=600, env=world.env(ANOMALY_SETTLE_MINUTES="0",
                                                                METRICS_NAMESPACE=namespace))
    assert run["_rc"] == 0 and run["status"] == "succeeded", run
    flags = world.query("SELECT check_name, subject, direction, observed, expected, upper_bound FROM "
                        "dw.anomaly_flags WHERE hour = %s", (hour,))
    assert ("reject_rate", "", "high") in {f[:3] for f in flags}, flags
    (reject,) = [f for f in flags if f[0] == "reject_rate"]
    assert reject[3] > reject[5] > reject[4]
    assert "duplicate_rate" not in {f[0] for f in flags}
    ingest, = world.query("SELECT sum(rejects) FROM dw.agg_hourly_ingest_rejects WHERE received_hour = %s", (hour,))
    assert ingest[0] > 0
    cw = moto_server.client("cloudwatch")
    names = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
             for m in cw.list_metrics(Namespace=namespace)["Metrics"]}
    assert ("AnomaliesFlagged", ()) in names
    assert ("AnomaliesFlagged", (("Check", "reject_rate"),)) in names


def test_a_failing_check_is_noted_and_never_fails_the_run_but_a_transient_error_stops_it(monkeypatch) -> None:
    """(A stand-in connection and evaluation: the error paths of the step, which a real warehouse does not take.)"""
    from clickstream_etl.runner import RunResult

    class Conn:
        rolled_back = 0

        def rollback(self) -> None:
            Conn.rolled_back += 1

    def failing(error):
        def evaluate(*_a, **_k):
            raise error
        return evaluate

    settings = Settings(raw_bucket=BUCKET, dw_host="unused")
    result = RunResult(7, "running", message="earlier note")
    monkeypatch.setattr(anomalies, "evaluate", failing(ValueError("boom")))
    anomalies.run_step(Conn(), settings, result)
    assert result.message == "earlier note; anomaly checks failed: ValueError: boom" and Conn.rolled_back == 1
    monkeypatch.setattr(anomalies, "evaluate", failing(psycopg2.OperationalError("server closed the connection")))
    with pytest.raises(psycopg2.OperationalError):
        anomalies.run_step(Conn(), settings, result)
    off = Settings(raw_bucket=BUCKET, dw_host="unused", anomalies=AnomalySettings(enabled=False))
    anomalies.run_step(Conn(), off, result)  # switched off: not called
