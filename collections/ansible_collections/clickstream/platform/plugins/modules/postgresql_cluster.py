#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_cluster
short_description: A Debian PostgreSQL cluster's record, creation, TLS files, config files and service in one call
description:
  - In one module run, in this order; the record file of the local platform's run directory (O(record)); the
    cluster's state (C(pg_ctlcluster status)) and its creation with C(pg_createcluster) when it does not exist; the
    server's TLS files (O(tls)); the configuration files (O(files)); then the service, started when it is not
    running, restarted when a file whose O(files[].effect) is C(restart) changed, reloaded when one whose effect is
    C(reload) or a TLS file changed (one of the two, never both; nothing when nothing changed).
  - "TLS: the key stays on the host. The certificate in place is kept while it matches the key, the common name, the
    organizational unit (the generation: another one gives a new key), the subject alternative names, was signed by
    O(tls.ca_certificate) and does not expire within O(tls.renew_days). Otherwise the module returns a certificate
    signing request (RV(csr), RV(certificate_needed)) and leaves the service alone; the caller has the CA sign it and
    calls again with O(tls.certificate) and O(pending_restart)/O(pending_reload) from the first call (RV(restart_due),
    RV(reload_due)), which installs the certificate and then sees to the service."
  - A run that finds everything as it should be changes nothing and starts no process but C(pg_ctlcluster status).
  - Check mode reports what would change (with the configuration files' diff in diff mode) and changes nothing; a
    cluster that does not exist yet is reported as created (RV(pending)) and nothing further is looked at.
version_added: 1.3.0
author: clickstream-analytics
requirements: [python cryptography (for O(tls))]
options:
  version: {description: PostgreSQL major version., type: str, required: true}
  name: {description: Cluster name., type: str, required: true}
  port: {description: Port given to pg_createcluster., type: int, required: true}
  locale: {description: Locale given to pg_createcluster., type: str, default: C.UTF-8}
  encoding: {description: Encoding given to pg_createcluster., type: str, default: UTF8}
  socket_directory:
    description: Unix socket directory waited on after a start or restart.
    type: path
    default: /var/run/postgresql
  service_mode:
    description: C(pg_ctlcluster) (no systemd as PID 1) or C(systemd) (the unit postgresql@<version>-<name>, enabled).
    type: str
    choices: [pg_ctlcluster, systemd]
    default: pg_ctlcluster
  record:
    description: A file (path, content) that records the cluster in a run directory, written before it is created.
    type: dict
    options:
      path: {description: The record file; its directory is made (0755)., type: path, required: true}
      content: {description: Its content., type: str, required: true}
  tls:
    description: The server's TLS files in O(tls.dir) (server.key, server.crt, root.crt), owned by postgres.
    type: dict
    options:
      dir: {description: TLS directory (made 0700)., type: path, required: true}
      common_name: {description: Certificate common name., type: str, required: true}
      organizational_unit: {description: Certificate OU (the generation)., type: str, required: true}
      subject_alt_names:
        description: C(DNS:name) and C(IP:address) entries.
        type: list
        elements: str
        default: []
      ca_certificate:
        description: The CA certificate (PEM) written to root.crt and checked against.
        type: str
        required: true
      renew_days: {description: Renew a certificate expiring within this many days., type: int, default: 30}
      certificate: {description: A certificate (PEM) the CA signed for RV(csr), installed as server.crt., type: str}
  files:
    description: Configuration files (content, owner, group, mode) and what a change of each takes.
    type: list
    elements: dict
    default: []
    options:
      path: {description: Absolute path., type: path, required: true}
      content: {description: Content., type: str, required: true}
      owner: {description: Owner., type: str, default: postgres}
      group: {description: Group., type: str, default: postgres}
      mode: {description: Mode., type: raw, default: "0644"}
      effect: {description: What a change takes., type: str, choices: [restart, reload], default: reload}
  pending_restart: {description: A restart is due from an earlier call of this run., type: bool, default: false}
  pending_reload: {description: A reload is due from an earlier call of this run., type: bool, default: false}
  wait_timeout: {description: Seconds to wait for the unix socket after a start or restart., type: int, default: 60}
"""

EXAMPLES = r"""
- name: The cluster, its TLS files, configuration and service
  clickstream.platform.postgresql_cluster:
    version: "15"
    name: main
    port: 5432
    tls:
      dir: /etc/postgresql/15/main/tls
      common_name: db.internal
      organizational_unit: generation 1
      ca_certificate: "{{ lookup('ansible.builtin.file', 'pki/ca.crt') }}"
    files:
      - path: /etc/postgresql/15/main/postgresql.conf
        content: "{{ lookup('template', 'postgresql.conf.j2') }}"
        effect: restart
      - {path: /etc/postgresql/15/main/pg_hba.conf, content: "{{ lookup('template', 'pg_hba.conf.j2') }}", mode: "0640"}
  register: cluster
"""

RETURN = r"""
status:
  description: The state found (running, stopped or missing).
  returned: always
  type: str
created:
  description: Whether the cluster was created (or would be).
  returned: always
  type: bool
pending:
  description: Check mode and the cluster does not exist yet (nothing else looked at).
  returned: always
  type: bool
changed_paths:
  description: Files and directories written or given another owner/mode (or that would be).
  returned: always
  type: list
certificate_needed:
  description: The certificate in place will not do; RV(csr) is the request to sign.
  returned: always
  type: bool
csr:
  description: The certificate signing request (PEM), when RV(certificate_needed) and the key exists.
  returned: when needed
  type: str
restart_due:
  description: A restart is due (a file whose effect is restart changed).
  returned: always
  type: bool
reload_due:
  description: A reload is due (a reload file or a TLS file changed).
  returned: always
  type: bool
started:
  description: Whether the service was started (or would be).
  returned: always
  type: bool
restarted:
  description: Whether it was restarted (or would be).
  returned: always
  type: bool
reloaded:
  description: Whether it was reloaded (or would be).
  returned: always
  type: bool
"""

import datetime
import ipaddress
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.clickstream.platform.plugins.module_utils.file_state import (
    ensure_directory,
    ensure_file,
    read,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module when tls is asked for
    HAS_CRYPTOGRAPHY = False

ARGUMENT_SPEC = {
    "version": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "locale": {"type": "str", "default": "C.UTF-8"},
    "encoding": {"type": "str", "default": "UTF8"},
    "socket_directory": {"type": "path", "default": "/var/run/postgresql"},
    "service_mode": {"type": "str", "choices": ["pg_ctlcluster", "systemd"], "default": "pg_ctlcluster"},
    "record": {"type": "dict", "options": {"path": {"type": "path", "required": True},
                                           "content": {"type": "str", "required": True}}},
    "tls": {"type": "dict", "options": {
        "dir": {"type": "path", "required": True},
        "common_name": {"type": "str", "required": True},
        "organizational_unit": {"type": "str", "required": True},
        "subject_alt_names": {"type": "list", "elements": "str", "default": []},
        "ca_certificate": {"type": "str", "required": True},
        "renew_days": {"type": "int", "default": 30},
        "certificate": {"type": "str"},
    }},
    "files": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "content": {"type": "str", "required": True},
        "owner": {"type": "str", "default": "postgres"},
        "group": {"type": "str", "default": "postgres"},
        "mode": {"type": "raw", "default": "0644"},
        "effect": {"type": "str", "choices": ["restart", "reload"], "default": "reload"},
    }},
    "pending_restart": {"type": "bool", "default": False},
    "pending_reload": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 60},
}


# --- TLS ---------------------------------------------------------------------------------------------------------

def wanted_names(entries: list[str]) -> set:
    """x509 GeneralNames of C(DNS:...)/C(IP:...) entries."""
    names = set()
    for entry in entries:
        kind, _, value = entry.partition(":")
        if kind == "DNS":
            names.add(x509.DNSName(value))
        elif kind == "IP":
            names.add(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            raise ValueError(f"subject alternative name {entry!r}: DNS:<name> or IP:<address>")
    return names


def attribute(name: x509.Name, oid) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return values[0].value if values else None


def not_after(cert) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.UTC)


def signed_by(cert, ca) -> bool:
    """Whether ca's key signed cert (cryptography of Debian 12 has no verify_directly_issued_by)."""
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        else:
            return False
    except Exception:
        return False
    return True


def public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_problem(pem: bytes | None, key, tls: dict, ca, now: datetime.datetime) -> str | None:
    """Why the certificate pem will not do (None: it will)."""
    if pem is None:
        return "no certificate"
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return "not a PEM certificate"
    if key is None or public_der(cert.public_key()) != public_der(key.public_key()):
        return "not the key's certificate"
    if attribute(cert.subject, NameOID.COMMON_NAME) != tls["common_name"]:
        return "another common name"
    if attribute(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) != tls["organizational_unit"]:
        return "another generation"
    try:
        names = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        names = set()
    if names != wanted_names(tls["subject_alt_names"]):
        return "other subject alternative names"
    if not signed_by(cert, ca):
        return "not signed by the CA"
    if not_after(cert) <= now + datetime.timedelta(days=tls["renew_days"]):
        return "expires within the renewal window"
    return None


def csr_pem(key, tls: dict) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, tls["common_name"]),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, tls["organizational_unit"])])
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateSigningRequestBuilder().subject_name(subject)
               .add_extension(x509.SubjectAlternativeName(sorted(wanted_names(tls["subject_alt_names"]), key=str)),
                              critical=False)
               .add_extension(usage, critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def converge_tls(module, tls: dict, check: bool, changed_paths: list) -> dict:
    """The TLS directory, key, CA certificate and server certificate. Returns {changed, certificate_needed, csr}."""
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg="postgresql_cluster: tls needs the Python cryptography library on the host")
    owner = {"owner": "postgres", "group": "postgres"}
    changed = False
    d = tls["dir"]
    if ensure_directory(module, {"path": d, "mode": "0700", **owner}, check):
        changed_paths.append(d)
        changed = True
    try:
        ca = x509.load_pem_x509_certificate(tls["ca_certificate"].encode())
    except ValueError:
        module.fail_json(msg="postgresql_cluster: tls.ca_certificate is not a PEM certificate")
    try:
        wanted_names(tls["subject_alt_names"])
    except ValueError as exc:
        module.fail_json(msg=f"postgresql_cluster: {exc}")
    key_path, crt_path = os.path.join(d, "server.key"), os.path.join(d, "server.crt")
    key = None
    key_pem = read(key_path)
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            key = None
    current = read(crt_path)
    given = tls.get("certificate")
    # A certificate of another generation (OU) means rotation: a new key, as the role always did. Not when a
    # certificate is given: it was signed for the key in place (the first run of this rotation made it).
    if key is not None and current is not None and not given:
        try:
            ou = attribute(x509.load_pem_x509_certificate(current).subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        except ValueError:
            ou = tls["organizational_unit"]
        if ou != tls["organizational_unit"]:
            key = None
    if key is None:
        changed = True
        changed_paths.append(key_path)
        if not check:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            ensure_file(module, {"path": key_path, "mode": "0600", **owner}, pem, False)
    elif ensure_file(module, {"path": key_path, "mode": "0600", **owner}, key_pem, check)[0]:
        changed, _ = True, changed_paths.append(key_path)
    if ensure_file(module, {"path": os.path.join(d, "root.crt"), "mode": "0644", **owner},
                   tls["ca_certificate"].encode(), check)[0]:
        changed, _ = True, changed_paths.append(os.path.join(d, "root.crt"))
    now = datetime.datetime.now(datetime.UTC)
    if given:
        problem = certificate_problem(given.encode(), key, tls, ca, now)
        if problem and not check:
            module.fail_json(msg=f"postgresql_cluster: the certificate given will not do: {problem}")
        if ensure_file(module, {"path": crt_path, "mode": "0644", **owner}, given.encode(), check)[0]:
            changed, _ = True, changed_paths.append(crt_path)
        return {"changed": changed, "certificate_needed": False, "csr": None}
    problem = certificate_problem(current, key, tls, ca, now)
    if problem is None:
        if ensure_file(module, {"path": crt_path, "mode": "0644", **owner}, current, check)[0]:
            changed, _ = True, changed_paths.append(crt_path)
        return {"changed": changed, "certificate_needed": False, "csr": None}
    changed_paths.append(crt_path)
    return {"changed": True, "certificate_needed": True, "csr": csr_pem(key, tls) if key is not None else None,
            "problem": problem}


# --- cluster and service -------------------------------------------------------------------------------------------

def run(module, *argv: str, check_rc: bool = True):
    rc, out, err = module.run_command(list(argv))
    if check_rc and rc != 0:
        module.fail_json(msg=f"{' '.join(argv)} failed (rc {rc}): {err.strip() or out.strip()}")
    return rc, out, err


def cluster_status(module, version: str, name: str) -> str:
    rc, _, err = run(module, "pg_ctlcluster", version, name, "status", check_rc=False)
    if rc == 0:
        return "running"
    if rc == 3:
        return "stopped"
    if "does not exist" in err:
        return "missing"
    module.fail_json(msg=f"pg_ctlcluster {version} {name} status: rc {rc}: {err.strip()}")


def wait_for_socket(module, path: str, timeout: int) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            module.fail_json(msg=f"postgresql_cluster: {path} did not appear within {timeout} s")
        time.sleep(0.2)


def converge_service(module, p: dict, status: str, restart_due: bool, reload_due: bool, check: bool) -> dict:
    version, name = p["version"], p["name"]
    started = restarted = reloaded = False
    if p["service_mode"] == "systemd":
        unit = f"postgresql@{version}-{name}"
        enabled = run(module, "systemctl", "is-enabled", unit, check_rc=False)[0] == 0
        active = run(module, "systemctl", "is-active", unit, check_rc=False)[0] == 0
        if not enabled and not check:
            run(module, "systemctl", "enable", unit)
        if not active:
            started = True
            if not check:
                run(module, "systemctl", "start", unit)
        elif restart_due:
            restarted = True
            if not check:
                run(module, "systemctl", "restart", unit)
        elif reload_due:
            reloaded = True
            if not check:
                run(module, "systemctl", "reload", unit)
        changed = not enabled or started or restarted or reloaded
    else:
        if status != "running":
            started = True
            if not check:
                run(module, "pg_ctlcluster", version, name, "start")
        elif restart_due:
            restarted = True
            if not check:
                run(module, "pg_ctlcluster", version, name, "restart")
        elif reload_due:
            reloaded = True
            if not check:
                run(module, "pg_ctlcluster", version, name, "reload")
        changed = started or restarted or reloaded
    if (started or restarted) and not check:
        wait_for_socket(module, os.path.join(p["socket_directory"], f".s.PGSQL.{p['port']}"), p["wait_timeout"])
    return {"changed": changed, "started": started, "restarted": restarted, "reloaded": reloaded}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p, check = module.params, module.check_mode
    changed_paths: list[str] = []
    diffs: list[dict] = []
    result = {"changed": False, "created": False, "pending": False, "certificate_needed": False,
              "restart_due": p["pending_restart"], "reload_due": p["pending_reload"],
              "started": False, "restarted": False, "reloaded": False}

    record = p["record"]
    if record:
        parent = os.path.dirname(record["path"])
        if ensure_directory(module, {"path": parent, "mode": "0755"}, check):
            changed_paths.append(parent)
        if ensure_file(module, {"path": record["path"], "mode": "0644"}, record["content"].encode(), check)[0]:
            changed_paths.append(record["path"])

    status = cluster_status(module, p["version"], p["name"])
    result["status"] = status
    if status == "missing":
        result["created"] = True
        if check:
            result.update(changed=True, pending=True, changed_paths=changed_paths)
            module.exit_json(**result)
        run(module, "pg_createcluster", p["version"], p["name"], "--port", str(p["port"]),
            "--locale", p["locale"], "--encoding", p["encoding"])

    if p["tls"]:
        tls = converge_tls(module, p["tls"], check, changed_paths)
        result["reload_due"] = result["reload_due"] or tls["changed"]
        result["certificate_needed"] = tls["certificate_needed"]
        if tls.get("csr"):
            result["csr"] = tls["csr"]
        if tls.get("problem"):
            result["certificate_problem"] = tls["problem"]

    for entry in p["files"]:
        changed, _ = ensure_file(module, entry, entry["content"].encode(), check, diffs)
        if changed:
            changed_paths.append(entry["path"])
            result["restart_due" if entry["effect"] == "restart" else "reload_due"] = True

    if not result["certificate_needed"]:
        service = converge_service(module, p, status if not result["created"] else "stopped",
                                   result["restart_due"], result["reload_due"], check)
        result.update({k: service[k] for k in ("started", "restarted", "reloaded")})
        result["changed"] = service["changed"]
    result["changed"] = bool(result["changed"] or changed_paths or result["created"])
    result["changed_paths"] = changed_paths
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
