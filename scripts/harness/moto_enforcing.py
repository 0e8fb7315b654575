"""moto_server whose IAM evaluation sees the resource of SSM Parameter Store, CloudWatch Logs, Glue and Athena calls.

moto (5.2) authorizes most JSON-protocol services against the resource "*": a policy that grants
ssm:GetParameter on one parameter's ARN matches nothing and every call is refused. This entry point gives those
services the resource ARN AWS evaluates (the parameter, the log group or stream, the Glue table or database, the
Athena workgroup), so moto's own policy evaluator decides on the real resource; everything else is moto_server
unchanged. Used by scripts/harness/iam.py.

Glue: AWS evaluates a table call against the catalog, the database and the table ARNs (all three must be allowed);
moto evaluates one resource per call, so a table call is evaluated against the table's ARN, a database call against
the database's, a catalog-wide call (GetDatabases, CreateDatabase) against the catalog's.
Athena: a call naming a workgroup (StartQueryExecution without one runs in "primary"), or a query execution (its
workgroup, looked up in moto's own state), is evaluated against the workgroup's ARN.

    python scripts/harness/moto_enforcing.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and its moto.py would shadow the moto package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from moto.athena.models import athena_backends  # noqa: E402 - after the sys.path fix above
from moto.athena.responses import AthenaResponse  # noqa: E402
from moto.glue.responses import GlueResponse  # noqa: E402
from moto.logs.responses import LogsResponse  # noqa: E402
from moto.server import main  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

# Parameter Store actions on one parameter (Name) or one path (Path); GetParameters with one name is the same.
_SSM_NAMED = {"GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion"}
_LOGS_GROUP = {"CreateLogGroup", "DeleteLogGroup", "DescribeLogStreams", "PutRetentionPolicy"}
_LOGS_STREAM = {"CreateLogStream", "PutLogEvents", "GetLogEvents"}


def _body(response: Any) -> dict[str, Any]:
    try:
        return json.loads(response.body or "{}")
    except ValueError:
        return {}


def _ssm_resource(self: Any) -> str:
    body, action = _body(self), self._get_action()
    names = [body["Name"]] if action in _SSM_NAMED and "Name" in body else body.get("Names") or []
    if action == "GetParametersByPath" and "Path" in body:
        names = [body["Path"]]
    if len(names) != 1:  # several parameters in one call: no single resource; a scoped policy refuses it
        return "*"
    name = names[0] if names[0].startswith("/") else f"/{names[0]}"
    return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter{name}"


def _logs_resource(self: Any) -> str:
    body, action = _body(self), self._get_action()
    group = body.get("logGroupName")
    if not group or action not in _LOGS_GROUP | _LOGS_STREAM:
        return "*"
    arn = f"arn:aws:logs:{self.region}:{self.current_account}:log-group:{group}"
    if action in _LOGS_STREAM and body.get("logStreamName"):
        return f"{arn}:log-stream:{body['logStreamName']}"
    return arn


# Glue actions on one table (DatabaseName + Name, TableName or TableInput.Name) or one database (Name or
# DatabaseName, DatabaseInput.Name); the catalog-wide ones list or create databases.
_GLUE_TABLE = {"GetTable", "UpdateTable", "DeleteTable", "CreateTable", "GetPartition", "GetPartitions",
               "BatchCreatePartition", "BatchDeletePartition", "GetTableVersions", "DeleteTableVersion"}
_GLUE_DATABASE = {"GetDatabase", "UpdateDatabase", "DeleteDatabase", "GetTables", "BatchDeleteTable"}
_ATHENA_EXECUTION = {"GetQueryExecution", "GetQueryResults", "StopQueryExecution", "GetQueryRuntimeStatistics"}


def _glue_resource(self: Any) -> str:
    body, action = _body(self), self._get_action()
    prefix = f"arn:aws:glue:{self.region}:{self.current_account}"
    if action in _GLUE_TABLE:
        table = body.get("Name") or body.get("TableName") or (body.get("TableInput") or {}).get("Name")
        return f"{prefix}:table/{body.get('DatabaseName')}/{table}"
    if action in _GLUE_DATABASE:
        return f"{prefix}:database/{body.get('Name') or body.get('DatabaseName')}"
    return f"{prefix}:catalog"


def _athena_resource(self: Any) -> str:
    body, action = _body(self), self._get_action()
    workgroup = body.get("Name") if action == "CreateWorkGroup" else body.get("WorkGroup")
    if action == "StartQueryExecution" and not workgroup:
        workgroup = "primary"
    if action in _ATHENA_EXECUTION:
        execution = athena_backends[self.current_account][self.region].executions.get(body.get("QueryExecutionId"))
        workgroup = execution.workgroup.name if execution and execution.workgroup else "primary"
    if not workgroup:
        return "*"
    return f"arn:aws:athena:{self.region}:{self.current_account}:workgroup/{workgroup}"


GlueResponse._determine_resource = _glue_resource  # type: ignore[attr-defined]
AthenaResponse._determine_resource = _athena_resource  # type: ignore[attr-defined]
SimpleSystemManagerResponse._determine_resource = _ssm_resource  # type: ignore[attr-defined]
LogsResponse._determine_resource = _logs_resource  # type: ignore[attr-defined]

if __name__ == "__main__":
    main(sys.argv[1:])
