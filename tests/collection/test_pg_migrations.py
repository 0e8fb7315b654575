"""The migrations runner against a real PostgreSQL: once each, in order, atomic per file, append-only."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg2
import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (
    MigrationError,
    apply_migrations,
)

from scripts.harness.ansible import run_playbook


@pytest.fixture
def db(pg_server, request):
    dsn = pg_server.create_database(f"mig_{request.node.name[:40].lower()}")
    conn = psycopg2.connect(dsn)
    yield conn, dsn
    conn.close()


def write(d: Path, name: str, body: str) -> None:
    (d / name).write_text(body, encoding="utf-8")


def tables(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        rows = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return rows


def test_applies_in_order_once(db, tmp_path):
    conn, _ = db
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (id int REFERENCES a(id));")
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);")
    write(tmp_path, "README.md", "not a migration")
    assert apply_migrations(conn, str(tmp_path), check_mode=True) == ["0001_a.sql", "0002_b.sql"]
    assert "a" not in tables(conn)  # check mode changed nothing
    assert apply_migrations(conn, str(tmp_path)) == ["0001_a.sql", "0002_b.sql"]
    assert {"a", "b", "schema_migrations"} <= tables(conn)
    assert apply_migrations(conn, str(tmp_path)) == []
    write(tmp_path, "0003_c.sql", "CREATE TABLE c (id int);")
    assert apply_migrations(conn, str(tmp_path)) == ["0003_c.sql"]


def test_failed_file_rolls_back_and_stops(db, tmp_path):
    conn, _ = db
    write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);")
    write(tmp_path, "0002_bad.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    write(tmp_path, "0003_later.sql", "CREATE TABLE later (id int);")
    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
        apply_migrations(conn, str(tmp_path))
    assert "ok" in tables(conn)
    assert "half" not in tables(conn) and "later" not in tables(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == ["0001"]


def test_edited_applied_file_is_an_error(db, tmp_path):
    conn, _ = db
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    apply_migrations(conn, str(tmp_path))
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(conn, str(tmp_path))


def test_duplicate_versions_are_an_error(db, tmp_path):
    conn, _ = db
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0001_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="share version 0001"):
        apply_migrations(conn, str(tmp_path))


def test_concurrent_runners_apply_each_file_once(db, tmp_path):
    _, dsn = db
    write(tmp_path, "0001_counter.sql", "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);")
    write(tmp_path, "0002_more.sql", "INSERT INTO counter VALUES (2);")
    errors: list[Exception] = []

    def runner() -> None:
        c = psycopg2.connect(dsn)
        try:
            apply_migrations(c, str(tmp_path))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A runner that raced on CREATE TABLE may fail cleanly; none may apply a file twice.
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT n, count(*) FROM counter GROUP BY n ORDER BY n")
        assert cur.fetchall() == [(1, 1), (2, 1)]
    conn.close()
    assert len(errors) < len(threads)


def test_module_check_mode_then_apply(pg_server, tmp_path):
    dsn = pg_server.create_database("mig_module")
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - clickstream.platform.postgresql_migrations:
        path: {tmp_path}
        db: mig_module
        login_host: 127.0.0.1
        port: {pg_server.port}
      register: r
    - ansible.builtin.debug:
        msg: "APPLIED={{{{ r.applied | join(',') }}}}"
""",
        encoding="utf-8",
    )
    check = run_playbook(str(playbook), "--check")
    assert check.rc == 0, check.output
    assert "APPLIED=0001_a.sql" in check.output and check.changed == 1
    conn = psycopg2.connect(dsn)
    assert "a" not in tables(conn)
    first = run_playbook(str(playbook))
    assert first.rc == 0 and first.changed == 1, first.output
    assert "a" in tables(conn)
    second = run_playbook(str(playbook))
    assert second.rc == 0 and second.changed == 0, second.output
    conn.close()
