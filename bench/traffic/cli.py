"""Command line: `python bench/traffic/cli.py --sink http --url http://127.0.0.1:8080/clickstream ...`
(or `PYTHONPATH=bench python -m traffic ...`). Prints progress on stderr and the JSON report at the end."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `traffic` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from traffic.catalog import DEFAULT_CATALOG, CatalogError, load_catalog_csv, load_catalog_db
    from traffic.config import ConfigError, Funnel, TrafficConfig
    from traffic.runner import SINKS, estimate_clients, run, write_report
else:
    from .catalog import DEFAULT_CATALOG, CatalogError, load_catalog_csv, load_catalog_db
    from .config import ConfigError, Funnel, TrafficConfig
    from .runner import SINKS, estimate_clients, run, write_report


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _funnel(text: str) -> Funnel:
    values: dict[str, float] = {}
    names = {f.name for f in dataclasses.fields(Funnel)}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in names:
            raise argparse.ArgumentTypeError(f"unknown funnel step {name!r} (one of {', '.join(sorted(names))})")
        try:
            values[name] = float(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"funnel step {name}: not a number: {value!r}") from exc
    return Funnel(**values)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="traffic", description="Synthetic e-commerce clickstream for the platform.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--clients", type=int, help="number of browsers (default 1000)")
    size.add_argument("--events", type=int, help="about this many events in total (chooses --clients)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--start", type=_time, help="window start (ISO 8601, default end - 24 h)")
    p.add_argument("--end", type=_time, help="window end (ISO 8601, default now)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="products CSV (default: %(default)s)")
    src.add_argument("--catalog-dsn", help="read the catalog from the OLTP database (psycopg2 DSN) instead")
    p.add_argument("--catalog-table", default="products", help="table with the catalog (default: %(default)s)")
    p.add_argument("--funnel", type=_funnel, help="step probabilities, e.g. view_item=0.6,add_to_cart=0.3")
    p.add_argument("--malformed", type=float, help="malformed events per valid event (default 0.005)")
    p.add_argument("--duplicate", type=float, help="re-sent events per valid event (default 0.01)")
    p.add_argument("--returning", type=float, help="P(another session after each session) (default 0.4)")
    p.add_argument("--batch-max", type=int, help="events per request at most (default 20)")
    p.add_argument("--sink", choices=SINKS, default="none")
    p.add_argument("--url", help="http sink: the ingest endpoint, e.g. http://127.0.0.1:8080/clickstream")
    p.add_argument("--concurrency", type=int, default=4, help="http sink: requests in flight (default 4)")
    p.add_argument("--bucket", help="s3 sink: the raw bucket")
    p.add_argument("--endpoint-url", help="s3 sink: S3 endpoint (default: AWS_ENDPOINT_URL / real AWS)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--workers", type=int, default=1, help="s3 sink: generator processes (default 1)")
    p.add_argument("--lines-per-object", type=int, default=5000, help="s3 sink: lines per object (default 5000)")
    p.add_argument("--corrupt-lines", type=float, default=0.0, help="s3 sink: unparsable lines per event line")
    p.add_argument("--out", type=Path, help="ndjson sink: file for the request bodies (one per line)")
    p.add_argument("--report", type=Path, help="write the JSON report here (default: stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def config_from_args(args: argparse.Namespace) -> TrafficConfig:
    overrides = {
        k: v
        for k, v in {
            "seed": args.seed,
            "start": args.start,
            "end": args.end,
            "funnel": args.funnel,
            "malformed": args.malformed,
            "duplicate": args.duplicate,
            "returning": args.returning,
            "batch_max": args.batch_max,
            "clients": args.clients,
        }.items()
        if v is not None
    }
    return dataclasses.replace(TrafficConfig(), **overrides).resolved()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
        if args.catalog_dsn:
            products = load_catalog_db(args.catalog_dsn, args.catalog_table)
        else:
            products = load_catalog_csv(args.catalog)
        if args.events is not None:
            cfg = dataclasses.replace(cfg, clients=estimate_clients(cfg, products, args.events))
        if args.sink == "ndjson" and args.out is None:
            raise ConfigError("the ndjson sink needs --out")
        progress = None if args.quiet else sys.stderr
        if progress is not None:
            print(
                f"[traffic] seed {cfg.seed}, {cfg.clients} clients, {cfg.start} .. {cfg.end}, sink {args.sink}",
                file=progress,
                flush=True,
            )
        common = {
            "url": args.url, "concurrency": args.concurrency, "bucket": args.bucket, "endpoint_url": args.endpoint_url,
            "region": args.region, "workers": args.workers, "lines_per_object": args.lines_per_object,
            "corrupt_lines": args.corrupt_lines, "progress": progress,
        }  # fmt: skip
        if args.sink == "ndjson":
            with args.out.open("wb") as out:
                result = run(cfg, products, args.sink, ndjson_out=out, **common)
        else:
            result = run(cfg, products, args.sink, **common)
    except (CatalogError, ConfigError, ValueError) as exc:
        print(f"traffic: error: {exc}", file=sys.stderr)
        return 2
    write_report(result, args.report)
    delivery = result.get("delivery", {})
    return 1 if delivery.get("failed_requests") else 0


if __name__ == "__main__":
    raise SystemExit(main())
