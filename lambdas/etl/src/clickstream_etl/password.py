"""The DW password: read from an SSM SecureString parameter at run time (only its name is configured)."""

from __future__ import annotations


class SecretError(RuntimeError):
    """The parameter is missing or is not a SecureString."""


def read_password(ssm, parameter_name: str) -> str:
    try:
        resp = ssm.get_parameter(Name=parameter_name, WithDecryption=True)
    except ssm.exceptions.ParameterNotFound as exc:
        raise SecretError(f"SSM parameter {parameter_name} not found") from exc
    param = resp["Parameter"]
    if param.get("Type") != "SecureString":
        raise SecretError(f"SSM parameter {parameter_name} must be a SecureString, not {param.get('Type')}")
    return param["Value"]
