"""postgresql_state (roles, database, migrations, scripts and privileges in one module run) against a real
PostgreSQL 15: check mode changes nothing, a second run changes nothing, and drift (a revoked grant, a changed
password, a dropped setting or default privilege) is found and put back."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from ansible_collections.clickstream.platform.plugins.module_utils.pg_state import (
    StateError,
    password_matches,
    scram_verifier,
)
from ansible_collections.clickstream.platform.plugins.modules.postgresql_state import ARGUMENT_SPEC, converge

from scripts.harness.ansible import run_playbook
from tests.identity.stubbed import params

MIGRATIONS = [
    {"name": "0002_b.sql", "content": "CREATE TABLE app.b (id int GENERATED ALWAYS AS IDENTITY, a int);\n"},
    {"name": "0001_a.sql", "content": "CREATE SCHEMA app;\nCREATE TABLE app.a (id int PRIMARY KEY, v text);\n"
                                      "CREATE FUNCTION app.f(d date) RETURNS int LANGUAGE sql AS 'SELECT 1';\n"},
    {"name": "README.md", "content": "not a migration"},
]
SEED = {
    "name": "seed",
    "prepare": "CREATE TEMPORARY TABLE seed_in (id int, v text) ON COMMIT DROP;",
    "copy": "COPY seed_in FROM STDIN WITH (FORMAT csv, HEADER true)",
    "copy_data": "id,v\n1,one\n2,two\n",
    "sql": "WITH up AS (INSERT INTO app.a AS t SELECT * FROM seed_in ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v "
           "WHERE t.v IS DISTINCT FROM EXCLUDED.v RETURNING 1) SELECT count(*) FROM up",
    "session_role": None,
}


@pytest.fixture
def world(pg_server):
    """Names of one test's own roles and database, and a way to run the module on them."""
    tag = uuid.uuid4().hex[:8]
    owner, app, reader, db = f"own_{tag}", f"app_{tag}", f"read_{tag}", f"db_{tag}"

    def state(check: bool = False, **over):
        given = {
            "login_host": "127.0.0.1", "port": pg_server.port,
            "roles": [
                {"name": owner, "password": "owner-pw", "flags": ["LOGIN", "NOSUPERUSER", "NOCREATEDB"]},
                {"name": app, "password": "app-pw", "flags": ["LOGIN"], "settings": {"statement_timeout": "600000"}},
                {"name": reader, "password": "read-pw", "flags": ["LOGIN"]},
            ],
            "database": {"name": db, "owner": owner},
            "migrations": MIGRATIONS, "migrations_role": owner,
            "scripts": [{**SEED, "session_role": owner}],
            "grants": [
                {"type": "database", "role": "PUBLIC", "privs": ["CONNECT", "TEMP"], "state": "absent"},
                {"type": "database", "role": app, "privs": ["CONNECT", "TEMPORARY"]},
                {"type": "database", "role": reader, "privs": ["CONNECT"]},
                {"type": "schema", "schema": "app", "role": app, "privs": ["USAGE"]},
                {"type": "schema", "schema": "app", "role": reader, "privs": ["USAGE"]},
                {"type": "table", "schema": "app", "role": app, "privs": ["SELECT", "INSERT", "UPDATE", "DELETE"]},
                {"type": "sequence", "schema": "app", "role": app, "privs": ["USAGE", "SELECT"]},
                {"type": "table", "objects": ["app.a"], "role": reader, "privs": ["SELECT"]},
                {"type": "function", "schema": "app", "objects": ["f(date)"], "role": app, "privs": ["EXECUTE"]},
                {"type": "default", "for_role": owner, "schema": "app", "objtype": "tables", "role": reader,
                 "privs": ["SELECT"]},
            ],
        }
        given.update(over)
        return converge(params(ARGUMENT_SPEC, **given), check)

    def sql(query: str, dbname: str = db, args=None):
        conn = psycopg2.connect(host="127.0.0.1", port=pg_server.port, user="postgres", dbname=dbname)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    yield {"state": state, "sql": sql, "owner": owner, "app": app, "reader": reader, "db": db}
    for name in (db,):
        sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', "postgres")
    for role in (owner, app, reader):
        sql(f'DROP ROLE IF EXISTS "{role}"', "postgres")


def privileges(world, role: str, relation: str) -> list[str]:
    rows = world["sql"](
        "SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = %s "
        "AND table_schema || '.' || table_name = %s ORDER BY 1", args=(role, relation))
    return [r[0] for r in rows]


def test_check_mode_reports_everything_and_changes_nothing(world):
    result = world["state"](check=True)
    assert result["changed"]
    assert f"create role {world['owner']}" in result["changes"]
    assert f"create database {world['db']}" in result["changes"]
    assert result["applied"] == ["0001_a.sql", "0002_b.sql"]
    assert world["sql"]("SELECT count(*) FROM pg_roles WHERE rolname = %s", "postgres", (world["owner"],)) == [(0,)]
    assert world["sql"]("SELECT count(*) FROM pg_database WHERE datname = %s", "postgres", (world["db"],)) == [(0,)]


def test_first_run_makes_all_second_changes_nothing_and_check_mode_agrees(world):
    first = world["state"]()
    assert first["changed"] and first["applied"] == ["0001_a.sql", "0002_b.sql"]
    assert "run script seed (2 rows)" in first["changes"]
    assert world["sql"]("SELECT id, v FROM app.a ORDER BY id") == [(1, "one"), (2, "two")]
    assert world["sql"]("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'app.a'::regclass") == [
        (world["owner"],)]
    assert privileges(world, world["app"], "app.b") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
    assert privileges(world, world["reader"], "app.a") == ["SELECT"]
    assert privileges(world, world["reader"], "app.b") == []
    assert world["sql"]("SELECT has_database_privilege('public', %s, 'CONNECT')", args=(world["db"],)) == [(False,)]
    assert world["sql"]("SELECT rolconfig FROM pg_roles WHERE rolname = %s", args=(world["app"],)) == [
        (["statement_timeout=600000"],)]

    assert world["state"](check=True) == {"changed": False, "changes": [], "applied": []}
    assert world["state"]() == {"changed": False, "changes": [], "applied": []}


def test_drift_is_found_in_check_mode_and_put_back(world):
    world["state"]()
    owner, app, reader, db = world["owner"], world["app"], world["reader"], world["db"]
    world["sql"](f"REVOKE UPDATE ON app.a FROM {app}")
    world["sql"](f"GRANT CONNECT ON DATABASE {db} TO PUBLIC")
    world["sql"](f"ALTER ROLE {reader} PASSWORD 'someone-else'")
    world["sql"](f"ALTER ROLE {app} RESET statement_timeout")
    world["sql"](f"ALTER ROLE {owner} CREATEDB")
    world["sql"](f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA app REVOKE SELECT ON TABLES FROM {reader}")  # noqa: S608
    world["sql"](f"REVOKE EXECUTE ON FUNCTION app.f(date) FROM {app}")
    world["sql"]("UPDATE app.a SET v = 'edited' WHERE id = 1")
    expected = {
        f"grant UPDATE on table app.a to {app}", f"revoke CONNECT on database {db} from PUBLIC",
        f"role {reader}: set its password", f"role {app}: set statement_timeout = 600000",
        f"role {owner}: set NOCREATEDB", f"grant EXECUTE on function app.f(date) to {app}",
        f"default privileges of {owner} in schema app: grant SELECT on tables to {reader}",
        "run script seed (1 rows)",
    }

    check = world["state"](check=True)
    assert set(check["changes"]) == expected
    assert privileges(world, app, "app.a") == ["DELETE", "INSERT", "SELECT"]  # check mode changed nothing
    assert world["sql"]("SELECT v FROM app.a WHERE id = 1") == [("edited",)]

    fixed = world["state"]()
    assert set(fixed["changes"]) == expected
    assert privileges(world, app, "app.a") == ["DELETE", "INSERT", "SELECT", "UPDATE"]
    assert world["sql"]("SELECT v FROM app.a WHERE id = 1") == [("one",)]
    stored = world["sql"]("SELECT rolpassword FROM pg_authid WHERE rolname = %s", args=(reader,))[0][0]
    assert password_matches(stored, "read-pw") and not password_matches(stored, "someone-else")
    assert world["state"]()["changed"] is False


def test_a_new_migration_is_applied_and_the_grants_cover_its_table(world):
    world["state"]()
    more = [*MIGRATIONS, {"name": "0003_c.sql", "content": "CREATE TABLE app.c (id int);\n"}]
    result = world["state"](migrations=more)
    assert result["applied"] == ["0003_c.sql"]
    assert f"grant DELETE,INSERT,SELECT,UPDATE on table app.c to {world['app']}" in result["changes"]
    # The default privileges gave the reader app.c at its creation: no grant needed for it.
    assert privileges(world, world["reader"], "app.c") == ["SELECT"]


def test_an_applied_migration_edited_is_an_error(world):
    world["state"]()
    edited = [{**MIGRATIONS[1], "content": MIGRATIONS[1]["content"] + "-- edited\n"}, MIGRATIONS[0]]
    with pytest.raises(Exception, match="changed after it was applied"):
        world["state"](migrations=edited)


def test_run_if_false_skips_a_script_and_a_failing_script_is_rolled_back(world):
    world["state"]()
    skipped = {"name": "never", "sql": "DROP TABLE app.a", "run_if": "SELECT false"}
    assert world["state"](scripts=[skipped])["changed"] is False
    broken = {"name": "broken", "sql": "DELETE FROM app.a; SELECT no_such_function()"}
    with pytest.raises(StateError, match="script broken failed and was rolled back"):
        world["state"](scripts=[broken])
    assert world["sql"]("SELECT count(*) FROM app.a") == [(2,)]


def test_unknown_role_attribute_and_missing_function_are_clear_errors(world):
    with pytest.raises(StateError, match="unknown attribute"):
        world["state"](roles=[{"name": world["owner"], "flags": ["LOGIN", "SUPERDUPER"]}])
    world["state"]()
    with pytest.raises(StateError, match=r"function app\.g\(date\) does not exist"):
        world["state"](grants=[{"type": "function", "schema": "app", "objects": ["g(date)"], "role": world["app"],
                                "privs": ["EXECUTE"]}])


def test_scram_verifier_is_the_one_postgresql_computes(world):
    """Our verifier, given the server's salt and iteration count, is byte for byte the server's own."""
    world["sql"](f"CREATE ROLE {world['owner']} LOGIN PASSWORD 'pencil'", "postgres")
    stored = world["sql"]("SELECT rolpassword FROM pg_authid WHERE rolname = %s", "postgres", (world["owner"],))[0][0]
    iterations, salt = stored.split("$")[1].split(":")
    import base64

    assert scram_verifier("pencil", base64.b64decode(salt), int(iterations)) == stored
    assert password_matches(stored, "pencil")
    assert not password_matches(stored, "pencil2")
    assert not password_matches("md5" + "0" * 32, "pencil")
    assert not password_matches(None, "pencil")


def test_through_ansible_check_mode_then_apply_then_no_change(pg_server, tmp_path):
    tag = uuid.uuid4().hex[:8]
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - clickstream.platform.postgresql_state:
        login_host: 127.0.0.1
        port: {pg_server.port}
        roles: [{{name: r_{tag}, password: secret-{tag}, flags: [LOGIN]}}]
        database: {{name: d_{tag}, owner: r_{tag}}}
        migrations: [{{name: 0001_t.sql, content: "CREATE TABLE t (id int);"}}]
        migrations_role: r_{tag}
        grants: [{{type: database, role: PUBLIC, privs: [CONNECT], state: absent}}]
      register: r
    - ansible.builtin.debug:
        msg: "CHANGES={{{{ r.changes | length }}}}"
""", encoding="utf-8")
    check = run_playbook(str(playbook), "--check")
    assert check.rc == 0 and check.changed == 1, check.output
    assert "CHANGES=4" in check.output and f"secret-{tag}" not in check.output
    assert not pg_server.database_exists(f"d_{tag}")
    first = run_playbook(str(playbook), "-vvv")
    assert first.rc == 0 and first.changed == 1, first.output
    # The task is not no_log here: the module's no_log option alone keeps the password out of even -vvv output.
    assert f"secret-{tag}" not in first.output and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in first.output
    assert pg_server.database_exists(f"d_{tag}")
    second = run_playbook(str(playbook))
    assert second.rc == 0 and second.changed == 0, second.output
    conn = psycopg2.connect(pg_server.dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE "d_{tag}" WITH (FORCE)')
        cur.execute(f'DROP ROLE "r_{tag}"')
    conn.close()


def test_queries_are_read_after_everything_in_the_same_run_and_change_nothing(world):
    """The rows of `queries` come back (read after the migrations, scripts and grants of the same run), in a
    read-only transaction: a query that writes fails and nothing it did stays; none run without the database."""
    queries = {"rows": "SELECT id, v FROM app.a ORDER BY id", "owner": (
        "SELECT pg_get_userbyid(relowner) AS owner, to_regclass('app.missing') IS NULL AS missing "
        "FROM pg_class WHERE oid = 'app.a'::regclass")}
    assert "query_results" not in world["state"](check=True, queries=queries)  # no database yet: nothing to read
    first = world["state"](queries=queries)
    assert first["query_results"] == {"rows": [{"id": 1, "v": "one"}, {"id": 2, "v": "two"}],
                                      "owner": [{"owner": world["owner"], "missing": True}]}
    again = world["state"](queries=queries)
    assert again["changed"] is False and again["query_results"] == first["query_results"]
    with pytest.raises(psycopg2.Error, match="read-only transaction"):
        world["state"](queries={"write": "INSERT INTO app.a (id, v) VALUES (3, 'three') RETURNING id"})
    assert world["sql"]("SELECT count(*) FROM app.a") == [(2,)]
