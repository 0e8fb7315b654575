"""Settings from environment variables, one parser for both Lambdas (ingest and ETL) and their local runtimes.

Each reader takes the environment as a mapping (os.environ in a Lambda, a dict in tests), strips the value,
treats an unset or blank variable as "use the default", and raises ConfigError naming the variable when a value
does not parse or is out of range, so that a wrong setting fails the first call with a clear message.

This file lives in lambdas/shared/; lambdas/<name>/src/clickstream_env.py is a symbolic link to it, so each
Lambda's source tree (and with it its zip, scripts/build_lambda.py, and every PYTHONPATH that names the tree)
has the same module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class ConfigError(ValueError):
    """A required variable is missing or a value does not parse (the message names the variable)."""


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The stripped value, or `default` when unset or blank."""
    return (env.get(name) or "").strip() or default


def required(env: Mapping[str, str], name: str) -> str:
    """The stripped value; ConfigError when unset or blank."""
    value = text(env, name)
    if not value:
        raise ConfigError(f"{name} is required but not set")
    return value


def integer(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """A whole number >= minimum, or `default` when unset or blank."""
    raw = text(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def number(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    """A number in [minimum, maximum], or `default` when unset or blank."""
    raw = text(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not minimum <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def prefix(env: Mapping[str, str], name: str, default: str) -> str:
    """An S3 key prefix, always ending in "/"."""
    value = text(env, name, default)
    return value if value.endswith("/") else value + "/"


def choice(env: Mapping[str, str], name: str, default: str, choices: Collection[str], *,
           fold_case: bool = True) -> str:
    """One of `choices`, or `default` when unset or blank. The value is compared in lower case, or exactly as
    given with ``fold_case=False`` (for a value a library reads case-sensitively, such as libpq's sslmode)."""
    value = text(env, name, default)
    if fold_case:
        value = value.lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
