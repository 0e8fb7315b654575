"""The ETL's large SQL statements, kept in ``.sql`` files beside this module.

A file holds named blocks: a block starts with a line ``-- name: <name>`` and holds one or more statements, each
ending with ``;`` at the end of a line. ``{placeholders}`` in a block are the business rules' SQL forms
(``rules.SQL``), filled in when the file is read; psycopg2 parameters keep their ``%(name)s`` form.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from ..rules import SQL as RULES

_BLOCK = re.compile(r"^-- name: (\w+)[^\n]*\n", re.MULTILINE)
_END = re.compile(r";[ \t]*$", re.MULTILINE)


@cache
def load(file: str) -> dict[str, list[str]]:
    """The blocks of ``<file>.sql``: each one's statements, without their ``;``, with the rules filled in."""
    return blocks(resources.files(__package__).joinpath(f"{file}.sql").read_text(encoding="utf-8"), RULES)


def blocks(text: str, placeholders: dict[str, str]) -> dict[str, list[str]]:
    """The blocks of ``text`` in this format, with ``placeholders`` filled in."""
    parts = _BLOCK.split(text)
    found: dict[str, list[str]] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        statements = [s.strip() for s in _END.split(body.format_map(placeholders))]
        found[name] = [s for s in statements if s and not all(
            line.lstrip().startswith("--") or not line.strip() for line in s.splitlines())]
    return found


def statement(file: str, name: str) -> str:
    """The one statement of block ``name`` of ``<file>.sql``."""
    (only,) = load(file)[name]
    return only
