"""Finding 8: on AWS the shop's origin is the Amplify app's domain, known only once the app exists. The app is
created before the ingest and identity plays, and the CORS origins and Cognito callback/logout URLs derive from it
unless the inventory names the shop's origins itself. (Amplify itself is exercised against stubs in
tests/identity/test_amplify_modules.py: the emulator has no Amplify API.)"""

from __future__ import annotations

import json

import yaml

from scripts.harness.ansible import REPO, run_playbook

AMPLIFY = "https://main.d1abc2def3.amplifyapp.com"


def shop_urls(tmp_path, inventory: str, **extra: object) -> dict:
    varfile = tmp_path / "vars.json"
    out = tmp_path / "urls.json"
    varfile.write_text(json.dumps({**extra, "out": str(out)}))
    run = run_playbook("tests/preflight/playbooks/shop_urls.yml", "-e", f"@{varfile}", inventory=inventory,
                       env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"})
    assert run.rc == 0, run.output
    return json.loads(out.read_text())


def test_aws_urls_derive_from_the_amplify_origin(tmp_path):
    # the fact the frontend_hosting role's `origin` entry point sets once the app exists
    urls = shop_urls(tmp_path, "inventories/aws", frontend_hosting_shop_origin=AMPLIFY)
    assert urls == {"cors": [AMPLIFY], "callbacks": [f"{AMPLIFY}/api/auth/callback/cognito"],
                    "logouts": [f"{AMPLIFY}/"], "flows": ["code"]}


def test_aws_inventory_ships_no_localhost_url(tmp_path):
    urls = shop_urls(tmp_path, "inventories/aws")
    assert not [u for u in urls["cors"] + urls["callbacks"] + urls["logouts"] if "localhost" in u or "127.0.0" in u]
    # before the app exists (a fresh account, check mode) there is no callback URL, so no OAuth flow yet
    assert urls == {"cors": [], "callbacks": [], "logouts": [], "flows": []}


def test_origins_the_inventory_names_win(tmp_path):
    urls = shop_urls(tmp_path, "inventories/aws", frontend_hosting_shop_origin=AMPLIFY,
                     clickstream_shop_origins=["https://shop.example.com/"])
    assert urls["cors"] == ["https://shop.example.com/"]
    assert urls["callbacks"] == ["https://shop.example.com/api/auth/callback/cognito"]
    assert urls["logouts"] == ["https://shop.example.com/"]


def test_local_inventory_keeps_the_dev_server(tmp_path):
    urls = shop_urls(tmp_path, "inventories/local")
    assert urls["cors"] == ["http://localhost:3000", "http://127.0.0.1:3000"]
    assert "http://localhost:3000/api/auth/callback/cognito" in urls["callbacks"]


def test_the_amplify_app_is_created_before_ingest_and_identity():
    site = [entry["ansible.builtin.import_playbook"] for entry in yaml.safe_load((REPO / "site.yml").read_text())]
    assert site.index("playbooks/frontend-app.yml") < site.index("playbooks/ingest.yml")
    assert site.index("playbooks/frontend-app.yml") < site.index("playbooks/identity.yml")
    play = yaml.safe_load((REPO / "playbooks/frontend-app.yml").read_text())[0]
    # `--tags ingest` or `--tags identity` alone still learns the origin first
    assert {"ingest", "identity", "frontend"} <= set(play["tags"])
    assert play["tasks"][0]["ansible.builtin.import_role"] == {"name": "frontend_hosting", "tasks_from": "origin"}
