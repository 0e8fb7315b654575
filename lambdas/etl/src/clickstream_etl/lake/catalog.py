"""The Glue catalog of the lake and its two tables: made when missing, their schemas widened when the one list of
event columns grows (``schema``). Used by the ETL before each export and by the provisioning
(``clickstream.platform.iceberg_tables``), so the tables exist, queryable by Athena, before the first run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from . import schema


def catalog_properties(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """pyiceberg's Glue catalog properties: the region, and the endpoints when ``AWS_ENDPOINT_URL`` (or the
    service's own ``AWS_ENDPOINT_URL_GLUE`` / ``_S3``) points at another endpoint than AWS's (the emulator).
    Credentials come from the usual chain (the Lambda's role, the environment)."""
    env = os.environ if env is None else env
    props = {"type": "glue"}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        props.update({"glue.region": region, "s3.region": region})
    for service in ("glue", "s3"):
        endpoint = env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            props[f"{service}.endpoint"] = endpoint
    for prop, var in (("access-key-id", "AWS_ACCESS_KEY_ID"), ("secret-access-key", "AWS_SECRET_ACCESS_KEY"),
                      ("session-token", "AWS_SESSION_TOKEN")):
        if env.get(var):
            props[f"glue.{prop}"] = props[f"s3.{prop}"] = env[var]
    return props


def load(env: Mapping[str, str] | None = None):
    """The Glue catalog (pyiceberg)."""
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake", **catalog_properties(env))


def table_location(location: str, table: str) -> str:
    return f"{location.rstrip('/')}/{table}"


def ensure_tables(catalog, database: str, location: str, *, check: bool = False) -> list[str]:
    """Make the Glue database and the tables ``events`` and ``sessions`` (Iceberg, at ``<location>/<table>``) when
    missing, and add to an existing table the columns of ``schema`` it lacks (by name). Returns what was (or, with
    ``check``, would be) changed; an empty list when everything is as it should be."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchNamespaceError, NoSuchTableError

    changes: list[str] = []
    try:  # glue:GetDatabase of this database only (the ETL's role may read no other)
        catalog.load_namespace_properties(database)
    except NoSuchNamespaceError:
        changes.append(f"create Glue database {database}")
        if check:
            return changes + [f"create Iceberg table {database}.{t}" for t in schema.TABLES]
        with contextlib.suppress(NamespaceAlreadyExistsError):
            catalog.create_namespace(database, {"comment": "Clickstream lake (docs/lake.md)"})
    for table in schema.TABLES:
        identifier = (database, table)
        wanted = schema.table_schema(table)
        try:
            existing = catalog.load_table(identifier)
        except NoSuchTableError:
            changes.append(f"create Iceberg table {database}.{table}")
            if not check:
                catalog.create_table(identifier, schema=wanted, location=table_location(location, table),
                                     partition_spec=schema.table_partition_spec(table, wanted),
                                     properties={"format-version": "2",
                                                 "write.parquet.compression-codec": "zstd"})
            continue
        missing = [f.name for f in wanted.fields if f.name not in {g.name for g in existing.schema().fields}]
        if missing:
            changes.append(f"add columns {', '.join(missing)} to {database}.{table}")
            if not check:
                with existing.update_schema() as update:
                    update.union_by_name(wanted)
    return changes


def load_tables(catalog, database: str) -> dict[str, Any]:
    return {t: catalog.load_table((database, t)) for t in schema.TABLES}
