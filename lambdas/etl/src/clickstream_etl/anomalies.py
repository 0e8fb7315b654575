"""Hourly anomaly and data-quality checks against a seasonal baseline: an ETL step after the aggregates.

Each run evaluates the closed hours it has not evaluated yet and the last ``recheck_hours`` again (late events and
objects still change them); an hour is closed ``settle_minutes`` after its end, by the warehouse's clock. For an
hour H every check compares H's figure with the same figure of the same hour of the week in the previous
``baseline_weeks`` weeks (H - 1 week, H - 2 weeks, ...), with robust statistics: the baseline's median is the
expected value and 1.4826 x its median absolute deviation (MAD) a standard deviation that one odd week cannot
inflate. A check flags when its figure falls outside

    median +/- max(threshold x 1.4826 x MAD, noise floor, minimum change)

in a direction the check watches. The noise floor is what counting alone makes a figure vary by, in the hour and in
the baseline's median (threshold x sqrt(m (1 + pi / 2w)) for a count of median m over w weeks, threshold x
sqrt(p (1 - p) (1 / n + pi / (2 w n_b))) for a rate p over n, baseline denominators n_b): with few weeks the MAD
alone can be 0. The minimum change (``min_relative_change`` of the median for a count, ``min_rate_change``
for a rate) keeps tiny movements of very steady figures from flagging. Guards: a check needs ``min_volume`` (its
baseline's median count, or for a rate the observed and the baseline's median denominator) and at least
``min_baseline_weeks`` weeks of history (weeks before the warehouse's first data are not zeros, they are absent).

The checks and where their hourly figures come from (queries/anomalies.sql):

- volume (high or low), per subject (all), page_view, view_item, add_to_cart, begin_checkout, purchase and
  (other): the events of the hour (event time), from dw.agg_hourly_activity;
- reject_rate (high): (ingest rejects + ETL rejects) / accepted lines, by hour received, from
  dw.agg_hourly_ingest_rejects and etl.files;
- duplicate_rate (high): duplicates / accepted lines, by hour received, from etl.files;
- late_rate (high): lines the freshness rule rejected as stale (reason ``rules.STALE``, etl.rejects) / accepted
  lines, by hour received;
- conversion (high or low), add_to_cart>begin_checkout and begin_checkout>purchase: events of the later step / of
  the earlier, from dw.agg_hourly_activity.

"Accepted lines" are the lines of the raw objects the ingest wrote in that hour (etl.files.lines: what the ingest
accepted, before the ETL's own checks); the hour received is the hour in the object's key.

An evaluation writes the hour's row in dw.anomaly_hours and its flags in dw.anomaly_flags, replacing what an
earlier evaluation of the hour wrote, in one transaction: the result is a function of the figures only, so runs
over the same data give the same rows. Median and MAD are a few lines over the standard library's
``statistics.median`` (no numpy/scipy in the Lambda package for two medians of at most a few dozen values).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from clickstream_env import ConfigError
from clickstream_env import integer as _int
from clickstream_env import number as _number

from . import queries
from .rules import STALE

LOG = logging.getLogger("clickstream_etl.anomalies")
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normally distributed values
# The variance of the median of n values is about pi/2 times their variance over n: the noise floor counts the
# baseline's own noise (its median is an estimate) beside the hour's.
MEDIAN_VARIANCE = math.pi / 2
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)

# Volume subjects: the hourly activity's columns (page_view counts page_view and screen_view: rules.PAGE_VIEW_NAMES)
VOLUME_COLUMNS = {"(all)": "events", "page_view": "page_views", "view_item": "view_items",
                  "add_to_cart": "add_to_carts", "begin_checkout": "begin_checkouts", "purchase": "purchases"}
OTHER = "(other)"  # every other event name: (all) less the named ones
# Rates: (check, subject, numerator, denominator, directions flagged); the figures' names are _figures' keys.
RATES = (
    ("reject_rate", "", "rejects", "lines", ("high",)),
    ("duplicate_rate", "", "duplicates", "lines", ("high",)),
    ("late_rate", "", "stale", "lines", ("high",)),
    ("conversion", "add_to_cart>begin_checkout", "begin_checkouts", "add_to_carts", ("high", "low")),
    ("conversion", "begin_checkout>purchase", "purchases", "begin_checkouts", ("high", "low")),
)
CHECKS = ("volume", "reject_rate", "duplicate_rate", "late_rate", "conversion")
_ACTIVITY = tuple(VOLUME_COLUMNS.values())
_RECEIVED = ("lines", "duplicates", "rejects", "stale")
_Q = queries.load("anomalies")
_RECEIVED_HOUR = "\n".join(line for line in _Q["received_hour"][0].splitlines() if not line.lstrip().startswith("--"))


@dataclass(frozen=True)
class AnomalySettings:
    """The detector's variables (environment ``ANOMALY_*``; docs/warehouse.md, "Anomalies and data quality")."""

    enabled: bool = True
    baseline_weeks: int = 6
    min_baseline_weeks: int = 3
    threshold: float = 4.0
    min_volume: int = 100
    min_relative_change: float = 0.35
    min_rate_change: float = 0.02
    settle_minutes: int = 10
    recheck_hours: int = 3
    catchup_hours: int = 48


def settings_from_env(env: Mapping[str, str]) -> AnomalySettings:
    raw = (env.get("ANOMALY_ENABLED") or "true").strip().lower()
    if raw not in ("true", "false"):
        raise ConfigError(f"ANOMALY_ENABLED must be true or false, got {raw!r}")
    weeks = _int(env, "ANOMALY_BASELINE_WEEKS", 6, 1)
    least = _int(env, "ANOMALY_MIN_BASELINE_WEEKS", min(3, weeks), 1)
    if least > weeks:
        raise ConfigError(f"ANOMALY_MIN_BASELINE_WEEKS ({least}) is more than ANOMALY_BASELINE_WEEKS ({weeks})")
    return AnomalySettings(
        enabled=raw == "true", baseline_weeks=weeks, min_baseline_weeks=least,
        threshold=_number(env, "ANOMALY_THRESHOLD", 4.0, 0.5, 100.0),
        min_volume=_int(env, "ANOMALY_MIN_VOLUME", 100, 1),
        min_relative_change=_number(env, "ANOMALY_MIN_RELATIVE_CHANGE", 0.35, 0.0, 10.0),
        min_rate_change=_number(env, "ANOMALY_MIN_RATE_CHANGE", 0.02, 0.0, 1.0),
        settle_minutes=_int(env, "ANOMALY_SETTLE_MINUTES", 10, 0),
        recheck_hours=_int(env, "ANOMALY_RECHECK_HOURS", 3, 1),
        catchup_hours=_int(env, "ANOMALY_CATCHUP_HOURS", 48, 1),
    )


@dataclass(frozen=True)
class Flag:
    check: str
    subject: str
    direction: str
    observed: float
    expected: float
    lower: float
    upper: float
    spread: float
    weeks: int
    volume: int

    @property
    def reason(self) -> str:
        what = f"{self.check} {self.subject}".strip()
        num = _count if self.check == "volume" else _percent
        side = f"above the upper bound {num(self.upper)}" if self.direction == "high" else \
            f"below the lower bound {num(self.lower)}"
        return (f"{what}: {num(self.observed)} is {side} (expected {num(self.expected)}, the median of the same "
                f"hour in {self.weeks} previous weeks; volume {self.volume:,})")


def _count(x: float) -> str:
    return f"{x:,.1f}".removesuffix(".0")


def _percent(x: float) -> str:
    return f"{100 * x:.2f} %"


def robust(values: Iterable[float]) -> tuple[float, float]:
    """(median, 1.4826 x median absolute deviation) of ``values``."""
    values = list(values)
    mid = median(values)
    return mid, MAD_SCALE * median(abs(v - mid) for v in values)


def judge_count(check: str, subject: str, observed: float, baseline: list[float],
                s: AnomalySettings) -> tuple[bool, Flag | None]:
    """(evaluated, flag) of a count against its baseline: evaluated when the baseline has enough weeks and its
    median reaches ``min_volume`` (quiet hours are not judged, whatever they do)."""
    if len(baseline) < s.min_baseline_weeks:
        return False, None
    mid, spread = robust(baseline)
    if mid < s.min_volume:
        return False, None
    noise = math.sqrt(mid * (1 + MEDIAN_VARIANCE / len(baseline)))
    half = max(s.threshold * spread, s.threshold * noise, s.min_relative_change * mid)
    return True, _outside(check, subject, observed, mid, half, spread, len(baseline), int(observed),
                          ("high", "low"))


def judge_rate(check: str, subject: str, num: float, den: float, baseline: list[tuple[float, float]],
               directions: tuple[str, ...], s: AnomalySettings) -> tuple[bool, Flag | None]:
    """(evaluated, flag) of the rate ``num / den`` against the baseline's (num, den) pairs (weeks with a zero
    denominator are left out): evaluated when the hour and the baseline's median denominator reach ``min_volume``."""
    rates = [n / d for n, d in baseline if d > 0]
    if len(rates) < s.min_baseline_weeks or den < s.min_volume or median(d for _, d in baseline) < s.min_volume:
        return False, None
    mid, spread = robust(rates)
    p = min(max(mid, 0.0), 1.0)
    noise = math.sqrt(p * (1 - p) * (1 / den + MEDIAN_VARIANCE / (len(rates) * median(d for _, d in baseline))))
    half = max(s.threshold * spread, s.threshold * noise, s.min_rate_change)
    return True, _outside(check, subject, num / den, mid, half, spread, len(rates), int(den), directions)


def _outside(check, subject, observed, mid, half, spread, weeks, volume, directions) -> Flag | None:
    lower, upper = mid - half, mid + half
    direction = "high" if observed > upper else "low" if observed < lower else None
    if direction is None or direction not in directions:
        return None
    return Flag(check, subject, direction, float(observed), float(mid), float(lower), float(upper), float(spread),
                weeks, volume)


def judge_hour(hour: datetime, figures: Mapping[datetime, Mapping[str, float]], starts: Mapping[str, datetime | None],
               s: AnomalySettings) -> tuple[int, list[Flag]]:
    """(checks evaluated, flags) of ``hour``. ``figures`` holds each needed hour's figures (_figures: an hour
    without any is all zeros); ``starts`` the first hour with data of each side ('activity', 'received'): an hour
    before it has no figure (not a zero)."""
    def series(side: str, value) -> tuple[float | None, list]:
        first = starts.get(side)
        if first is None or hour < first:
            return None, []
        past = [hour - k * WEEK for k in range(1, s.baseline_weeks + 1)]
        return value(figures.get(hour, {})), [value(figures.get(h, {})) for h in past if h >= first]

    checks, flags = 0, []
    subjects = {**{k: (lambda f, c=c: f.get(c, 0)) for k, c in VOLUME_COLUMNS.items()},
                OTHER: lambda f: f.get("events", 0) - sum(f.get(c, 0) for c in _ACTIVITY[1:])}
    for subject, value in subjects.items():
        now, past = series("activity", value)
        if now is None:
            continue
        evaluated, flag = judge_count("volume", subject, now, past, s)
        checks += evaluated
        flags += [flag] if flag else []
    for check, subject, num, den, directions in RATES:
        side = "received" if den == "lines" else "activity"
        now, past = series(side, lambda f, n=num, d=den: (f.get(n, 0), f.get(d, 0)))
        if now is None:
            continue
        evaluated, flag = judge_rate(check, subject, now[0], now[1], past, directions, s)
        checks += evaluated
        flags += [flag] if flag else []
    return checks, flags


def hours_to_evaluate(now: datetime, last_evaluated: datetime | None, first_data: datetime | None,
                      s: AnomalySettings) -> list[datetime]:
    """The closed hours a run evaluates: those after the last one evaluated and the last ``recheck_hours`` again,
    at most ``catchup_hours``, none before the first data."""
    if first_data is None:
        return []
    latest = _floor_hour(now - timedelta(minutes=s.settle_minutes)) - HOUR
    first = latest - (s.recheck_hours - 1) * HOUR
    if last_evaluated is not None:
        first = min(first, last_evaluated + HOUR)
    first = max(first, latest - (s.catchup_hours - 1) * HOUR, _floor_hour(first_data))
    return [first + i * HOUR for i in range(int((latest - first) / HOUR) + 1)] if first <= latest else []


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _figures(cur, hours: list[datetime], bucket: str, prefix: str) -> dict[datetime, dict[str, float]]:
    """Each hour's figures: the hourly activity's counts (event time) and, by hour received, the accepted lines,
    duplicates and rejects (ingest + ETL) and the stale rejects."""
    out: dict[datetime, dict[str, float]] = {h: {} for h in hours}
    cur.execute(_Q["activity"][0], {"hours": hours})
    for row in cur.fetchall():
        out[row[0]].update(zip(_ACTIVITY, (float(v) for v in row[1:]), strict=True))
    # One SELECT per hour, so that each LIKE has a constant prefix the text_pattern_ops indexes serve (0037).
    parts, params = [], {"bucket": bucket, "stale": STALE[0]}
    for i, h in enumerate(hours):
        path = _like(prefix) + h.strftime("%Y/%m/%d/%H/") + "%"
        params.update({f"h{i}": h, f"k{i}": path, f"s{i}": "s3://" + _like(bucket) + "/" + path})
        parts.append(_RECEIVED_HOUR.format(i=i))
    for first in range(0, len(parts), 200):
        cur.execute(" UNION ALL ".join(parts[first:first + 200]), params)
        for row in cur.fetchall():
            hour, lines, duplicates, etl_rejects, ingest_rejects, stale = row
            out[hour].update(lines=float(lines), duplicates=float(duplicates),
                             rejects=float(etl_rejects + ingest_rejects), stale=float(stale))
    return out


def _starts(cur, bucket: str, prefix: str) -> dict[str, datetime | None]:
    cur.execute(_Q["starts"][0], {"bucket": bucket, "pattern": _like(prefix) + "%",
                                  "key_hour": "^" + re.escape(prefix) + r"(\d{4}/\d{2}/\d{2}/\d{2})/"})
    activity, ingest, key_hour = cur.fetchone()
    received = [t for t in (ingest, key_hour) if t is not None]
    return {"activity": activity, "received": min(received) if received else None}


def evaluate(conn, settings, run_id: int | None, *, now: datetime | None = None) -> dict[datetime, list[Flag]]:
    """Evaluate the hours due (``hours_to_evaluate``; ``now``: the warehouse's clock unless given) and store
    their rows, in one transaction. Returns each evaluated hour's flags."""
    s: AnomalySettings = settings.anomalies
    bucket, prefix = settings.raw_bucket, settings.events_prefix
    with conn.cursor() as cur:
        cur.execute("SELECT now(), (SELECT max(hour) FROM dw.anomaly_hours)")
        db_now, last = cur.fetchone()
        starts = _starts(cur, bucket, prefix)
        firsts = [t for t in starts.values() if t is not None]
        hours = hours_to_evaluate(now or db_now, last, min(firsts) if firsts else None, s)
        if not hours:
            conn.commit()
            return {}
        needed = sorted({h - k * WEEK for h in hours for k in range(s.baseline_weeks + 1)})
        figures = _figures(cur, needed, bucket, prefix)
        results = {h: judge_hour(h, figures, starts, s) for h in hours}
        cur.execute("DELETE FROM dw.anomaly_hours WHERE hour = ANY(%s)", (hours,))
        for h, (checks, flags) in results.items():
            cur.execute("INSERT INTO dw.anomaly_hours (hour, run_id, checks, flags) VALUES (%s, %s, %s, %s)",
                        (h, run_id, checks, len(flags)))
            for f in flags:
                cur.execute(_Q["insert_flag"][0], (h, f.check, f.subject, f.direction, f.observed, f.expected,
                                                   f.lower, f.upper, f.spread, f.weeks, f.volume, f.reason))
    conn.commit()
    for h, (_, flags) in results.items():
        for f in flags:
            LOG.warning(json.dumps({"message": "anomaly flagged", "run_id": run_id, "hour": h.isoformat(),
                                    "check": f.check, "subject": f.subject, "direction": f.direction,
                                    "reason": f.reason}))
    return {h: flags for h, (_, flags) in results.items()}


def run_step(conn, settings, result) -> None:
    """The run's step after the aggregates: ``evaluate``. A transient error stops the run like any other; any
    other error is logged and noted in the run's message (the loaded data stays good), never fails the run."""
    if not settings.anomalies.enabled:
        return
    from . import quarantine

    try:
        evaluate(conn, settings, result.run_id)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the connection may be gone (then the server ended the transaction)
            conn.rollback()
        if quarantine.is_transient(exc):
            raise
        LOG.exception(json.dumps({"message": "anomaly checks failed", "run_id": result.run_id}))
        note = f"anomaly checks failed: {type(exc).__name__}: {exc}"[:500]
        result.message = f"{result.message}; {note}" if result.message else note


LATEST_FLAGS_SQL = _Q["latest_flags"][0]


def latest_flags(conn) -> dict[str, int] | None:
    """Flags of the newest evaluated hour by check (every check, 0 when none); None when no hour was evaluated.
    The ETL's metric AnomaliesFlagged (metrics.py)."""
    with conn.cursor() as cur:
        cur.execute(LATEST_FLAGS_SQL)
        rows = cur.fetchall()
    conn.commit()
    if not rows:
        return None
    counts = dict.fromkeys(CHECKS, 0)
    for check, n in rows:
        if check is not None:
            counts[check] = int(n)
    return counts
