"""Pure parts of the ETL: COPY preparation, batching, listing window, settings, password, schedule parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from clickstream_etl.config import ConfigError, settings_from_env
from clickstream_etl.password import SecretError, read_password
from clickstream_etl.prepare import prepare_object, split_lines
from clickstream_etl.rebuild import dirty_ranges
from clickstream_etl.source import RawObject, batches, pending, start_after_for
from clickstream_local.etl_scheduler import LocalContext, ScheduleError, parse_env, rate_seconds

ENV = {"RAW_BUCKET_NAME": "b", "DW_HOST": "10.0.2.10", "DW_PASSWORD_PARAMETER": "/p/db/dw/etl_writer/password"}


def test_prepare_numbers_lines_and_escapes_for_copy():
    data = b'{"a": "x\\ty"}\n\n{"b":\t1}\r\n'
    p = prepare_object(data, 3)
    assert p.lines == 3 and p.pre_rejects == []
    assert p.copy_data == b'3\t1\t{"a": "x\\\\ty"}\n3\t3\t{"b":\\t1}\\r\n'


def test_prepare_rejects_lines_postgres_cannot_store():
    data = b'{"ok": 1}\n{"bad": "\xff"}\n{"nul": "\x00"}\n'
    p = prepare_object(data, 0)
    assert [(r.line_number, r.reason) for r in p.pre_rejects] == [(2, "malformed_json"), (3, "malformed_json")]
    assert p.pre_rejects[0].detail == "line is not valid UTF-8" and p.pre_rejects[1].detail == "NUL byte in line"
    assert p.copy_data == b'0\t1\t{"ok": 1}\n'


def test_split_lines_ignores_only_the_final_newline():
    assert split_lines(b"a\nb\n") == [b"a", b"b"]
    assert split_lines(b"a\n\nb") == [b"a", b"", b"b"]


def _obj(key: str, size: int = 10) -> RawObject:
    return RawObject(key, size, "e", datetime(2024, 5, 1, tzinfo=UTC))


def test_batches_keep_key_order_and_limits():
    objs = [_obj(f"k{i}", 40) for i in range(5)]
    assert [[o.key for o in b] for b in batches(objs, 100, 10)] == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert [len(b) for b in batches(objs, 10_000, 2)] == [2, 2, 1]
    assert batches([_obj("big", 500)], 100, 10) == [[_obj("big", 500)]]  # an oversized object still loads
    # a ramp: the first groups hold 1/8, 1/4, 1/2 of the bytes, then all of them (always at least one object), and
    # the last ones the same in reverse when there are more than two full groups' bytes
    sixteen = [_obj(f"k{i}", 10) for i in range(16)]
    ramped = batches(sixteen, 40, 100, ramp=3)
    assert [len(b) for b in ramped] == [1, 1, 2, 4, 4, 2, 1, 1]
    assert [o.key for b in ramped for o in b] == [o.key for o in sixteen]  # every object once, in key order
    assert [len(b) for b in batches(sixteen, 80, 100, ramp=2)] == [2, 4, 8, 2]  # 160 bytes: no ramp down
    assert [len(b) for b in batches(sixteen, 60, 100, ramp=2)] == [1, 3, 6, 2, 3, 1]
    assert [len(b) for b in batches(sixteen[:3], 10, 100, ramp=3)] == [1, 1, 1]


def test_pending_skips_the_manifest():
    assert [o.key for o in pending([_obj("a"), _obj("b")], {"a"})] == ["b"]


def test_listing_starts_lookback_hours_before_the_newest_loaded_hour():
    assert start_after_for("events/", "events/2024/05/01/10/events-x.json", 24) == "events/2024/04/30/10/"
    assert start_after_for("events/", None, 24) is None
    assert start_after_for("events/", "events/2024/05/01/10/x.json", 0) is None
    assert start_after_for("events/", "events/garbage", 24) is None


def test_dirty_ranges_are_contiguous():
    days = [date(2024, 5, 3), date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 9)]
    assert dirty_ranges(days) == [(date(2024, 5, 1), date(2024, 5, 4)), (date(2024, 5, 9), date(2024, 5, 10))]


def test_settings_need_a_password_parameter_and_refuse_a_plain_password():
    s = settings_from_env(ENV)
    assert (s.session_timeout_minutes, s.freshness_hours, s.dw_user, s.dw_port) == (30, 72, "etl_writer", 5432)
    with pytest.raises(ConfigError, match="DW_PASSWORD_PARAMETER"):
        settings_from_env({k: v for k, v in ENV.items() if k != "DW_PASSWORD_PARAMETER"})
    with pytest.raises(ConfigError, match="DW_PASSWORD must not be set"):
        settings_from_env({**ENV, "DW_PASSWORD": "hunter2"})
    with pytest.raises(ConfigError, match="SESSION_TIMEOUT_MINUTES"):
        settings_from_env({**ENV, "SESSION_TIMEOUT_MINUTES": "0"})


class _FakeSsm:
    """Stand-in for the SSM client (unit test only; the integration tests use the emulator)."""

    class exceptions:
        class ParameterNotFound(Exception):
            pass

    def __init__(self, params: dict[str, tuple[str, str]]):
        self.params = params

    def get_parameter(self, Name: str, WithDecryption: bool):
        assert WithDecryption
        if Name not in self.params:
            raise self.exceptions.ParameterNotFound(Name)
        value, kind = self.params[Name]
        return {"Parameter": {"Name": Name, "Value": value, "Type": kind}}


def test_password_must_be_a_securestring():
    ssm = _FakeSsm({"/s": ("pw", "SecureString"), "/plain": ("pw", "String")})
    assert read_password(ssm, "/s") == "pw"
    with pytest.raises(SecretError, match="must be a SecureString"):
        read_password(ssm, "/plain")
    with pytest.raises(SecretError, match="not found"):
        read_password(ssm, "/missing")


def test_local_schedule_and_settings_file():
    assert rate_seconds("rate(30 minutes)") == 1800
    assert rate_seconds("rate(1 hour)") == 3600
    with pytest.raises(ScheduleError):
        rate_seconds("cron(0 * * * ? *)")
    assert parse_env("# c\nA=1\nB = \"x=y\"\n\n") == {"A": "1", "B": "x=y"}
    ctx = LocalContext(900)
    assert 899_000 < ctx.get_remaining_time_in_millis() <= 900_000


def test_run_log_line_keeps_its_message_and_the_results():
    from clickstream_etl.runner import RunResult

    record = RunResult(run_id=7, status="failed", message="connection refused").log_record("etl run finished")
    assert record["message"] == "etl run finished"
    assert record["detail"] == "connection refused" and record["status"] == "failed" and record["run_id"] == 7
