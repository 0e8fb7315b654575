"""Local ingest endpoint: `POST /clickstream` on 127.0.0.1, served by the very same Lambda Ingest handler.

Each HTTP request becomes the API Gateway HTTP API payload-2.0 event that API Gateway would send, is passed to
`clickstream_ingest.handler.handler`, and the handler's proxy response becomes the HTTP response. CORS is
answered the way an HTTP API with a CORS configuration answers it (preflight at the edge, the allow-origin
header added to responses for allowed origins).

Configuration: the handler's own environment (RAW_BUCKET_NAME, AWS_ENDPOINT_URL, ... see docs/event-contract.md)
plus the command line below. Stop it with `scripts/local-services.sh stop` (service `clickstream-ingest`).

    python -m clickstream_local.ingest_server --port 8080 --cors-origins http://localhost:3000
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ROUTE_PATH = "/clickstream"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit
ACCOUNT_ID = "123456789012"

LambdaHandler = Callable[[Mapping[str, Any], Any], Mapping[str, Any]]


@dataclass(frozen=True)
class CorsConfig:
    """The HTTP API's CorsConfiguration, as the local endpoint applies it."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ("POST", "OPTIONS")
    allow_headers: tuple[str, ...] = ("content-type",)
    max_age: int = 3600

    def origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.allow_origins or origin in self.allow_origins)

    def response_headers(self, origin: str | None) -> dict[str, str]:
        if not self.origin_allowed(origin):
            return {}
        return {"access-control-allow-origin": "*" if "*" in self.allow_origins else str(origin),
                "vary": "origin"}

    def preflight_headers(self, origin: str | None, method: str | None) -> dict[str, str]:
        if not self.origin_allowed(origin) or (method or "").upper() not in self.allow_methods:
            return {}
        return {**self.response_headers(origin),
                "access-control-allow-methods": ",".join(self.allow_methods),
                "access-control-allow-headers": ",".join(self.allow_headers),
                "access-control-max-age": str(self.max_age)}


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    aws_request_id: str
    function_name: str = "clickstream-ingest-local"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:clickstream-ingest-local"
    deadline: float = field(default_factory=lambda: time.monotonic() + 10)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def request_id() -> str:
    """An id shaped like API Gateway's (base64 of random bytes)."""
    return base64.b64encode(secrets.token_bytes(12)).decode()


def to_payload_v2(method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str,
                  host: str, now: datetime | None = None, req_id: str | None = None) -> dict[str, Any]:
    """The API Gateway HTTP API payload-2.0 event for one request (route `POST /clickstream`, stage $default)."""
    now = now or datetime.now(UTC)
    parts = urlsplit(target)
    lowered = {k.lower(): v for k, v in headers.items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"POST {ROUTE_PATH}",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
            "requestId": req_id or request_id(),
            "routeKey": f"POST {ROUTE_PATH}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


_log_lock = threading.Lock()


def _log(doc: dict[str, Any]) -> None:
    """One JSON line on stdout (the service log), written whole even with many request threads."""
    doc = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "logger": "clickstream_local.ingest", **doc}
    line = json.dumps(doc) + "\n"
    with _log_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def _ip_prefix(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))


def make_request_handler(lambda_handler: LambdaHandler, cors: CorsConfig,
                         access_log: bool = True) -> type[BaseHTTPRequestHandler]:
    """A BaseHTTPRequestHandler class bound to one Lambda handler and CORS configuration."""

    class IngestRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "clickstream-local-ingest"
        sys_version = ""
        # BaseHTTPRequestHandler's socket file is unbuffered by default, so a response leaves as two small writes
        # (status line + headers, then the body). On a keep-alive connection the second one waits for the client's
        # delayed ACK (Nagle): ~40 ms per request. A buffered wfile, flushed once per response, sends the response
        # in one write; TCP_NODELAY on the accepted socket keeps any other multi-write path (send_error, a body
        # larger than the buffer) from waiting either.
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # replaced by the JSON access log in _send

        def handle_expect_100(self) -> bool:
            ok = super().handle_expect_100()
            self.wfile.flush()  # the interim 100 Continue must leave before the body is read
            return ok

        def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()  # the whole response in one write
            if access_log:
                _log({"message": "access", "method": self.command, "path": self.path, "status": status,
                      "bytes": len(body), "source_ip_prefix": _ip_prefix(self.client_address[0])})

        def _json(self, status: int, doc: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> None:
            self._send(status, {"content-type": "application/json", **(extra or {})}, json.dumps(doc).encode())

        def _read_body(self) -> bytes | None:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                self._json(411, {"message": "Length Required"})
                return None
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                self._json(400, {"message": "Bad Request"})
                return None
            if length < 0 or length > MAX_REQUEST_BYTES:
                self.close_connection = True
                self._json(413, {"message": "Request Entity Too Large"})
                return None
            return self.rfile.read(length) if length else b""

        def _route_ok(self) -> bool:
            if urlsplit(self.path).path.rstrip("/") == ROUTE_PATH:
                return True
            self._json(404, {"message": "Not Found"})
            return False

        def do_OPTIONS(self) -> None:
            if not self._route_ok():
                return
            origin = self.headers.get("origin")
            if origin and self.headers.get("access-control-request-method"):
                headers = cors.preflight_headers(origin, self.headers.get("access-control-request-method"))
                self._send(204, headers, b"")
            else:
                self._invoke()

        def do_POST(self) -> None:
            if self._route_ok():
                self._invoke()

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/healthz":
                self._json(200, {"status": "ok"})
            elif self._route_ok():
                self._invoke()

        do_PUT = do_DELETE = do_PATCH = do_GET  # the handler answers 405 for them

        def _invoke(self) -> None:
            body = self._read_body()
            if body is None:
                return
            req_id = request_id()
            event = to_payload_v2(self.command, self.path, dict(self.headers.items()), body,
                                  self.client_address[0], self.headers.get("host") or "127.0.0.1", req_id=req_id)
            try:
                result = lambda_handler(event, LambdaContext(aws_request_id=req_id))
            except Exception as exc:  # the Lambda service answers 500 when a handler raises
                _log({"level": "ERROR", "message": "handler raised", "error": type(exc).__name__})
                self._json(500, {"message": "Internal Server Error"})
                return
            payload = result.get("body") or ""
            raw = base64.b64decode(payload) if result.get("isBase64Encoded") else str(payload).encode()
            headers = {**(result.get("headers") or {}), **cors.response_headers(self.headers.get("origin"))}
            self._send(int(result.get("statusCode", 200)), headers, raw)

    return IngestRequestHandler


class IngestHTTPServer(ThreadingHTTPServer):
    """A thread per connection; a listen backlog for bursts of clients (socketserver's default is 5)."""

    daemon_threads = True
    request_queue_size = 128


def check_loopback(host: str) -> None:
    """The local endpoint serves 127.0.0.1 only."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise SystemExit(f"refusing to listen on {host}: the local ingest endpoint binds to loopback only")


def make_server(host: str, port: int, lambda_handler: LambdaHandler, cors: CorsConfig,
                access_log: bool = True) -> IngestHTTPServer:
    check_loopback(host)
    return IngestHTTPServer((host, port), make_request_handler(lambda_handler, cors, access_log))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from clickstream_env import ConfigError, integer, text

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    try:
        port = integer(os.environ, "INGEST_PORT", 8080, 1)
    except ConfigError as exc:
        p.error(str(exc))
    p.add_argument("--host", default=text(os.environ, "INGEST_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=port)
    p.add_argument("--cors-origins", default=text(os.environ, "CORS_ALLOW_ORIGINS"),
                   help="comma-separated allowed origins ('*' for any)")
    p.add_argument("--cors-max-age", type=int, default=3600)
    p.add_argument("--no-access-log", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from clickstream_ingest.handler import handler, runtime

    args = parse_args(argv)
    origins = tuple(o.strip() for o in args.cors_origins.split(",") if o.strip())
    runtime()  # fail at start (bad RAW_BUCKET_NAME etc.), not on the first request
    server = make_server(args.host, args.port, handler, CorsConfig(allow_origins=origins, max_age=args.cors_max_age),
                         access_log=not args.no_access_log)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _log({"level": "INFO", "message": "listening", "url": f"http://{args.host}:{args.port}{ROUTE_PATH}",
          "cors_origins": list(origins), "bucket": os.environ.get("RAW_BUCKET_NAME")})
    server.serve_forever()
    server.server_close()
    _log({"level": "INFO", "message": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
