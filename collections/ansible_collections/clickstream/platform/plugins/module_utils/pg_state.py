# Copyright: clickstream-analytics contributors
# MIT License
"""A database's whole desired state checked and applied in one connection: login roles, the database, its
migrations, scripts and privileges (module postgresql_state).

Every part reads the catalogs first and changes only what differs, so a run against a database in the desired
state issues no write and reports no change. Each part returns the changes it made (or, in check mode, would make)
as short sentences; passwords never appear in them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

try:
    from psycopg2 import sql as pgsql
except ImportError:  # pragma: no cover - the module reports the missing library
    pgsql = None

from ansible_collections.clickstream.platform.plugins.module_utils.pg_migrations import (
    apply_migrations,
    from_contents,
)

# Role attributes: the flag, its pg_authid column and whether the column is true with the flag.
ROLE_FLAGS = {
    "SUPERUSER": ("rolsuper", True), "NOSUPERUSER": ("rolsuper", False),
    "CREATEDB": ("rolcreatedb", True), "NOCREATEDB": ("rolcreatedb", False),
    "CREATEROLE": ("rolcreaterole", True), "NOCREATEROLE": ("rolcreaterole", False),
    "LOGIN": ("rolcanlogin", True), "NOLOGIN": ("rolcanlogin", False),
    "INHERIT": ("rolinherit", True), "NOINHERIT": ("rolinherit", False),
    "REPLICATION": ("rolreplication", True), "NOREPLICATION": ("rolreplication", False),
    "BYPASSRLS": ("rolbypassrls", True), "NOBYPASSRLS": ("rolbypassrls", False),
}
# Privileges each object type takes (aclexplode's names) and its acldefault() letter.
PRIVILEGES = {
    "database": ({"CONNECT", "TEMPORARY", "CREATE"}, "d"),
    "schema": ({"USAGE", "CREATE"}, "n"),
    "table": ({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}, "r"),
    "sequence": ({"USAGE", "SELECT", "UPDATE"}, "s"),
    "function": ({"EXECUTE"}, "f"),
}
# Default privileges: the object class keyword and pg_default_acl's defaclobjtype.
DEFAULT_OBJTYPES = {"tables": ("TABLES", "r", "table"), "sequences": ("SEQUENCES", "S", "sequence"),
                    "functions": ("FUNCTIONS", "f", "function")}
ALIASES = {"TEMP": "TEMPORARY"}
SCRAM_ITERATIONS = 4096


class StateError(Exception):
    """The desired state cannot be reached (an unknown role attribute, a missing object, ...)."""


class MissingObject(StateError):
    """A grant names an object that does not exist."""


# --- passwords ---------------------------------------------------------------------------------------------------

def _scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677, PostgreSQL's format): the
    password itself never reaches the server, its statement log or pg_stat_activity."""
    salt = salt if salt is not None else os.urandom(16)
    stored, server = _scram_keys(password, salt, iterations)
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


def password_matches(verifier: str | None, password: str) -> bool:
    """Whether the stored ``verifier`` (pg_authid.rolpassword) is one of ``password``; an md5 hash or none never
    matches (the password is then stored again, as SCRAM)."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        params, keys = verifier[len("SCRAM-SHA-256$"):].split("$", 1)
        iterations, salt = params.split(":", 1)
        stored, server = keys.split(":", 1)
        want_stored, want_server = _scram_keys(password, base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return (hmac.compare_digest(want_stored, base64.b64decode(stored))
            and hmac.compare_digest(want_server, base64.b64decode(server)))


# --- helpers -----------------------------------------------------------------------------------------------------

def _ident(*names: str):
    return pgsql.SQL(".").join(pgsql.Identifier(n) for n in names)


def _grantee(role: str):
    return pgsql.SQL("PUBLIC") if role.upper() == "PUBLIC" else pgsql.Identifier(role)


def _privs(spec: dict, kind: str) -> list[str]:
    allowed = PRIVILEGES[kind][0]
    privs = sorted({ALIASES.get(p.strip().upper(), p.strip().upper()) for p in spec["privs"]})
    bad = [p for p in privs if p not in allowed]
    if bad:
        raise StateError(f"{kind} privilege(s) {', '.join(bad)} do not exist (one of {', '.join(sorted(allowed))})")
    return privs


class Run:
    """One run: the cursor's connection, check mode, and the changes made (or that would be)."""

    def __init__(self, conn, check_mode: bool) -> None:
        self.conn = conn
        self.check_mode = check_mode
        self.changes: list[str] = []

    def query(self, query, args=None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []

    def change(self, what: str, statement, args=None) -> None:
        self.changes.append(what)
        if not self.check_mode:
            with self.conn.cursor() as cur:
                cur.execute(statement, args)


# --- roles and the database (run on a connection to the maintenance database, autocommit) ----------------------

def ensure_roles(run: Run, roles: list[dict]) -> None:
    """Each role {name, password, flags, settings} exists with those attributes, that password (checked against
    its SCRAM verifier) and those per-role settings (ALTER ROLE ... SET; settings not named are left alone)."""
    for role in roles:
        name = role["name"]
        flags = [f.strip().upper() for f in role.get("flags") or []]
        unknown = [f for f in flags if f not in ROLE_FLAGS]
        if unknown:
            raise StateError(f"role {name}: unknown attribute(s) {', '.join(unknown)}")
        rows = run.query("SELECT oid, rolpassword, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolinherit, "
                         "rolreplication, rolbypassrls FROM pg_authid WHERE rolname = %s", (name,))
        attrs = pgsql.SQL(" ").join(pgsql.SQL(f) for f in flags)
        password = role.get("password")
        if not rows:
            statement = pgsql.SQL("CREATE ROLE {} {}").format(pgsql.Identifier(name), attrs)
            args = None
            if password is not None:
                statement = statement + pgsql.SQL(" PASSWORD %s")
                args = (scram_verifier(password),)
            run.change(f"create role {name}", statement, args)
            current_settings: dict[str, str] = {}
        else:
            oid, verifier, *values = rows[0]
            columns = dict(zip(("rolsuper", "rolcreatedb", "rolcreaterole", "rolcanlogin", "rolinherit",
                                "rolreplication", "rolbypassrls"), values, strict=True))
            wrong = [f for f in flags if columns[ROLE_FLAGS[f][0]] != ROLE_FLAGS[f][1]]
            if wrong:
                run.change(f"role {name}: set {' '.join(wrong)}", pgsql.SQL("ALTER ROLE {} {}").format(
                    pgsql.Identifier(name), pgsql.SQL(" ").join(pgsql.SQL(f) for f in wrong)))
            if password is not None and not password_matches(verifier, password):
                run.change(f"role {name}: set its password",
                           pgsql.SQL("ALTER ROLE {} PASSWORD %s").format(pgsql.Identifier(name)),
                           (scram_verifier(password),))
            current_settings = dict(
                s.split("=", 1) for r in run.query(
                    "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setdatabase = 0 AND setrole = %s",
                    (oid,)) for s in r)
        for key, value in sorted((role.get("settings") or {}).items()):
            if current_settings.get(key) != str(value):
                run.change(f"role {name}: set {key} = {value}",
                           pgsql.SQL("ALTER ROLE {} SET {} = %s").format(pgsql.Identifier(name),
                                                                           pgsql.Identifier(key)), (str(value),))


def ensure_database(run: Run, database: dict) -> bool:
    """The database exists with its owner; returns whether it exists now (false only in check mode)."""
    name, owner = database["name"], database.get("owner")
    rows = run.query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
    if not rows:
        statement = pgsql.SQL("CREATE DATABASE {} ENCODING %s TEMPLATE {}").format(
            pgsql.Identifier(name), pgsql.Identifier(database.get("template") or "template0"))
        if owner:
            statement = statement + pgsql.SQL(" OWNER {}").format(pgsql.Identifier(owner))
        run.change(f"create database {name}", statement, (database.get("encoding") or "UTF8",))
        return not run.check_mode
    if owner and rows[0][0] != owner:
        run.change(f"database {name}: owner {rows[0][0]} -> {owner}",
                   pgsql.SQL("ALTER DATABASE {} OWNER TO {}").format(pgsql.Identifier(name), pgsql.Identifier(owner)))
    return True


# --- privileges (on a connection to the database itself) ----------------------------------------------------------

# The privileges a role holds on one catalog row (the format fields are column names and a type letter from this
# module, never input; the role's name is a bound parameter).
_HELD = ("array(SELECT a.privilege_type FROM aclexplode(coalesce({acl}, acldefault('{letter}', {owner}))) a "
         "WHERE a.grantee = coalesce(%(public)s::oid, (SELECT oid FROM pg_roles WHERE rolname = %(role)s)))")


def _objects(run: Run, grant: dict, kind: str, database: str, role: str) -> list[tuple]:
    """(label, sql identifier, privileges ``role`` holds directly on it) of every object a grant names. Held
    means granted to that role itself (not through membership); a NULL acl is the type's default (acldefault),
    e.g. CONNECT and TEMPORARY for PUBLIC on a database, EXECUTE for PUBLIC on a function."""
    letter = PRIVILEGES[kind][1]
    args = {"public": 0 if role.upper() == "PUBLIC" else None, "role": role, "database": database,
            "schema": grant.get("schema")}
    if kind == "database":
        held = _HELD.format(acl="datacl", letter=letter, owner="datdba")
        rows = run.query(f"SELECT datname, {held} FROM pg_database WHERE datname = %(database)s", args)  # noqa: S608
        return [(f"database {n}", pgsql.Identifier(n), set(h)) for n, h in rows]
    schema = grant.get("schema")
    if kind == "schema":
        held = _HELD.format(acl="nspacl", letter=letter, owner="nspowner")
        rows = run.query(f"SELECT nspname, {held} FROM pg_namespace WHERE nspname = %(schema)s", args)  # noqa: S608
        if not rows:
            raise MissingObject(f"schema {schema} does not exist")
        return [(f"schema {n}", pgsql.Identifier(n), set(h)) for n, h in rows]
    objects = grant.get("objects") or "ALL"
    if kind == "function":
        held = _HELD.format(acl="p.proacl", letter=letter, owner="p.proowner")
        columns = f"p.oid::regprocedure::text, p.proname, pg_get_function_identity_arguments(p.oid), {held}"
        select = f"SELECT {columns} FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "  # noqa: S608
        if objects == "ALL":
            rows = run.query(select + "WHERE n.nspname = %(schema)s AND p.prokind = 'f' ORDER BY 1", args)
        else:
            rows = []
            for signature in objects:
                found = run.query(select + "WHERE p.oid = to_regprocedure(%(signature)s)",
                                  {**args, "signature": f"{schema}.{signature}"})
                if not found:
                    raise MissingObject(f"function {schema}.{signature} does not exist")
                rows += found
        return [(f"function {label}", pgsql.SQL("{}({})").format(_ident(schema, name), pgsql.SQL(fargs)), set(h))
                for label, name, fargs, h in rows]
    held = _HELD.format(acl="c.relacl", letter=letter, owner="c.relowner")
    relkinds = ["S"] if kind == "sequence" else ["r", "p", "v", "m", "f"]
    rows = run.query(f"SELECT c.relname, {held} FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "  # noqa: S608
                     "WHERE n.nspname = %(schema)s AND c.relkind = ANY(%(relkinds)s) ORDER BY 1",
                     {**args, "relkinds": relkinds})
    if objects != "ALL":
        by_name = {r[0]: r for r in rows}
        missing = [o for o in objects if o not in by_name]
        if missing:
            raise MissingObject(f"{kind} {', '.join(schema + '.' + m for m in missing)} does not exist")
        rows = [by_name[o] for o in objects]
    return [(f"{kind} {schema}.{n}", _ident(schema, n), set(h)) for n, h in rows]


def ensure_grants(run: Run, grants: list[dict], database: str) -> None:
    """Each grant {type, role, privs, schema, objects, state} holds (state present) or is absent. ``objects``:
    ALL (every object of that type in the schema, as it is now) or a list of names (functions: name(argtypes));
    without a schema, the names are schema-qualified (schema.name)."""
    for grant in grants:
        kind = grant["type"]
        objects = grant.get("objects") or "ALL"
        if kind in ("table", "sequence", "function") and not grant.get("schema") and objects != "ALL":
            # Schema-qualified names (schema.name): one grant per schema.
            by_schema: dict[str, list[str]] = {}
            for qualified in objects:
                schema, dot, name = qualified.partition(".")
                if not dot:
                    raise StateError(f"{kind} {qualified}: give its schema (schema.name) or the grant's schema")
                by_schema.setdefault(schema, []).append(name)
            ensure_grants(run, [{**grant, "schema": schema, "objects": names}
                                for schema, names in by_schema.items()], database)
            continue
        if kind == "default":
            ensure_default_privileges(run, grant)
            continue
        if kind not in PRIVILEGES:
            raise StateError(f"unknown grant type {kind}")
        privs = _privs(grant, kind)
        role, present = grant["role"], grant.get("state", "present") == "present"
        keyword = pgsql.SQL(kind.upper())
        try:
            objects_found = _objects(run, grant, kind, database, role)
        except MissingObject as exc:
            if not run.check_mode:
                raise
            # Check mode: a migration or script of this run would make it; the grant would follow.
            run.changes.append(f"grant {','.join(privs)} to {role} once it is made ({exc} yet)")
            continue
        for label, ident, held in objects_found:
            todo = [p for p in privs if (p not in held) == present]
            if not todo:
                continue
            listed = pgsql.SQL(", ").join(pgsql.SQL(p) for p in todo)
            if present:
                run.change(f"grant {','.join(todo)} on {label} to {role}",
                           pgsql.SQL("GRANT {} ON {} {} TO {}").format(listed, keyword, ident, _grantee(role)))
            else:
                run.change(f"revoke {','.join(todo)} on {label} from {role}",
                           pgsql.SQL("REVOKE {} ON {} {} FROM {}").format(listed, keyword, ident, _grantee(role)))


def ensure_default_privileges(run: Run, grant: dict) -> None:
    """ALTER DEFAULT PRIVILEGES FOR ROLE <for_role> IN SCHEMA <schema> GRANT <privs> ON <objtype> TO <role>."""
    objtype = grant.get("objtype", "tables")
    if objtype not in DEFAULT_OBJTYPES:
        raise StateError(f"default privileges: objtype {objtype} is not one of {', '.join(DEFAULT_OBJTYPES)}")
    keyword, letter, kind = DEFAULT_OBJTYPES[objtype]
    privs, role, schema, for_role = _privs(grant, kind), grant["role"], grant["schema"], grant["for_role"]
    grantee = 0 if role.upper() == "PUBLIC" else None
    rows = run.query(
        "SELECT a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a "
        "WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %s) "
        "AND d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %s) AND d.defaclobjtype = %s "
        "AND a.grantee = coalesce(%s::oid, (SELECT oid FROM pg_roles WHERE rolname = %s))",
        (for_role, schema, letter, grantee, role))
    held = {r[0] for r in rows}
    todo = [p for p in privs if p not in held]
    if todo:
        run.change(f"default privileges of {for_role} in schema {schema}: "
                   f"grant {','.join(todo)} on {objtype} to {role}",
                   pgsql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}").format(
                       pgsql.Identifier(for_role), pgsql.Identifier(schema),
                       pgsql.SQL(", ").join(pgsql.SQL(p) for p in todo), pgsql.SQL(keyword), _grantee(role)))


# --- migrations and scripts (on a connection to the database, autocommit off) -------------------------------------

def set_role(conn, role: str | None) -> None:
    with conn.cursor() as cur:
        cur.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(role)) if role else "RESET ROLE")
    conn.commit()


def run_migrations(run: Run, files: list[dict], session_role: str | None) -> list[str]:
    """Apply the pending ones of ``files`` ({name, content}) as ``session_role``; the file names applied."""
    set_role(run.conn, session_role)
    try:
        applied = apply_migrations(run.conn, from_contents(files), check_mode=run.check_mode)
    finally:
        run.conn.rollback()
        set_role(run.conn, None)
    run.changes += [f"apply migration {name}" for name in applied]
    return applied


def run_script(run: Run, script: dict) -> bool:
    """One script {name, sql, run_if, session_role, copy, copy_data}, in one transaction: skipped when its run_if
    query returns false; with copy/copy_data, the COPY ... FROM STDIN statement ``copy`` loads copy_data after
    ``prepare`` and before ``sql``. A script whose last statement returns a row counts as changed when that row's
    first value is > 0 (e.g. rows upserted), otherwise every run counts as a change. In check mode it runs and is
    rolled back, unless it has a run_if (then only that is asked)."""
    conn = run.conn
    name = script["name"]
    try:
        set_role(conn, script.get("session_role"))
        if script.get("run_if"):
            if not run.query(script["run_if"])[0][0]:
                return False
            if run.check_mode:
                run.changes.append(f"run script {name}")
                return True
        with conn.cursor() as cur:
            if script.get("prepare"):
                cur.execute(script["prepare"])
            if script.get("copy"):
                import io

                cur.copy_expert(script["copy"], io.StringIO(script.get("copy_data") or ""))
            cur.execute(script["sql"])
            row = cur.fetchone() if cur.description else None
        changed = row is None or (row[0] or 0) > 0
        if run.check_mode:
            conn.rollback()
        else:
            conn.commit()
    except Exception as exc:
        conn.rollback()
        raise StateError(f"script {name} failed and was rolled back: {exc}".strip()) from exc
    finally:
        set_role(conn, None)
    if changed:
        run.changes.append(f"run script {name}" + (f" ({row[0]} rows)" if row else ""))
    return changed
