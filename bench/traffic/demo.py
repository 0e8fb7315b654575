"""The demo month of `make up`: 30 UTC days of shop traffic that look like a real shop's.

    PYTHONPATH=bench python -m traffic.demo --env-file /var/lib/clickstream-analytics/etl/etl.env \
        --url http://127.0.0.1:8080/clickstream --report demo.json

The window runs from midnight (UTC) 29 days before today to now: 30 calendar days. Everything before the last
24 hours is written straight into the raw bucket in the ingest's own layout and line format (`traffic.s3_sink`,
byte-identical to what the ingest stores), each day by a process of a small pool while another sends the last day
(keys name the hour, so the ETL's listing, which runs after, follows them in time order).
The last 24 hours go through the HTTP ingest endpoint, as the browser tracker sends them. So a fresh machine gets
a month of history in a minute or two instead of the hours 30 days of HTTP requests would take.

What the month shows (`plan`):
- weekday pattern: more visitors at the weekend, fewer on Monday to Wednesday (`WEEKDAY_FACTOR`); the hour pattern
  is the generator's own daily curve (quiet nights, busy evenings);
- acquisition: sessions arrive through the generator's channel mix (search, ads with gclid, social, e-mail,
  referrals, affiliates, display, video, direct), each client on one device (desktop, phone, tablet);
- a campaign spike: a newsletter day with `CAMPAIGN_FACTOR` times the visitors, who add to cart and buy more, half
  of that day's sessions from the e-mail campaign (`utm_campaign=newsletter-<date>`);
- returning clients: `AUDIENCE_SHARE` of each day's visitors are members of one audience of `AUDIENCE_DAYS` days'
  visitors, so a client comes back on other days and weeks (retention cohorts show something);
- a bad-data incident: one afternoon a broken tracker release sends many malformed events (the ingest rejects
  them: rejected/ objects with their reasons) and truncated lines reach the bucket (the ETL rejects them), both
  shown by the pipeline-health dashboard.

The JSON report is the generator's (`traffic.report`) summed over every part, plus `parts` and `delivery` per
sink, so tests compare the warehouse with the truth as for any other run. Same `--seed` and `--end`: same events.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .catalog import DEFAULT_CATALOG, load_catalog_csv
from .config import Funnel, TrafficConfig
from .generator import iter_clients
from .http_sink import send_http
from .report import TrafficReport
from .runner import run_s3

DAYS = 30
# Visitors per weekday (Monday first) relative to the base: shoppers browse more at the weekend.
WEEKDAY_FACTOR = (0.85, 0.9, 0.95, 1.0, 1.1, 1.3, 1.2)
CAMPAIGN_DAYS_AGO = 9  # the newsletter day
CAMPAIGN_FACTOR = 2.5
CAMPAIGN_FUNNEL = Funnel(view_item=0.75, add_to_cart=0.45, begin_checkout=0.6, purchase=0.75)
INCIDENT_DAYS_AGO = 16  # the broken tracker release, 14:00-16:00 UTC
INCIDENT_HOURS = (14, 16)
INCIDENT_SHARE = 0.25  # of the day's base visitors, during the incident
INCIDENT_MALFORMED = 0.35  # malformed events per valid event while it lasts (the usual rate: 0.005)
INCIDENT_CORRUPT = 0.05  # truncated lines per event line in the raw objects (the ETL rejects them)
AUDIENCE_SHARE = 0.4  # of each day's visitors: members of the month's shared audience (returning clients)
AUDIENCE_DAYS = 2  # the audience: this many average days' visitors (each member comes on about one day in five)


@dataclass(frozen=True)
class Part:
    """One generator run of the demo: a window, its visitors and how they are delivered."""

    name: str
    start: datetime
    end: datetime
    clients: int
    seed: int
    sink: str  # "s3" or "http"
    funnel: Funnel | None = None
    malformed: float | None = None
    corrupt_lines: float = 0.0
    campaign: str | None = None
    audience: tuple[int, int, float] | None = None  # (seed, size, share): config.audience_*


def plan(end: datetime, clients_per_day: int, seed: int, days: int = DAYS) -> list[Part]:
    """The demo's parts in the order they are sent: past days (s3, oldest first; the incident right after its
    day), then the last 24 hours (http). ``clients_per_day`` is an average weekday's visitors."""
    end = end.astimezone(UTC).replace(microsecond=0)
    first_day = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=days - 1)
    http_start = end - timedelta(days=1)
    audience = (seed, max(1, clients_per_day * AUDIENCE_DAYS), AUDIENCE_SHARE)
    parts: list[Part] = []
    day = first_day
    while day < http_start:
        stop = min(day + timedelta(days=1), http_start)
        days_ago = (end.date() - day.date()).days
        factor = WEEKDAY_FACTOR[day.weekday()] * (stop - day) / timedelta(days=1)
        campaign = days_ago == CAMPAIGN_DAYS_AGO
        if campaign:
            factor *= CAMPAIGN_FACTOR
        parts.append(Part(f"{day:%Y-%m-%d}" + (" campaign" if campaign else ""), day, stop,
                          max(1, round(clients_per_day * factor)), seed + days_ago, "s3",
                          funnel=CAMPAIGN_FUNNEL if campaign else None,
                          campaign=f"newsletter-{day:%Y-%m-%d}" if campaign else None, audience=audience))
        if days_ago == INCIDENT_DAYS_AGO:
            a, b = (day + timedelta(hours=h) for h in INCIDENT_HOURS)
            parts.append(Part(f"{day:%Y-%m-%d} incident", a, b, max(1, round(clients_per_day * INCIDENT_SHARE)),
                              seed + 1000 + days_ago, "s3", malformed=INCIDENT_MALFORMED,
                              corrupt_lines=INCIDENT_CORRUPT))
        day = stop
    day_factor = WEEKDAY_FACTOR[end.weekday()]
    parts.append(Part("last 24 h", http_start, end, max(1, round(clients_per_day * day_factor)), seed, "http",
                      audience=audience))
    return parts


def _config(part: Part) -> TrafficConfig:
    overrides: dict[str, Any] = {"seed": part.seed, "clients": part.clients, "start": part.start, "end": part.end}
    if part.funnel is not None:
        overrides["funnel"] = part.funnel
    if part.malformed is not None:
        overrides["malformed"] = part.malformed
    if part.campaign is not None:
        overrides["campaign"] = part.campaign
    if part.audience is not None:
        overrides["audience_seed"], overrides["audience_size"], overrides["audience_share"] = part.audience
    return dataclasses.replace(TrafficConfig(), **overrides).resolved()


def _send_http_part(part: Part, products, url: str, concurrency: int) -> tuple[TrafficReport, dict[str, Any], float]:
    """One part through the HTTP endpoint: its report, the endpoint's delivery stats and its seconds."""
    t0 = time.monotonic()
    report = TrafficReport(_config(part))

    def counted(clients):
        for client in clients:
            report.add(client)
            yield client

    delivery = send_http(counted(iter_clients(report.config, products)), url, concurrency=concurrency).as_dict()
    return report, delivery, time.monotonic() - t0


def _write_s3_part(part: Part, products, bucket: str, endpoint_url: str | None,
                   region: str) -> tuple[TrafficReport, dict[str, Any], float]:
    """One part written straight into the raw bucket: its report, the objects' stats and its seconds."""
    t0 = time.monotonic()
    report, stats = run_s3(_config(part), products, bucket=bucket, endpoint_url=endpoint_url, region=region,
                           corrupt_lines=part.corrupt_lines, progress=None)
    return report, stats.as_dict(), time.monotonic() - t0


def run_demo(parts: list[Part], products, *, bucket: str, endpoint_url: str | None, url: str,
             region: str = "us-east-1", concurrency: int = 8, workers: int | None = None,
             progress=sys.stderr) -> dict[str, Any]:
    """Send every part; the summed report (``TrafficReport.as_dict``) with ``parts`` and ``delivery``.

    The parts run on ``workers`` processes (default: one per core, at least two), the HTTP part first: it waits on
    the ingest endpoint while the others generate and write the past days' objects, so the month takes about as
    long as the longest of them instead of their sum. Each part's events and objects depend only on its own seed,
    so what is sent, and the report (summed in the plan's order), do not depend on which process sent what."""
    started = time.monotonic()
    whole = dataclasses.replace(TrafficConfig(), seed=parts[-1].seed, start=parts[0].start, end=parts[-1].end)
    total = TrafficReport(whole.resolved())
    s3_delivery: dict[str, int] = {}
    http_delivery: dict[str, Any] = {}
    summary = []
    workers = workers or max(2, os.cpu_count() or 1)
    # fork: the workers start from this process's state (catalog, imports); no client or thread exists here yet.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        order = sorted(range(len(parts)), key=lambda i: parts[i].sink != "http")
        jobs = {i: pool.submit(_send_http_part, parts[i], products, url, concurrency) if parts[i].sink == "http"
                else pool.submit(_write_s3_part, parts[i], products, bucket, endpoint_url, region) for i in order}
        for i, part in enumerate(parts):
            report, delivery, elapsed = jobs[i].result()
            if part.sink == "s3":
                for k, v in delivery.items():
                    s3_delivery[k] = s3_delivery.get(k, 0) + v
            else:
                http_delivery = delivery
            total.merge(report)
            summary.append({"name": part.name, "sink": part.sink, "start": _iso(part.start), "end": _iso(part.end),
                            "clients": part.clients, "events": report.valid, "malformed": report.malformed,
                            "expected": {"ingest_accepted": report.valid + report.duplicates,
                                         "ingest_rejected": report.malformed},
                            "elapsed_s": round(elapsed, 3), "delivery": delivery})
            if progress is not None:
                print(f"[demo] {part.name:<22} {part.sink:<4} {part.clients:>5} visitors {report.valid:>7,} events "
                      f"{report.malformed:>5,} malformed  {elapsed:5.1f} s", file=progress, flush=True)
    result = total.as_dict()
    result["parts"] = summary
    result["delivery"] = {"s3": s3_delivery, "http": http_delivery}
    result["elapsed_s"] = round(time.monotonic() - started, 3)
    return result


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"')
    return env


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="traffic.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--env-file", type=Path, help="the ETL's settings (etl.env): raw bucket, emulator endpoint")
    p.add_argument("--bucket", help="the raw bucket (default: RAW_BUCKET_NAME of --env-file)")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL of --env-file)")
    p.add_argument("--url", required=True, help="the ingest endpoint for the last 24 hours")
    p.add_argument("--clients", type=int, default=400, help="visitors on an average weekday (default 400)")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--days", type=int, default=DAYS)
    p.add_argument("--end", type=_time, help="the window's end (default: now)")
    p.add_argument("--concurrency", type=int, default=8, help="HTTP requests in flight (default 8)")
    p.add_argument("--workers", type=int, help="processes sending the parts (default: one per core, at least 2)")
    p.add_argument("--report", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    env = _env_file(args.env_file) if args.env_file else {}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        if key in env:
            os.environ.setdefault(key, env[key])
    bucket = args.bucket or env.get("RAW_BUCKET_NAME")
    if not bucket:
        print("traffic.demo: error: no raw bucket (--bucket, or --env-file with RAW_BUCKET_NAME)", file=sys.stderr)
        return 2
    if args.days < 2 or args.clients < 1:
        print("traffic.demo: error: --days must be >= 2 and --clients >= 1", file=sys.stderr)
        return 2
    end = args.end or datetime.now(UTC)
    parts = plan(end, args.clients, args.seed, args.days)
    result = run_demo(parts, load_catalog_csv(DEFAULT_CATALOG), bucket=bucket,
                      endpoint_url=args.endpoint_url or env.get("AWS_ENDPOINT_URL"), url=args.url,
                      region=env.get("AWS_DEFAULT_REGION", "us-east-1"), concurrency=args.concurrency,
                      workers=args.workers,
                      progress=None if args.quiet else sys.stderr)
    text = json.dumps(result, indent=2) + "\n"
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if result["delivery"]["http"].get("failed_requests") else 0


if __name__ == "__main__":
    raise SystemExit(main())
