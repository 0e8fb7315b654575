"""S3 writes with retries and backoff; all-or-nothing across the objects of one request."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

RETRYABLE_CODES = frozenset({
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed",
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "500", "502", "503", "504",
})

log = logging.getLogger("clickstream_ingest")


class StorageError(Exception):
    """S3 did not take the object(s) after all attempts; nothing of the request is left behind."""


def is_retryable(exc: BaseException) -> bool:
    """Connection problems, throttling and 5xx are worth another attempt; other 4xx (AccessDenied...) are not."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in RETRYABLE_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


def backoff_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand() * min(cap, base * (2 ** attempt))


class S3Store:
    """Puts objects into one bucket. `put_all` leaves either every object or none of them."""

    def __init__(self, client: Any, bucket: str, attempts: int = 4, backoff_base: float = 0.05,
                 backoff_max: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.bucket = bucket
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.sleep = sleep

    def _with_retries(self, what: str, call: Callable[[], Any]) -> None:
        for attempt in range(self.attempts):
            try:
                call()
                return
            except (BotoCoreError, ClientError) as exc:
                last = attempt == self.attempts - 1
                if last or not is_retryable(exc):
                    raise StorageError(f"{what} failed after {attempt + 1} attempt(s): {type(exc).__name__}") from exc
                delay = backoff_delay(attempt, self.backoff_base, self.backoff_max)
                log.warning("s3 retry", extra={"fields": {"operation": what, "attempt": attempt + 1,
                                                          "error": type(exc).__name__, "delay_s": round(delay, 3)}})
                self.sleep(delay)

    def put(self, key: str, body: bytes) -> None:
        self._with_retries("put_object", lambda: self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson"))

    def delete(self, key: str) -> None:
        self._with_retries("delete_object", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def put_all(self, objects: Sequence[tuple[str, bytes]]) -> None:
        """Put every (key, body); on any failure delete what may have been written, then re-raise."""
        attempted: list[str] = []
        try:
            for key, body in objects:
                attempted.append(key)  # before the call: a timed-out put may still have landed
                self.put(key, body)
        except BaseException:
            self._cleanup(attempted)
            raise

    def _cleanup(self, keys: list[str]) -> None:
        for key in keys:
            try:
                self.delete(key)
            except StorageError:
                log.error("cleanup failed; object may be left behind", extra={"fields": {"key": key}})
