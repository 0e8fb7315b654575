"""postgresql_cluster (a Debian cluster's record, creation, TLS files, configuration files and service in one module
run). Unit tests of the certificate checks with certificates made here, then the postgresql role (whose cluster.yml
is the module, the CA signing on the control node and the second run that installs the certificate) on a throwaway
cluster of this machine's PostgreSQL 15: check mode creates nothing; the first run makes a TLS cluster a client can
verify; a re-run changes nothing and keeps the postmaster; a hand-edited pg_hba.conf is put back with a reload (same
postmaster), a hand-edited postgresql.conf with a restart; a deleted certificate is issued again; check mode reports
each drift and changes nothing."""

from __future__ import annotations

import datetime
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest
from ansible_collections.clickstream.platform.plugins.modules import postgresql_cluster as pc
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.harness.ansible import run_playbook
from scripts.harness.net import free_port

NOW = datetime.datetime.now(datetime.UTC)
TLS = {"common_name": "db", "organizational_unit": "generation 1",
       "subject_alt_names": ["DNS:localhost", "IP:127.0.0.1"], "renew_days": 30}


def name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(attrs)


def make_ca(cn: str = "test CA"):
    key = ec.generate_private_key(ec.SECP384R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return key, cert


def issue(ca, server_key, *, cn="db", ou="generation 1", sans=("DNS:localhost", "IP:127.0.0.1"), days=397):
    ca_key, ca_cert = ca
    builder = (x509.CertificateBuilder().subject_name(name(cn, ou)).issuer_name(ca_cert.subject)
               .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=days)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(pc.wanted_names(list(sans)))), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(Encoding.PEM)


@pytest.fixture(scope="module")
def ca():
    return make_ca()


def test_a_certificate_that_fits_is_kept(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    assert pc.certificate_problem(issue(ca, key), key, TLS, ca[1], NOW) is None


@pytest.mark.parametrize(("change", "problem"), [
    ({"cn": "other"}, "another common name"),
    ({"ou": "generation 2"}, "another generation"),
    ({"sans": ("DNS:localhost",)}, "other subject alternative names"),
    ({"days": 10}, "expires within the renewal window"),
])
def test_each_difference_makes_a_new_certificate_due(ca, change, problem):
    key = ec.generate_private_key(ec.SECP256R1())
    assert pc.certificate_problem(issue(ca, key, **change), key, TLS, ca[1], NOW) == problem


def test_another_key_another_ca_or_no_certificate_is_due(ca):
    key, other_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    assert pc.certificate_problem(issue(ca, other_key), key, TLS, ca[1], NOW) == "not the key's certificate"
    assert pc.certificate_problem(issue(make_ca(), key), key, TLS, ca[1], NOW) == "not signed by the CA"
    # same subject as the CA, another key: the signature decides
    assert pc.certificate_problem(issue(make_ca("test CA"), key), key, TLS, ca[1], NOW) == "not signed by the CA"
    assert pc.certificate_problem(None, key, TLS, ca[1], NOW) == "no certificate"
    assert pc.certificate_problem(b"garbage", key, TLS, ca[1], NOW) == "not a PEM certificate"


def test_the_request_carries_the_names_and_the_generation(ca):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(pc.csr_pem(key, TLS).encode())
    assert csr.is_signature_valid
    assert csr.subject == name("db", "generation 1")
    assert set(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == pc.wanted_names(
        TLS["subject_alt_names"])


PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
    clickstream_tls_ca_dir: {root}/pki
    postgresql_cluster_name: {cluster}
    postgresql_port: {port}
    postgresql_listen_addresses: ["127.0.0.1"]
    postgresql_workload: oltp
    postgresql_memory_limit_mb: 256
    postgresql_install_packages: false
    postgresql_run_dir: {root}/run
  roles:
    - role: postgresql
"""


def postmaster(cluster: str) -> int:
    return int(Path(f"/var/lib/postgresql/15/{cluster}/postmaster.pid").read_text().split()[0])


@pytest.fixture
def cluster(tmp_path):
    tmp_path.chmod(0o755)
    name_ = "tpc" + uuid.uuid4().hex[:8]
    port = free_port()
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(root=tmp_path, cluster=name_, port=port), encoding="utf-8")
    # The suite's CA first (as site.yml's earlier plays make it): tls_ca itself cannot run in check mode on a
    # control node without it.
    ca_book = tmp_path / "ca.yml"
    ca_play = PLAYBOOK.format(root=tmp_path, cluster=name_, port=port).replace("role: postgresql", "role: tls_ca")
    ca_book.write_text(ca_play, encoding="utf-8")
    made = run_playbook(str(ca_book))
    assert made.rc == 0, made.output
    yield book, name_, port, tmp_path
    subprocess.run(["pg_dropcluster", "--stop", "15", name_], check=False, capture_output=True)


def test_role_check_create_noop_and_drift(cluster):
    book, name_, port, root = cluster
    conf = Path(f"/etc/postgresql/15/{name_}")

    check = run_playbook(str(book), "--check")
    assert check.rc == 0 and check.changed >= 1, check.output
    assert not conf.exists()

    first = run_playbook(str(book))
    assert first.rc == 0, first.output
    assert (root / f"run/postgresql-15-{name_}.cluster").read_text() == f"15 {name_}\n"
    pid = postmaster(name_)
    # a client verifies the server against the suite's CA
    subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-h", "/var/run/postgresql", "-p", str(port),
                    "-c", "CREATE ROLE tclient LOGIN PASSWORD 'tclient-pw'"], check=True, capture_output=True)
    with psycopg2.connect(host="127.0.0.1", port=port, user="tclient", password="tclient-pw", dbname="postgres",
                          sslmode="verify-full", sslrootcert=str(root / "pki/ca.crt")) as conn, conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert cur.fetchone()[0] is True
    conn.close()

    second = run_playbook(str(book))
    assert second.rc == 0 and second.changed == 0, second.output
    assert postmaster(name_) == pid

    # pg_hba.conf edited by hand: check mode reports it, the run puts it back with a reload (same postmaster)
    hba = conf / "pg_hba.conf"
    wanted = hba.read_text()
    hba.write_text(wanted + "host all all 0.0.0.0/0 trust\n")
    check = run_playbook(str(book), "--check", "--diff")
    assert check.rc == 0 and check.changed >= 1 and "0.0.0.0/0 trust" in check.output, check.output
    assert "trust" in hba.read_text()
    put_back = run_playbook(str(book))
    assert put_back.rc == 0 and put_back.changed >= 1, put_back.output
    assert hba.read_text() == wanted and postmaster(name_) == pid

    # postgresql.conf edited by hand: put back with a restart
    pgconf = conf / "postgresql.conf"
    pgconf.write_text(pgconf.read_text() + "work_mem = '1MB'\n")
    restarted = run_playbook(str(book))
    assert restarted.rc == 0 and restarted.changed >= 1, restarted.output
    assert "work_mem = '1MB'" not in pgconf.read_text() and postmaster(name_) != pid
    pid = postmaster(name_)

    # the certificate deleted: issued again by the CA, picked up by a reload
    (conf / "tls/server.crt").unlink()
    reissued = run_playbook(str(book))
    assert reissued.rc == 0 and reissued.changed >= 1, reissued.output
    cert = x509.load_pem_x509_certificate((conf / "tls/server.crt").read_bytes())
    ca_cert = x509.load_pem_x509_certificate((root / "pki/ca.crt").read_bytes())
    assert pc.signed_by(cert, ca_cert) and postmaster(name_) == pid

    # rotation: a new generation gives a new key and certificate, picked up by a reload
    key_before = (conf / "tls/server.key").read_bytes()
    rotated = run_playbook(str(book), "-e", "postgresql_tls_generation=2")
    assert rotated.rc == 0 and rotated.changed >= 1, rotated.output
    cert = x509.load_pem_x509_certificate((conf / "tls/server.crt").read_bytes())
    assert pc.attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "generation 2"
    assert (conf / "tls/server.key").read_bytes() != key_before and postmaster(name_) == pid

    again = run_playbook(str(book), "-e", "postgresql_tls_generation=2")
    assert again.rc == 0 and again.changed == 0, again.output
