"""One environment-variable parser (lambdas/shared/clickstream_env.py) for both Lambdas and the local runtime:
the same bad value gets the same clear error wherever it is read, and both Lambda zips carry the module."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import clickstream_env
import pytest
from clickstream_etl import config as etl_config
from clickstream_ingest import config as ingest_config

from scripts.harness.ansible import REPO

SHARED = REPO / "lambdas/shared/clickstream_env.py"
ETL_ENV = {"RAW_BUCKET_NAME": "raw", "DW_HOST": "db", "DW_PASSWORD_PARAMETER": "/p"}


def test_both_lambdas_raise_the_shared_error():
    assert ingest_config.ConfigError is etl_config.ConfigError is clickstream_env.ConfigError
    for name in ("lambdas/ingest/src/clickstream_env.py", "lambdas/etl/src/clickstream_env.py"):
        assert (REPO / name).resolve() == SHARED.resolve()


@pytest.mark.parametrize(("value", "message"), [
    ("x", "BATCH_LIKE must be an integer, got 'x'"),
    ("0", "BATCH_LIKE must be >= 1, got 0"),
    ("1.5", "BATCH_LIKE must be an integer, got '1.5'"),
])
def test_integer_errors_name_the_variable(value, message):
    with pytest.raises(clickstream_env.ConfigError) as info:
        clickstream_env.integer({"BATCH_LIKE": value}, "BATCH_LIKE", 5, 1)
    assert str(info.value) == message


def test_the_same_bad_integer_reads_the_same_in_both_lambdas():
    with pytest.raises(ingest_config.ConfigError) as ingest_error:
        ingest_config.settings_from_env({"RAW_BUCKET_NAME": "raw", "S3_MAX_ATTEMPTS": " many "})
    with pytest.raises(etl_config.ConfigError) as etl_error:
        etl_config.settings_from_env({**ETL_ENV, "DW_PORT": " many "})
    assert str(ingest_error.value) == "S3_MAX_ATTEMPTS must be an integer, got 'many'"
    assert str(etl_error.value) == "DW_PORT must be an integer, got 'many'"


@pytest.mark.parametrize("env", [{}, {"RAW_BUCKET_NAME": "  "}])
def test_a_missing_required_variable_is_named(env):
    with pytest.raises(ingest_config.ConfigError, match=r"^RAW_BUCKET_NAME is required but not set$"):
        ingest_config.settings_from_env(env)
    with pytest.raises(etl_config.ConfigError, match=r"^RAW_BUCKET_NAME is required but not set$"):
        etl_config.settings_from_env({k: v for k, v in ETL_ENV.items() if k != "RAW_BUCKET_NAME"} | env)


@pytest.mark.parametrize("value", ["61", "-0.1", "nan", "soon"])
def test_numbers_out_of_range_or_not_numbers_fail(value):
    with pytest.raises(ingest_config.ConfigError, match=r"^S3_BACKOFF_MAX_SECONDS must be "):
        ingest_config.settings_from_env({"RAW_BUCKET_NAME": "raw", "S3_BACKOFF_MAX_SECONDS": value})


def test_defaults_prefixes_and_choices():
    env = {"P": "events", "C": " ON ", "T": "  "}
    assert clickstream_env.prefix(env, "P", "x/") == "events/"
    assert clickstream_env.prefix(env, "T", "raw/") == "raw/"
    assert clickstream_env.text(env, "T", "dflt") == "dflt"
    assert clickstream_env.choice(env, "C", "auto", ("auto", "on", "off")) == "on"
    with pytest.raises(clickstream_env.ConfigError, match=r"^C must be one of a, b, got 'on'$"):
        clickstream_env.choice(env, "C", "a", ("a", "b"))


def test_local_endpoint_refuses_a_bad_port_by_name():
    env = {"INGEST_PORT": "eighty", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": f"{REPO / 'lambdas/ingest/src'}:{REPO / 'lambdas/local_runtime'}"}
    proc = subprocess.run([sys.executable, "-m", "clickstream_local.ingest_server"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "INGEST_PORT must be an integer, got 'eighty'" in proc.stderr


@pytest.mark.parametrize("name", ["ingest", "etl"])
def test_each_lambda_zip_carries_the_shared_module(tmp_path, name):
    out = subprocess.run([sys.executable, str(REPO / "scripts/build_lambda.py"), name, "--output-dir",
                          str(tmp_path), "--json"], check=True, capture_output=True, text=True)
    with zipfile.ZipFile(tmp_path / f"{name}.zip") as zf:
        assert zf.read("clickstream_env.py") == SHARED.read_bytes()
        info = zf.getinfo("clickstream_env.py")
    assert (info.external_attr >> 16) == 0o100644  # a plain file in the zip, not a link
    assert out.returncode == 0


def test_a_choice_read_case_sensitively_refuses_another_case():
    modes = ("verify-full", "verify-ca", "require")
    assert clickstream_env.choice({"M": " verify-ca "}, "M", "verify-full", modes, fold_case=False) == "verify-ca"
    with pytest.raises(clickstream_env.ConfigError,
                       match=r"^M must be one of verify-full, verify-ca, require, got 'VERIFY-CA'$"):
        clickstream_env.choice({"M": "VERIFY-CA"}, "M", "verify-full", modes, fold_case=False)
    # the ETL's DW_SSLMODE goes through it: libpq would not read an upper-case mode
    assert etl_config.settings_from_env({**ETL_ENV, "DW_SSLMODE": " "}).dw_sslmode == "verify-full"
    with pytest.raises(etl_config.ConfigError, match=r"^DW_SSLMODE must be one of .*, got 'Require'$"):
        etl_config.settings_from_env({**ETL_ENV, "DW_SSLMODE": "Require"})
