"""Send the traffic to `POST /clickstream` as browsers would: one request per tracker flush, concurrently.

Retries connection errors, 429 and 5xx with exponential backoff (a 503 from the ingest means nothing was
stored, so a retry cannot duplicate); 4xx answers are final and counted. `DeliveryStats` sums the
ingest's own answers (`accepted` / `rejected` / reasons) so they can be compared with the report.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .generator import Batch, ClientTraffic

# Real browsers' User-Agents by device (the ingest derives the category, browser and OS from them), with the share
# of clients on each device: about half the visitors of a shop are on a phone.
USER_AGENTS_BY_DEVICE: dict[str, tuple[float, tuple[str, ...]]] = {
    "desktop": (0.42, (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36 Edg/124.0.2478.67",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
        "Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    )),
    "mobile": (0.50, (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
        "Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
        "Chrome/117.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    )),
    "tablet": (0.08, (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
    )),
}
USER_AGENTS = tuple(ua for _, agents in USER_AGENTS_BY_DEVICE.values() for ua in agents)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def user_agent_for(client_id: str) -> str:
    """A stable browser User-Agent per client: its device by the shares of USER_AGENTS_BY_DEVICE, then one of its
    agents (both from the client id's digest)."""
    digest = hashlib.sha256(client_id.encode()).digest()
    x = int.from_bytes(digest[:4], "big") / 2**32
    for share, agents in USER_AGENTS_BY_DEVICE.values():
        if x < share:
            return agents[digest[4] % len(agents)]
        x -= share
    return USER_AGENTS[digest[4] % len(USER_AGENTS)]


@dataclass
class DeliveryStats:
    requests: int = 0
    events: int = 0
    attempts: int = 0
    retries: int = 0
    accepted: int = 0
    rejected: int = 0
    failed_requests: int = 0  # gave up (final 4xx or retries exhausted): their events never arrived
    failed_events: int = 0
    timeouts_retried: int = 0  # a retried timeout may have been stored once already (a duplicate)
    status: Counter[int] = field(default_factory=Counter)
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "events": self.events,
            "attempts": self.attempts,
            "retries": self.retries,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "failed_requests": self.failed_requests,
            "failed_events": self.failed_events,
            "timeouts_retried": self.timeouts_retried,
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "last_error": self.last_error,
        }


class _Poster:
    """Thread-local keep-alive connections to one endpoint."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.path = parts.path or "/"
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def post(self, body: bytes, user_agent: str) -> tuple[int, bytes]:
        conn = self._conn()
        headers = {"Content-Type": "application/json", "User-Agent": user_agent, "Connection": "keep-alive"}
        conn.request("POST", self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.drop()
        return response.status, data


def send_http(
    clients: Iterable[ClientTraffic],
    url: str,
    *,
    concurrency: int = 4,
    timeout: float = 30.0,
    max_attempts: int = 6,
    backoff_base: float = 0.1,
    backoff_max: float = 5.0,
    progress: Callable[[DeliveryStats, int], None] | None = None,
    on_client: Callable[[ClientTraffic], None] | None = None,
) -> DeliveryStats:
    """POST every batch of every client; returns what the endpoint answered. Memory: O(concurrency) batches."""
    poster = _Poster(url, timeout)
    stats = DeliveryStats()
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(concurrency * 4)
    jitter = random.Random(0)  # backoff jitter only; never changes what is sent

    def deliver(batch: Batch, user_agent: str) -> None:
        body = batch.body_bytes()
        n_events = len(batch.items)
        status, data, error = 0, b"", None
        try:
            for attempt in range(1, max_attempts + 1):
                timed_out = False
                try:
                    status, data = poster.post(body, user_agent)
                    error = None
                except TimeoutError as exc:
                    poster.drop()
                    status, error, timed_out = 0, f"timeout: {exc}", True
                except (OSError, http.client.HTTPException) as exc:
                    poster.drop()
                    status, error = 0, f"{type(exc).__name__}: {exc}"
                with lock:
                    stats.attempts += 1
                    if status:
                        stats.status[status] += 1
                if status and status not in RETRY_STATUSES:
                    break
                if attempt < max_attempts:
                    with lock:
                        stats.retries += 1
                        stats.timeouts_retried += int(timed_out)
                    time.sleep(min(backoff_max, backoff_base * 2 ** (attempt - 1)) * (0.5 + jitter.random()))
            _account(stats, lock, status, data, error, n_events)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="http-sink") as pool:
        futures: list[Future[None]] = []
        for done_clients, client in enumerate(clients, start=1):
            if on_client is not None:
                on_client(client)
            user_agent = user_agent_for(client.client_id)
            for batch in client.batches:
                slots.acquire()
                futures.append(pool.submit(deliver, batch, user_agent))
            futures = _pending(futures)
            if progress is not None:
                progress(stats, done_clients)
        for f in futures:
            f.result()
    if progress is not None:
        progress(stats, -1)
    return stats


def _pending(futures: list[Future[None]]) -> list[Future[None]]:
    """The futures still running; a finished one that raised re-raises here."""
    for f in futures:
        if f.done():
            f.result()
    return [f for f in futures if not f.done()]


def _account(stats: DeliveryStats, lock: threading.Lock, status: int, data: bytes, error: str | None, n: int) -> None:
    answer: dict[str, Any] = {}
    try:
        parsed = json.loads(data) if data else {}
        answer = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        answer = {}
    with lock:
        stats.requests += 1
        stats.events += n
        if status == 200:
            stats.accepted += int(answer.get("accepted", 0))
            stats.rejected += int(answer.get("rejected", 0))
            for err in answer.get("errors") or []:
                stats.rejected_by_reason[str(err.get("reason"))] += 1
        else:
            stats.failed_requests += 1
            stats.failed_events += n
            stats.last_error = error or f"HTTP {status}: {data[:300].decode(errors='replace')}"


class Progress:
    """Prints a line to stderr at most every `every` seconds (and a final one)."""

    def __init__(self, total_clients: int, every: float = 2.0, stream: Any = None) -> None:
        self.total = total_clients
        self.every = every
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, stats: DeliveryStats, done_clients: int) -> None:
        now = time.monotonic()
        if done_clients >= 0 and now - self.last < self.every:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        where = "done" if done_clients < 0 else f"clients {done_clients}/{self.total}"
        print(
            f"[traffic] http: {stats.events} events in {stats.requests} requests "
            f"({stats.events / elapsed:,.0f} events/s), accepted {stats.accepted}, rejected {stats.rejected}, "
            f"failed {stats.failed_requests}, {where}",
            file=self.stream,
            flush=True,
        )
