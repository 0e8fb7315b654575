"""scripts/harness/postgres.PostgresServer with keep_dir (the dashboards bench keeps its 10M-event warehouse):
close() stops the cluster and keeps it, the next server reuses it; without keep_dir nothing is left behind."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from scripts.harness.postgres import PostgresServer


def test_a_kept_cluster_survives_close_and_is_reused():
    root = Path(tempfile.mkdtemp(prefix="pgkept-"))
    try:
        first = PostgresServer(keep_dir=root)
        try:
            first.create_database("kept_db")
            assert first.database_exists("kept_db") and not first.database_exists("other_db")
        finally:
            first.close()
        assert (root / "data" / "PG_VERSION").exists()
        second = PostgresServer(keep_dir=root)
        try:
            assert second.database_exists("kept_db")
        finally:
            second.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_throwaway_cluster_is_removed():
    server = PostgresServer()
    directory = server.dir
    try:
        assert (directory / "data").exists()
    finally:
        server.close()
    assert not directory.exists()
