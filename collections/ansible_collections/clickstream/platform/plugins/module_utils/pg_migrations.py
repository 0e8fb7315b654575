# Copyright: clickstream-analytics contributors
# MIT License
"""Numbered SQL migrations, applied once each.

Files are ``NNNN_description.sql`` in one directory. Each pending file runs in its own transaction together
with its row in ``public.schema_migrations``, so a failure leaves the database as it was before that file.
An applied file whose checksum changed is an error: migrations are append-only. A transaction-level advisory
lock keeps two runners from applying the same file twice.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

MIGRATION_RE = re.compile(r"^(?P<version>\d{4})_[A-Za-z0-9_\-]+\.sql$")
LOCK_KEY = 0x6D6967726174  # "migrat": advisory-lock key shared by every runner

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version    text PRIMARY KEY,
    filename   text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration directory or an applied migration is not in a consistent state."""


@dataclass(frozen=True)
class Migration:
    version: str
    filename: str
    path: str
    checksum: str
    text: str | None = None

    def sql(self) -> str:
        if self.text is not None:
            return self.text
        with open(self.path, encoding="utf-8") as f:
            return f.read()


def from_contents(files: list[dict]) -> list[Migration]:
    """The migrations among ``files`` (each {name, content}: the file's name and its text, as the control node
    read it), ordered by version; the checksum is the sha256 of the UTF-8 text, as discover() computes from the
    file's bytes. Names that are not NNNN_description.sql are ignored; duplicate versions are an error."""
    found: dict[str, Migration] = {}
    for f in sorted(files, key=lambda f: f["name"]):
        name = os.path.basename(f["name"])
        m = MIGRATION_RE.match(name)
        if not m:
            continue
        text = f["content"]
        checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
        version = m.group("version")
        if version in found:
            raise MigrationError(f"two migrations share version {version}: {found[version].filename} and {name}")
        found[version] = Migration(version, name, name, checksum, text)
    return [found[v] for v in sorted(found)]


def discover(directory: str) -> list[Migration]:
    """The migrations in ``directory``, ordered by version; duplicate versions are an error."""
    if not os.path.isdir(directory):
        raise MigrationError(f"migration directory {directory} does not exist")
    found: dict[str, Migration] = {}
    for name in sorted(os.listdir(directory)):
        m = MIGRATION_RE.match(name)
        if not m:
            continue
        path = os.path.join(directory, name)
        with open(path, "rb") as f:
            checksum = hashlib.sha256(f.read()).hexdigest()
        version = m.group("version")
        if version in found:
            raise MigrationError(f"two migrations share version {version}: {found[version].filename} and {name}")
        found[version] = Migration(version, name, path, checksum)
    return [found[v] for v in sorted(found)]


def _applied(cur) -> dict[str, tuple[str, str]]:
    cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    if not cur.fetchone()[0]:
        return {}
    cur.execute("SELECT version, filename, checksum FROM public.schema_migrations")
    return {v: (f, c) for v, f, c in cur.fetchall()}


def pending(conn, directory: str | list[Migration]) -> list[Migration]:
    """Migrations not applied yet (``directory``: a directory of files, or migrations from from_contents());
    raises MigrationError when an applied file was changed or removed."""
    migrations = discover(directory) if isinstance(directory, str) else directory
    directory = directory if isinstance(directory, str) else "the migrations given"
    with conn.cursor() as cur:
        applied = _applied(cur)
    conn.rollback()
    by_version = {m.version: m for m in migrations}
    for version, (filename, checksum) in applied.items():
        m = by_version.get(version)
        if m is None:
            raise MigrationError(f"migration {filename} was applied but is missing from {directory}")
        if m.checksum != checksum:
            raise MigrationError(
                f"migration {m.filename} changed after it was applied (checksum {checksum[:12]} -> "
                f"{m.checksum[:12]}); add a new migration instead of editing an applied one"
            )
    return [m for m in migrations if m.version not in applied]


def apply_migrations(conn, directory: str | list[Migration], check_mode: bool = False) -> list[str]:
    """Apply pending migrations in order; return the file names applied (or that would be, in check mode).

    ``conn`` is a psycopg2 connection (autocommit off). Each file commits on its own.
    """
    todo = pending(conn, directory)
    if check_mode:
        return [m.filename for m in todo]
    done: list[str] = []
    for m in todo:
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                cur.execute(CREATE_TABLE)
                cur.execute("SELECT 1 FROM public.schema_migrations WHERE version = %s", (m.version,))
                if cur.fetchone():  # another runner applied it while we waited for the lock
                    conn.rollback()
                    continue
                cur.execute(m.sql())
                cur.execute(
                    "INSERT INTO public.schema_migrations (version, filename, checksum) VALUES (%s, %s, %s)",
                    (m.version, m.filename, m.checksum),
                )
            conn.commit()
        except Exception as exc:
            conn.rollback()
            raise MigrationError(f"migration {m.filename} failed and was rolled back: {exc}") from exc
        done.append(m.filename)
    return done
