"""site.yml through the local inventory for the host tags: EC2 in the emulator, both databases and Shiny on
this machine (the local inventory's own ports 5433, 5434 and 3838, on purpose). A second run changes nothing.

The emulator is the test session's fresh moto, so every password is generated anew: the run also shows that
the roles re-set the database passwords from SSM after an emulator restart and everything agrees again.
"""

from __future__ import annotations

import urllib.request

import psycopg2
import pytest

from tests.support.ansible import run_playbook
from tests.support.moto import MotoServer

TAGS = "compute,oltp,dw,shiny"


def _password(moto: MotoServer, name: str) -> str:
    return moto.client("ssm").get_parameter(Name=f"/clickstream/local/db/{name}", WithDecryption=True)[
        "Parameter"]["Value"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_site_host_tags_twice(emulator_with_network: MotoServer) -> None:
    env = emulator_with_network.env()
    first = run_playbook("site.yml", "--tags", TAGS, env=env)
    assert first.rc == 0, first.output[-5000:]
    assert set(first.recap) >= {"localhost", "oltp-local", "dw-local"}

    second = run_playbook("site.yml", "--tags", TAGS, env=env)
    assert second.rc == 0, second.output[-5000:]
    assert second.changed == 0, second.changed_tasks()

    ssm = emulator_with_network.client("ssm")
    url = ssm.get_parameter(Name="/clickstream/local/db/oltp/database_url", WithDecryption=True)["Parameter"]["Value"]
    app_password = _password(emulator_with_network, "oltp/shop_app/password")
    assert url.startswith(f"postgresql://shop_app:{app_password}@127.0.0.1:5433/shop?")
    assert app_password not in first.output and app_password not in second.output

    with psycopg2.connect(host="127.0.0.1", port=5433, dbname="shop", user="shop_app", password=app_password,
                          sslmode="require") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM products")
        assert cur.fetchone()[0] > 50
    for role in ("dw_owner", "etl_writer", "dashboard_reader"):
        with psycopg2.connect(host="127.0.0.1", port=5434, dbname="clickstream_dw", user=role,
                              password=_password(emulator_with_network, f"dw/{role}/password"),
                              sslmode="require") as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == role

    with urllib.request.urlopen("http://127.0.0.1:3838/", timeout=30) as response:
        assert response.status == 200
        assert "shiny" in response.read().decode().lower()
