#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_migrations
short_description: Apply numbered SQL migration files to a PostgreSQL database once each
description:
  - Runs every C(NNNN_description.sql) file of O(path) that is not yet recorded in C(public.schema_migrations),
    in version order, each in its own transaction together with its record.
  - An applied file whose content changed is an error (migrations are append-only).
  - In check mode, reports the files that would be applied without running them.
version_added: 1.0.0
author: clickstream-analytics
options:
  path:
    description: Directory on the managed host holding the migration files.
    type: path
    required: true
  db:
    description: Database name.
    type: str
    required: true
  login_user:
    description: Role to connect as (it owns what the migrations create).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); omit for peer/trust authentication over the unix socket.
    type: str
  login_host:
    description: Host to connect to; empty uses the unix socket.
    type: str
    default: ""
  login_unix_socket:
    description: Directory of the unix socket.
    type: path
    default: ""
  port:
    description: Port.
    type: int
    default: 5432
  session_role:
    description: Role to SET ROLE to after connecting, so created objects are owned by it.
    type: str
requirements: [psycopg2]
"""

EXAMPLES = r"""
- name: Apply the warehouse migrations
  clickstream.platform.postgresql_migrations:
    path: /var/lib/clickstream/sql/dw
    db: clickstream_dw
    port: 5434
    session_role: dw_owner
  become: true
  become_user: postgres
"""

RETURN = r"""
applied:
  description: Files applied by this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [0001_events.sql]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
    from psycopg2 import sql as pgsql
except ImportError:  # pragma: no cover - reported by the module
    psycopg2 = None

from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (
    MigrationError,
    apply_migrations,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "db": {"type": "str", "required": True},
            "login_user": {"type": "str", "default": "postgres"},
            "login_password": {"type": "str", "no_log": True},
            "login_host": {"type": "str", "default": ""},
            "login_unix_socket": {"type": "path", "default": ""},
            "port": {"type": "int", "default": 5432},
            "session_role": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    p = module.params
    params = {"dbname": p["db"], "user": p["login_user"], "port": p["port"]}
    if p["login_host"]:
        params["host"] = p["login_host"]
    elif p["login_unix_socket"]:
        params["host"] = p["login_unix_socket"]
    if p["login_password"]:
        params["password"] = p["login_password"]
    try:
        conn = psycopg2.connect(**params)
    except psycopg2.Error as exc:
        module.fail_json(msg=f"cannot connect to database {p['db']}: {exc}".strip())
    try:
        if p["session_role"]:
            with conn.cursor() as cur:
                cur.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(p["session_role"])))
            conn.commit()
            # SET ROLE survives commits within the session; later transactions run as session_role.
        applied = apply_migrations(conn, p["path"], check_mode=module.check_mode)
    except MigrationError as exc:
        module.fail_json(msg=str(exc))
    finally:
        conn.close()
    module.exit_json(changed=bool(applied), applied=applied)


if __name__ == "__main__":
    main()
