"""A second connection to the warehouse, for work that runs beside the run's own connection."""

from __future__ import annotations

import psycopg2

from . import sql


def sibling_connection(conn):
    """A second connection like ``conn`` (same server, database, user, password, options), set up as the ETL's,
    or None if it cannot be opened (then the caller does the work on ``conn`` alone)."""
    params = dict(conn.info.dsn_parameters)
    if conn.info.password:
        params["password"] = conn.info.password
    try:
        other = psycopg2.connect(**params)
    except psycopg2.OperationalError:
        return None
    try:
        other.autocommit = False
        with other.cursor() as cur:
            for stmt in sql.SESSION_SETUP:
                cur.execute(stmt)
        other.commit()
    except BaseException:
        other.close()
        raise
    return other
