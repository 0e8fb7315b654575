"""Unit tests of the pure parts of roles/pg_backup/files/pg_backup_tool.py: which base backup a restore starts
from, and how many seconds of WAL are at risk."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "roles/pg_backup/files/pg_backup_tool.py"
_spec = importlib.util.spec_from_file_location("pg_backup_tool", _PATH)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

T0 = datetime(2026, 1, 31, 2, 0, 0, tzinfo=UTC)


def _backup(backup_id: str, end: datetime | None, status: str = "DONE") -> dict:
    return {"backup_id": backup_id, "status": status, "end_time": end.strftime("%a %b %e %H:%M:%S %Y") if end else None}


BACKUPS = [
    _backup("20260129T020000", T0 - timedelta(days=2)),
    _backup("20260130T020000", T0 - timedelta(days=1)),
    _backup("20260131T020000", T0),
    _backup("20260131T030000", T0 + timedelta(hours=1), status="FAILED"),
    _backup("20260131T040000", None, status="STARTED"),
]


def test_barman_ctime_end_times_are_read_as_utc() -> None:
    # Barman pads the day with a space: 'Sat Jan  3 02:00:00 2026'.
    assert tool.backup_end({"end_time": "Sat Jan  3 02:00:00 2026"}) == datetime(2026, 1, 3, 2, tzinfo=UTC)
    assert tool.backup_end({"end_time": None}) is None
    assert tool.backup_end({"end_time": "yesterday"}) is None


def test_without_a_target_the_newest_finished_backup_is_chosen() -> None:
    assert tool.choose_backup(BACKUPS, None)["backup_id"] == "20260131T020000"


def test_a_target_picks_the_newest_backup_that_ended_before_it() -> None:
    target = T0 - timedelta(hours=3)
    assert tool.choose_backup(BACKUPS, target)["backup_id"] == "20260130T020000"
    # A backup that ends exactly at the target cannot serve it (recovery cannot stop before its end).
    assert tool.choose_backup(BACKUPS, T0)["backup_id"] == "20260130T020000"


def test_no_backup_before_the_target_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="no finished base backup that ended before 2026-01-01"):
        tool.choose_backup(BACKUPS, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(LookupError, match="no finished base backup in the bucket"):
        tool.choose_backup([b for b in BACKUPS if b["status"] != "DONE"], None)


@pytest.mark.parametrize("text", ["2026-01-31T14:05:00+00:00", "2026-01-31 14:05:00Z", "2026-01-31 14:05:00.5+00",
                                  "2026-01-31T16:05:00+02:00"])
def test_target_times_need_an_offset_and_mean_the_same_instant(text: str) -> None:
    assert tool.parse_time(text).astimezone(UTC).replace(microsecond=0) == datetime(2026, 1, 31, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-01-31T14:05:00", "31/01/2026 14:05", ""])
def test_target_times_without_offset_or_unreadable_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        tool.parse_time(text)


def test_wal_at_risk_is_zero_when_nothing_waits_even_on_an_idle_cluster() -> None:
    assert tool.wal_archive_age(T0, 0, T0 - timedelta(days=3), None) == 0.0


def test_wal_at_risk_grows_from_the_last_archive_while_segments_wait() -> None:
    assert tool.wal_archive_age(T0, 3, T0 - timedelta(minutes=20), T0 - timedelta(minutes=19)) == 1200.0
    # Nothing ever archived (archive_command broken from the start): since the oldest waiting segment.
    assert tool.wal_archive_age(T0, 1, None, T0 - timedelta(minutes=5)) == 300.0


def test_a_new_cluster_is_told_apart_from_the_one_whose_backups_the_prefix_holds() -> None:
    backups = [{**b, "systemid": "7716418672428056459"} for b in BACKUPS]
    assert tool.system_match([], "1") == "none"
    assert tool.system_match(backups, "7716418672428056459") == "same"
    assert tool.system_match(backups, "7716999999999999999") == "different"
