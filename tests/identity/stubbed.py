"""Helpers of the stubbed (unit) tests of the Amplify modules: real botocore clients whose requests are checked
against botocore's service model (parameter validation runs before botocore.stub.Stubber answers), behind the
same retry wrapper AnsibleAWSModule.client() returns, and a stand-in for the AnsibleModule."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from botocore.response import StreamingBody
from botocore.stub import Stubber

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ACCOUNT = "123456789012"
REGION = "us-east-1"


class ModuleFailed(Exception):
    """fail_json / fail_json_aws of the stand-in module."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg"))
        self.result = result


@dataclass
class FakeModule:
    params: dict[str, Any]
    check_mode: bool = False
    region: str = REGION
    warnings: list[str] = field(default_factory=list)

    def fail_json(self, **kwargs: Any) -> None:
        raise ModuleFailed(kwargs)

    def fail_json_aws(self, exception: Exception, msg: str = "") -> None:
        raise ModuleFailed({"msg": msg, "exception": exception})

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def params(spec: dict[str, Any], **given: Any) -> dict[str, Any]:
    """What AnsibleModule would hand the module: every option of `spec`, defaults filled in (suboptions too)."""
    out = {}
    for name, opt in spec.items():
        value = given.get(name, opt.get("default"))
        if isinstance(value, dict) and opt.get("options"):
            value = params(opt["options"], **value)
        elif isinstance(value, list) and opt.get("options"):
            value = [params(opt["options"], **v) for v in value]
        out[name] = value
    return out


class Recorder:
    """Names of the operations requests were built for (botocore's before-parameter-build event)."""

    def __init__(self) -> None:
        self.operations: set[str] = set()

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.add(model.name)


def client(service: str, recorder: Recorder | None = None) -> Any:
    c = boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
    if recorder is not None:
        c.meta.events.register(f"before-parameter-build.{c.meta.service_model.endpoint_prefix}", recorder)
    return c


@contextmanager
def stubbed(service: str, recorder: Recorder | None = None) -> Iterator[tuple[Any, Stubber]]:
    """(client as the module sees it, its Stubber). On exit, every queued response must have been used."""
    raw = client(service, recorder)
    with Stubber(raw) as stub:
        yield RetryingBotoClientWrapper(raw, AWSRetry.jittered_backoff(retries=1)), stub
        stub.assert_no_pending_responses()


def app(app_id: str = "d1abc", name: str = "shop", **fields: Any) -> dict[str, Any]:
    """An Amplify App as GetApp/ListApps return it (every member the model requires)."""
    base = {
        "appId": app_id, "appArn": f"arn:aws:amplify:{REGION}:{ACCOUNT}:apps/{app_id}", "name": name,
        "description": "", "repository": "", "platform": "WEB_COMPUTE", "createTime": NOW, "updateTime": NOW,
        "environmentVariables": {}, "defaultDomain": f"{app_id}.amplifyapp.com", "enableBranchAutoBuild": False,
        "enableBasicAuth": False, "tags": {},
    }
    return {**base, **fields}


def branch(app_id: str = "d1abc", name: str = "main", **fields: Any) -> dict[str, Any]:
    """An Amplify Branch as GetBranch returns it (every member the model requires)."""
    base = {
        "branchArn": f"arn:aws:amplify:{REGION}:{ACCOUNT}:apps/{app_id}/branches/{name}", "branchName": name,
        "description": "", "stage": "PRODUCTION", "displayName": name, "enableNotification": False,
        "createTime": NOW, "updateTime": NOW, "environmentVariables": {}, "enableAutoBuild": False,
        "customDomains": [], "framework": "Next.js - SSR", "activeJobId": "0", "totalNumberOfJobs": "0",
        "enableBasicAuth": False, "ttl": "5", "enablePullRequestPreview": False, "tags": {},
    }
    return {**base, **fields}


def job_summary(job_id: str = "1", status: str = "PENDING") -> dict[str, Any]:
    return {"jobArn": f"arn:aws:amplify:{REGION}:{ACCOUNT}:apps/d1abc/branches/main/jobs/{job_id}", "jobId": job_id,
            "commitId": "manual", "commitMessage": "manual deployment", "commitTime": NOW, "startTime": NOW,
            "status": status, "jobType": "MANUAL"}


def s3_body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))
