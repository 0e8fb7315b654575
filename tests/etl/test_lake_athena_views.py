"""The Athena views' Ansible module against the emulator over HTTP. Athena in moto accepts queries and runs none,
so this checks the API calls only (each view's CREATE OR REPLACE VIEW sent to the workgroup and database, the
workgroup's tag, a second run changing nothing); the views' numbers are checked on DuckDB
(test_lake_views.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import yaml
from clickstream_etl.lake import views

from scripts.harness.ansible import run_playbook

from .helpers import ETL_SRC, REPO


def test_athena_views_module_creates_each_view_once(moto_server, tmp_path):
    rendered = subprocess.run([sys.executable, "-m", "clickstream_etl.lake.views"], capture_output=True, text=True,
                              env={"PYTHONPATH": str(ETL_SRC)}, check=True).stdout
    sql = json.loads(rendered)
    assert sorted(sql) == views.names() and len(sql) == 5
    assert all("{" not in s for s in sql.values())  # every placeholder filled in
    athena = moto_server.client("athena")
    workgroup, database = f"wg-{uuid.uuid4().hex[:8]}", f"lake_{uuid.uuid4().hex[:8]}"
    athena.create_work_group(Name=workgroup, Configuration={
        "ResultConfiguration": {"OutputLocation": "s3://results/athena/"}})
    task = {"clickstream.platform.athena_views": {"database": database, "workgroup": workgroup, "views": sql}}
    playbook = tmp_path / "views.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "views", "hosts": "localhost", "gather_facts": False, "connection": "local",
        "module_defaults": {"group/clickstream.platform.aws": {
            "endpoint_url": moto_server.url, "region": "us-east-1", "access_key": "testing",
            "secret_key": "testing"}},
        "tasks": [{"name": "views", **task}]}]))
    first = run_playbook(str(playbook), "-e", f"ansible_python_interpreter={sys.executable}", repo=REPO)
    assert first.rc == 0, first.output
    assert first.changed_tasks() == ["views"]
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    sent = {athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids}
    assert sent == {f"CREATE OR REPLACE VIEW {n} AS\n{s.strip()}" for n, s in sql.items()}
    second = run_playbook(str(playbook), "-e", f"ansible_python_interpreter={sys.executable}", repo=REPO)
    assert second.rc == 0 and second.changed_tasks() == [], second.output
    assert len(athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]) == len(ids)
    # a changed view: the views are sent again
    assert "count(*) AS sessions" in playbook.read_text()
    playbook.write_text(playbook.read_text().replace("count(*) AS sessions", "count(1) AS sessions"))
    third = run_playbook(str(playbook), "-e", f"ansible_python_interpreter={sys.executable}", repo=REPO)
    assert third.rc == 0 and third.changed_tasks() == ["views"], third.output
