"""Log in with sslmode=verify-full and print `OK <ssl in use>` or `ERROR <libpq's message>`.

HOST is the name the certificate must carry; HOSTADDR is where the server really is (127.0.0.1), so a wrong name
can be tried without DNS. The password comes from the environment (PGPASSWORD), never the command line.
Usage: tls_probe.py HOST HOSTADDR PORT USER DATABASE ROOTCERT
"""

from __future__ import annotations

import sys

import psycopg2


def main(host: str, hostaddr: str, port: str, user: str, database: str, rootcert: str) -> int:
    try:
        conn = psycopg2.connect(host=host, hostaddr=hostaddr, port=int(port), user=user, dbname=database,
                                sslmode="verify-full", sslrootcert=rootcert, connect_timeout=10)
    except psycopg2.OperationalError as exc:
        print("ERROR " + " ".join(str(exc).split()))
        return 0
    with conn, conn.cursor() as cur:
        cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        print(f"OK {cur.fetchone()[0]}")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))
