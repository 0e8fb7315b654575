"""The ETL's connections to the warehouse: how one is made (``connect``), a second one beside it
(``sibling_connection``), one transaction (``transaction``) and two halves of a job on two connections at once
(``two_connections``, ``side_by_side``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg2

from . import sql
from .config import Settings


def session_options(settings: Settings) -> str:
    """The session limits (Settings), also the role's defaults: statement and idle-in-transaction timeouts, and
    the server's TCP keepalives towards this client (it ends the session of a Lambda killed while idle, and so
    frees the ETL's advisory lock)."""
    return " ".join([
        f"-c statement_timeout={settings.statement_timeout_seconds * 1000}",
        f"-c idle_in_transaction_session_timeout={settings.idle_in_transaction_timeout_seconds * 1000}",
        f"-c tcp_keepalives_idle={settings.keepalives_idle_seconds}",
        "-c tcp_keepalives_interval=10",
        "-c tcp_keepalives_count=3",
    ])


def connect(settings: Settings, password: str):
    """The ETL's connection to the warehouse (every connection of a run is this one or a ``sibling_connection``
    of it, which copies its parameters)."""
    return psycopg2.connect(
        host=settings.dw_host, port=settings.dw_port, dbname=settings.dw_name, user=settings.dw_user,
        password=password, connect_timeout=settings.connect_timeout_seconds,
        application_name="clickstream-etl",
        # TLS verified: the certificate must come from the CA in dw_sslrootcert and carry dw_host's name
        sslmode=settings.dw_sslmode, **({"sslrootcert": settings.dw_sslrootcert} if settings.dw_sslrootcert else {}),
        options=session_options(settings),
        # the client side of the keepalives: a warehouse that vanished mid-statement ends the run, not the Lambda
        keepalives=1, keepalives_idle=settings.keepalives_idle_seconds, keepalives_interval=10, keepalives_count=3,
    )


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


@contextmanager
def transaction(conn) -> Iterator[None]:
    """One transaction on ``conn``: committed at the end of the block, rolled back if the block raises (unless the
    server already ended the connection: then its error is the one to raise)."""
    try:
        yield
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise


@contextmanager
def two_connections(conn, wanted: bool = True, opener: Callable | None = None) -> Iterator:
    """A sibling of ``conn`` for the second half of a job (``side_by_side``), or None when not ``wanted`` or it does
    not open (then both halves run on ``conn``, one after the other). Closed at the end of the block, which rolls
    back whatever it did not commit. ``opener``: how to open it (the caller's module's ``sibling_connection``)."""
    other = (opener or sibling_connection)(conn) if wanted else None
    try:
        yield other
    finally:
        if other is not None:
            other.close()


def side_by_side(here: Callable[[], object], beside: Callable[[], object]) -> None:
    """Run ``beside`` in a thread while ``here`` runs in this one, and wait for both. ``here``'s error is raised
    first, else ``beside``'s."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(beside)
        try:
            here()
        finally:
            error = other.exception()  # waits
        if error is not None:
            raise error
