"""One run: generate the traffic, push it into a sink, and return the report of what was sent."""

from __future__ import annotations

import math
import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .catalog import Product
from .config import TrafficConfig
from .generator import CatalogIndex, ClientTraffic, iter_clients, simulate_client
from .http_sink import Progress, send_http
from .report import TrafficReport
from .s3_sink import S3RawWriter, S3Stats

SINKS = ("http", "s3", "ndjson", "none")


def estimate_clients(cfg: TrafficConfig, products: Sequence[Product], events: int, sample: int = 300) -> int:
    """How many clients make about `events` events (valid + duplicates + malformed) with these settings."""
    catalog = CatalogIndex.build(products, cfg.popularity_skew)
    sampled = [simulate_client(cfg, catalog, i) for i in range(sample)]
    per_client = sum(len(b.items) for c in sampled for b in c.batches) / sample
    return max(1, math.ceil(events / max(per_client, 1e-9)))


def _reported(cfg: TrafficConfig, clients: Iterator[ClientTraffic], report: TrafficReport) -> Iterator[ClientTraffic]:
    for client in clients:
        report.add(client)
        yield client


def _s3_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region)


def _s3_worker(
    args: tuple[TrafficConfig, Sequence[Product], range, int, dict[str, Any]],
) -> tuple[TrafficReport, S3Stats]:
    cfg, products, indexes, stream, opts = args
    report = TrafficReport(cfg)
    writer = S3RawWriter(
        _s3_client(opts["endpoint_url"], opts["region"]),
        opts["bucket"],
        seed=cfg.seed,
        stream=stream,
        lines_per_object=opts["lines_per_object"],
        corrupt_lines=opts["corrupt_lines"],
        latest_ms=opts["latest_ms"],
    )
    last = started = time.monotonic()
    try:
        for done, client in enumerate(_reported(cfg, iter_clients(cfg, products, indexes), report), start=1):
            writer.add(client)
            if opts["progress"] and time.monotonic() - last >= 2.0:
                last = time.monotonic()
                print(
                    f"[traffic] s3 worker {stream}: clients {done}/{len(indexes)}, {report.items_sent} events "
                    f"({report.items_sent / (last - started):,.0f}/s), {writer.stats.event_objects} objects written",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        stats = writer.close()
    return report, stats


def _chunks(total: int, parts: int) -> list[range]:
    size = math.ceil(total / parts) if total else 0
    return [range(i, min(i + size, total)) for i in range(0, total, size)] if size else []


def run_s3(
    cfg: TrafficConfig,
    products: Sequence[Product],
    *,
    bucket: str,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    workers: int = 1,
    lines_per_object: int = 5000,
    corrupt_lines: float = 0.0,
    progress: IO[str] | None = None,
) -> tuple[TrafficReport, S3Stats]:
    """Raw NDJSON objects straight into the bucket; `workers` processes each own a contiguous range of clients."""
    assert cfg.end is not None
    opts = {
        "bucket": bucket,
        "endpoint_url": endpoint_url,
        "region": region,
        "lines_per_object": lines_per_object,
        "corrupt_lines": corrupt_lines,
        "latest_ms": int(cfg.end.timestamp() * 1000),
        "progress": progress is not None,
    }
    jobs = [(cfg, products, r, n, opts) for n, r in enumerate(_chunks(cfg.clients, max(1, workers)))]
    started = time.monotonic()
    if workers <= 1 or len(jobs) <= 1:
        results = [_s3_worker(job) for job in jobs]
    else:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            results = []
            for n, result in enumerate(pool.imap(_s3_worker, jobs), start=1):
                results.append(result)
                if progress is not None:
                    print(
                        f"[traffic] s3: worker {n}/{len(jobs)} done after {time.monotonic() - started:.1f} s",
                        file=progress,
                        flush=True,
                    )
    report, stats = TrafficReport(cfg), S3Stats()
    for part_report, part_stats in results:
        report.merge(part_report)
        stats.merge(part_stats)
    return report, stats


def run(
    cfg: TrafficConfig,
    products: Sequence[Product],
    sink: str,
    *,
    url: str | None = None,
    concurrency: int = 4,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    workers: int = 1,
    lines_per_object: int = 5000,
    corrupt_lines: float = 0.0,
    ndjson_out: IO[bytes] | None = None,
    progress: IO[str] | None = sys.stderr,
) -> dict[str, Any]:
    """Generate `cfg` (resolved) into `sink` and return {report..., "sink": ..., "delivery": ...}."""
    if sink not in SINKS:
        raise ValueError(f"unknown sink {sink!r} (one of {', '.join(SINKS)})")
    started = time.monotonic()
    delivery: dict[str, Any] = {}
    if sink == "s3":
        if not bucket:
            raise ValueError("the s3 sink needs a bucket")
        report, stats = run_s3(
            cfg, products, bucket=bucket, endpoint_url=endpoint_url, region=region, workers=workers,
            lines_per_object=lines_per_object, corrupt_lines=corrupt_lines, progress=progress,
        )  # fmt: skip
        delivery = stats.as_dict()
    else:
        report = TrafficReport(cfg)
        clients = _reported(cfg, iter_clients(cfg, products), report)
        if sink == "http":
            if not url:
                raise ValueError("the http sink needs --url")
            tick = Progress(cfg.clients, stream=progress) if progress is not None else None
            delivery = send_http(clients, url, concurrency=concurrency, progress=tick).as_dict()
        elif sink == "ndjson":
            if ndjson_out is None:
                raise ValueError("the ndjson sink needs an output stream")
            requests = 0
            for client in clients:
                for batch in client.batches:
                    ndjson_out.write(batch.body_bytes() + b"\n")
                    requests += 1
            delivery = {"requests": requests}
        else:
            for _ in clients:
                pass
    result = report.as_dict()
    result["sink"] = sink
    result["delivery"] = delivery
    result["elapsed_s"] = round(time.monotonic() - started, 3)
    return result


def write_report(result: dict[str, Any], path: Path | None) -> None:
    import json

    text = json.dumps(result, indent=2) + "\n"
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
