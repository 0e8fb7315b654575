#!/usr/bin/python
# Copyright: clickstream-analytics contributors
# MIT License

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_state
short_description: Login roles, a database, its migrations, scripts and privileges in one call
description:
  - Brings one database to its desired state in one module run, in this order; the login roles (attributes,
    password, per-role settings), the database (owner), its numbered migrations (once each, as in
    M(clickstream.platform.postgresql_migrations), from their text), scripts (each in one transaction, e.g. an
    upsert of seed data), then the privileges (database, schema, table, sequence, function, default privileges).
  - Everything is read from the catalogs first; only what differs is changed, so a run against a database in the
    desired state changes nothing and reports C(changed=false). Privileges are compared with those granted to the
    role itself (C(aclexplode)), which also puts back a grant someone revoked by hand.
  - Passwords are compared with the stored SCRAM-SHA-256 verifier and set as a verifier computed here, so the
    password never reaches the server in clear text.
  - Check mode reports what would change and changes nothing (a script without O(scripts[].run_if) runs and is
    rolled back). With the server not running, check mode reports that everything would be made; a real run fails.
version_added: 1.1.0
author: clickstream-analytics
options:
  login_user:
    description: Superuser to connect as.
    type: str
    default: postgres
  login_password:
    description: Its password; omit for peer/trust authentication over the unix socket.
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
  maintenance_db:
    description: Database to connect to for the roles and for creating the database.
    type: str
    default: postgres
  roles:
    description: Login roles. Settings not named are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Role name., type: str, required: true}
      password: {description: Its password (compared with the stored verifier)., type: str, no_log: true}
      flags: {description: "Attributes, e.g. [LOGIN, NOSUPERUSER].", type: list, elements: str, default: []}
      settings: {description: Per-role settings (ALTER ROLE ... SET)., type: dict, default: {}}
  database:
    description: The database (created from O(database.template) with O(database.encoding) when missing).
    type: dict
    required: true
    suboptions:
      name: {description: Database name., type: str, required: true}
      owner: {description: Its owner., type: str}
      encoding: {description: Encoding of a new database., type: str, default: UTF8}
      template: {description: Template of a new database., type: str, default: template0}
  migrations:
    description: Numbered migration files (NNNN_description.sql) by name and text; the pending ones are applied.
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: File name., type: str, required: true}
      content: {description: Its text., type: str, required: true}
  migrations_role:
    description: Role the migrations run as (SET ROLE), so that it owns what they create.
    type: str
  scripts:
    description:
      - Scripts run after the migrations, each in one transaction. A script whose last statement returns a row
        counts as a change only when that row's first value is > 0 (rows touched).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Label., type: str, required: true}
      sql: {description: The SQL., type: str, required: true}
      run_if: {description: A query whose one boolean says whether to run the script., type: str}
      session_role: {description: Role to run it as., type: str}
      prepare: {description: "SQL run before O(scripts[].copy).", type: str}
      copy: {description: "A COPY ... FROM STDIN statement loading O(scripts[].copy_data).", type: str}
      copy_data: {description: "The data for O(scripts[].copy).", type: str}
  queries:
    description:
      - Read-only queries (name -> SQL) run on the database once everything else is done, in a read-only
        transaction that is rolled back; their rows come back in RV(query_results), so that a later task needs no
        module run of its own to read them (e.g. whether an index exists and is valid).
      - Not run when the database does not exist yet or, in check mode, while migrations are pending (their
        objects are not there to read); RV(query_results) then lacks them.
    type: dict
    default: {}
    version_added: 1.4.0
  grants:
    description:
      - Privileges, in order. C(type) database (this database), schema, table, sequence, function (C(objects) as
        name(argtypes)) or default (ALTER DEFAULT PRIVILEGES FOR ROLE C(for_role) IN SCHEMA C(schema) ON
        C(objtype)). C(objects) ALL means every such object in the schema as it is when the grant is checked;
        a list without C(schema) holds schema-qualified names (schema.name).
    type: list
    elements: dict
    default: []
    suboptions:
      type: {description: Object type., type: str, required: true,
             choices: [database, schema, table, sequence, function, default]}
      role: {description: Grantee (PUBLIC for everyone)., type: str, required: true}
      privs: {description: Privileges., type: list, elements: str, required: true}
      schema: {description: Schema of the objects., type: str}
      objects: {description: ALL or a list of names., type: raw, default: ALL}
      objtype: {description: For type default, tables, sequences or functions., type: str, default: tables}
      for_role: {description: For type default, the role whose new objects get the privileges., type: str}
      state: {description: present grants, absent revokes., type: str, default: present, choices: [present, absent]}
requirements: [psycopg2]
"""

EXAMPLES = r"""
- name: The warehouse's roles, database, migrations and grants
  clickstream.platform.postgresql_state:
    login_unix_socket: /var/run/postgresql
    port: 5434
    roles:
      - {name: dw_owner, password: "{{ owner_password }}", flags: [LOGIN, NOSUPERUSER]}
    database: {name: clickstream_dw, owner: dw_owner}
    migrations:
      - {name: 0001_events.sql, content: "{{ lookup('ansible.builtin.file', 'sql/dw/0001_events.sql', rstrip=false) }}"}
    migrations_role: dw_owner
    grants:
      - {type: database, role: PUBLIC, privs: [CONNECT, TEMPORARY], state: absent}
      - {type: table, schema: dw, role: dashboard_reader, privs: [SELECT]}
      - {type: default, for_role: dw_owner, schema: dw, objtype: tables, role: dashboard_reader, privs: [SELECT]}
  no_log: true
"""

RETURN = r"""
changes:
  description: What changed (or would, in check mode), one sentence each; no password appears.
  returned: always
  type: list
  elements: str
  sample: ["create role dw_owner", "apply migration 0001_events.sql", "grant SELECT on table dw.events to x"]
applied:
  description: Migration files applied (or that would be).
  returned: always
  type: list
  elements: str
query_results:
  description: Name -> the rows (each a dict by column name) of each of O(queries) that ran.
  returned: when O(queries) ran
  type: dict
  sample: {"lake_index": [{"partitioned": false, "valid": true}]}
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import psycopg2
except ImportError:  # pragma: no cover - reported by the module
    psycopg2 = None

from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (
    MigrationError,
    from_contents,
)
from ansible_collections.clickstream.platform.plugins.module_utils.pg_state import (
    Run,
    StateError,
    ensure_database,
    ensure_grants,
    ensure_roles,
    run_migrations,
    run_script,
)

ARGUMENT_SPEC = {
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "no_log": True},
    "login_host": {"type": "str", "default": ""},
    "login_unix_socket": {"type": "path", "default": ""},
    "port": {"type": "int", "default": 5432},
    "maintenance_db": {"type": "str", "default": "postgres"},
    "roles": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "password": {"type": "str", "no_log": True},
        "flags": {"type": "list", "elements": "str", "default": []},
        "settings": {"type": "dict", "default": {}},
    }},
    "database": {"type": "dict", "required": True, "options": {
        "name": {"type": "str", "required": True},
        "owner": {"type": "str"},
        "encoding": {"type": "str", "default": "UTF8"},
        "template": {"type": "str", "default": "template0"},
    }},
    "migrations": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "content": {"type": "str", "required": True},
    }},
    "migrations_role": {"type": "str"},
    "scripts": {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "sql": {"type": "str", "required": True},
        "run_if": {"type": "str"},
        "session_role": {"type": "str"},
        "prepare": {"type": "str"},
        "copy": {"type": "str"},
        "copy_data": {"type": "str"},
    }},
    "queries": {"type": "dict", "default": {}},
    "grants": {"type": "list", "elements": "dict", "default": [], "options": {
        "type": {"type": "str", "required": True,
                 "choices": ["database", "schema", "table", "sequence", "function", "default"]},
        "role": {"type": "str", "required": True},
        "privs": {"type": "list", "elements": "str", "required": True},
        "schema": {"type": "str"},
        "objects": {"type": "raw", "default": "ALL"},
        "objtype": {"type": "str", "default": "tables"},
        "for_role": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    }},
}


def connect(p: dict, dbname: str):
    params = {"dbname": dbname, "user": p["login_user"], "port": p["port"]}
    if p["login_host"]:
        params["host"] = p["login_host"]
    elif p["login_unix_socket"]:
        params["host"] = p["login_unix_socket"]
    if p["login_password"]:
        params["password"] = p["login_password"]
    return psycopg2.connect(**params)


def converge(p: dict, check_mode: bool) -> dict:
    """The whole run; returns the module's result (raises StateError, MigrationError, psycopg2.Error)."""
    db = p["database"]["name"]
    socket = os.path.join(p["login_unix_socket"], f".s.PGSQL.{p['port']}") if p["login_unix_socket"] else ""
    if check_mode and socket and not p["login_host"] and not os.path.exists(socket):
        # A new host in check mode: no server to compare against yet.
        return {"changed": True, "applied": [], "changes": [
            f"server not running (no {socket}): every role, the database {db} and its contents would be made"]}
    conn = connect(p, p["maintenance_db"])
    conn.autocommit = True
    try:
        run = Run(conn, check_mode)
        ensure_roles(run, p["roles"])
        exists = ensure_database(run, p["database"])
    finally:
        conn.close()
    changes, applied = run.changes, []
    if not exists:  # check mode, no database yet: everything in it would be made
        applied = [m.filename for m in from_contents(p["migrations"])]
        changes += [f"apply migration {name}" for name in applied]
        changes += [f"run script {s['name']}" for s in p["scripts"]]
        if p["grants"]:
            changes.append(f"grant the privileges of database {db}")
        return {"changed": True, "changes": changes, "applied": applied}
    conn = connect(p, db)
    results: dict[str, list[dict]] = {}
    try:
        run = Run(conn, check_mode)
        applied = run_migrations(run, p["migrations"], p["migrations_role"])
        if check_mode and applied:
            # The scripts and privileges read objects the pending migrations make.
            run.changes += [f"run script {s['name']} (after the migrations)" for s in p["scripts"]]
            if p["grants"]:
                run.changes.append(f"check the privileges of database {db} (after the migrations)")
        else:
            for script in p["scripts"]:
                run_script(run, script)
            conn.autocommit = True
            ensure_grants(run, p["grants"], db)
            results = read_queries(conn, p["queries"])
    finally:
        conn.close()
    changes += run.changes
    result = {"changed": bool(changes), "changes": changes, "applied": applied}
    if results:
        result["query_results"] = results
    return result


def read_queries(conn, queries: dict) -> dict[str, list[dict]]:
    """Each query's rows as dicts, in one read-only transaction that is rolled back."""
    results: dict[str, list[dict]] = {}
    if not queries:
        return results
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            for name, sql in queries.items():
                cur.execute(sql)
                columns = [c.name for c in cur.description or []]
                results[name] = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()] if columns else []
    finally:
        conn.rollback()
    return results


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2"))
    p = module.params
    try:
        result = converge(p, module.check_mode)
    except (StateError, MigrationError, psycopg2.Error) as exc:
        module.fail_json(msg=f"postgresql_state: {exc}".strip())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
