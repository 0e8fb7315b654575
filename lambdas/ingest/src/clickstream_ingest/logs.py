"""Structured JSON logs on stdout (CloudWatch Logs in Lambda, the service log file locally)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime

LOGGER_NAME = "clickstream_ingest"
_lock = threading.Lock()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, message and the record's `fields` (extra={"fields": {...}})."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class StdoutHandler(logging.Handler):
    """Writes to the current sys.stdout (looked up per record, so a replaced stdout is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def configure(level: str = "INFO") -> logging.Logger:
    """Give the package logger a JSON handler on stdout (once); it does not propagate to the root logger."""
    logger = logging.getLogger(LOGGER_NAME)
    with _lock:
        if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            handler = StdoutHandler()
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            logger.propagate = False
    wanted = logging.getLevelNamesMapping().get(level, logging.INFO)
    if logger.level != wanted:
        logger.setLevel(wanted)
    return logger
