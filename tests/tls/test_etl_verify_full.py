"""The ETL's warehouse connection verifies TLS (sslmode=verify-full with the CA file), against real PostgreSQL:
the right name connects over TLS, a certificate for another name or from another CA is refused."""

from __future__ import annotations

import pytest
from clickstream_etl.config import ConfigError, Settings, settings_from_env
from clickstream_etl.connections import sibling_connection
from clickstream_etl.handler import EtlFailed, connect, run_once

from scripts.harness.postgres import PostgresServer
from scripts.harness.tls import TestCA

pytestmark = pytest.mark.integration
ENV = {"RAW_BUCKET_NAME": "b", "DW_HOST": "10.0.2.10", "DW_PASSWORD_PARAMETER": "/p/db/dw/etl_writer/password"}


def _settings(server: PostgresServer, host: str, ca_file) -> Settings:
    return Settings(raw_bucket="unused", dw_host=host, dw_port=server.port, dw_name="postgres", dw_user="postgres",
                    dw_sslrootcert=str(ca_file), connect_timeout_seconds=5)


@pytest.fixture(scope="module")
def wrong_name_server(tmp_path_factory):
    """A server whose certificate (from its own CA) names the AWS warehouse, not 127.0.0.1 or localhost."""
    server = PostgresServer(tls_names=("dw.internal.example", "10.0.2.10"))
    yield server
    server.close()


def test_verify_full_is_the_default_and_tls_is_never_optional() -> None:
    assert settings_from_env(ENV).dw_sslmode == "verify-full"
    assert settings_from_env({**ENV, "DW_SSLROOTCERT": "/var/task/dw-ca.pem"}).dw_sslrootcert == "/var/task/dw-ca.pem"
    for weak in ("prefer", "allow", "disable", "verify_full"):
        with pytest.raises(ConfigError, match="DW_SSLMODE"):
            settings_from_env({**ENV, "DW_SSLMODE": weak})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_full_connects_to_the_name_in_the_certificate(pg_server, host) -> None:
    conn = connect(_settings(pg_server, host, pg_server.ca_file), "unused-with-trust-auth")
    try:
        assert conn.info.dsn_parameters["sslmode"] == "verify-full"
        with conn.cursor() as cur:
            cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ssl, version = cur.fetchone()
        assert ssl is True and version in ("TLSv1.2", "TLSv1.3")
        # the second connection the runner may open carries the same verification
        other = sibling_connection(conn)
        assert other is not None
        try:
            assert other.info.dsn_parameters["sslmode"] == "verify-full"
            assert other.info.dsn_parameters["sslrootcert"] == str(pg_server.ca_file)
        finally:
            other.close()
    finally:
        conn.close()


def test_verify_full_refuses_a_certificate_for_another_name(wrong_name_server) -> None:
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match=r'does not match host name "127\.0\.0\.1"'):
        connect(_settings(wrong_name_server, "127.0.0.1", wrong_name_server.ca_file), "x")


def test_verify_full_refuses_a_certificate_from_another_ca(pg_server, tmp_path) -> None:
    import psycopg2

    other_ca = TestCA.create(tmp_path, "another CA")
    with pytest.raises(psycopg2.OperationalError, match="certificate verify failed"):
        connect(_settings(pg_server, "127.0.0.1", other_ca.cert_file), "x")


def test_a_refused_certificate_fails_the_run_clearly(wrong_name_server, moto_server) -> None:
    ssm = moto_server.client("ssm")
    ssm.put_parameter(Name="/tls-test/db/dw/etl_writer/password", Value="x", Type="SecureString", Overwrite=True)
    settings = Settings(raw_bucket="unused", dw_host="127.0.0.1", dw_port=wrong_name_server.port,
                        dw_name="postgres", dw_user="postgres",
                        dw_password_parameter="/tls-test/db/dw/etl_writer/password",
                        dw_sslrootcert=str(wrong_name_server.ca_file), connect_timeout_seconds=5)
    with pytest.raises(EtlFailed, match=r"cannot connect to the warehouse at 127\.0\.0\.1.*does not match host name"):
        run_once(settings, ssm=ssm, s3=moto_server.client("s3"))
