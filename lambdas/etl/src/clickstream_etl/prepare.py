"""Turn a raw NDJSON object into rows for COPY (pure functions, no I/O).

JSON parsing, validation and normalization happen inside PostgreSQL (set-based, see sql.py): Python only
numbers the lines and escapes them for COPY's text format. Lines PostgreSQL could not even store (not UTF-8,
NUL bytes) are rejected here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PreReject:
    line_number: int
    reason: str
    detail: str
    raw_line: str


@dataclass
class Prepared:
    """One object ready to COPY: ``copy_data`` holds ``file_idx\\tline\\tjson`` rows in COPY text format."""

    copy_data: bytes
    lines: int
    pre_rejects: list[PreReject] = field(default_factory=list)


def _escape(data: bytes) -> bytes:
    """COPY text format: backslash, tab and CR are escaped; the newline ends the row."""
    return data.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")


def _clean(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def split_lines(data: bytes) -> list[bytes]:
    """The object's lines without their newline; a final newline does not make an extra line."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def prepare_lines(numbered: list[tuple[int, bytes]], file_idx: int, total_lines: int) -> Prepared:
    """Like ``prepare_object`` for some of an object's lines, given as (line number, raw line)."""
    prefix = b"%d\t" % file_idx
    rows = []
    rejects: list[PreReject] = []
    for i, line in numbered:
        if not line.strip():
            continue
        if _clean(line):
            rows.append(b"%s%d\t%s\n" % (prefix, i, _escape(line)))
            continue
        reason = "NUL byte in line" if b"\x00" in line else "line is not valid UTF-8"
        rejects.append(PreReject(i, "malformed_json", reason,
                                 line.replace(b"\x00", b"").decode("utf-8", errors="replace")))
    return Prepared(b"".join(rows), total_lines, rejects)


def prepare_object(data: bytes, file_idx: int) -> Prepared:
    """COPY rows for every non-blank line; lines that cannot be stored as text become pre-rejects."""
    lines = split_lines(data)
    prefix = b"%d\t" % file_idx
    if _clean(data):
        rows = [b"%s%d\t%s\n" % (prefix, i, line) for i, line in enumerate(_escape(data).split(b"\n"), 1)
                if i <= len(lines) and line.strip()]
        return Prepared(b"".join(rows), len(lines))
    return prepare_lines(list(enumerate(lines, 1)), file_idx, len(lines))
