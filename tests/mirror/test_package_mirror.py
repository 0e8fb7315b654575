"""The no-NAT install path (docs/private-install.md, path 2) against the real emulator and the Debian registry.

playbooks/package-mirror.yml builds the dependency closure of a SMALL package set (`hello`, `tree`, `zlib1g`) with a
private apt root, uploads it to a bucket in the session's moto server and re-runs with changed=0. The DW side (role
package_mirror, tests/mirror/playbooks/client.yml) then fetches it back through presigned URLs into a temp dir
and apt, in a throwaway apt root, resolves and downloads `hello` from it. This machine's apt configuration is
never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.harness.ansible import PlaybookRun, run_playbook
from scripts.harness.moto import MotoServer

PACKAGES = ["hello", "tree", "zlib1g"]  # zlib1g has an epoch: its file name has "%3a" (apt's quoting of ":")
CLIENT_PLAYBOOK = "tests/mirror/playbooks/client.yml"
APT_CONFIG_PATHS = [Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"), Path("/etc/apt/preferences.d")]


@dataclass
class Mirror:
    moto: MotoServer
    bucket: str
    prefix: str
    work_dir: Path
    first_run: PlaybookRun

    @property
    def repo_dir(self) -> Path:
        return self.work_dir / "repo"

    def publish(self, *args: str, packages: list[str] | None = None) -> PlaybookRun:
        return publish(self.moto, self.bucket, self.prefix, self.work_dir, packages or PACKAGES, *args)

    def keys(self) -> dict[str, str]:
        """Object name (below the prefix) -> SHA-256 of its bytes, read back from the emulator."""
        s3 = self.moto.client("s3")
        out: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/"):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"].removeprefix(f"{self.prefix}/")] = hashlib.sha256(body).hexdigest()
        return out

    def manifest(self) -> dict:
        body = self.moto.client("s3").get_object(Bucket=self.bucket, Key=f"{self.prefix}/manifest.json")["Body"]
        return json.loads(body.read())


def signing_dir(work_dir: Path) -> str:
    """The control node's GnuPG home of the mirror's signing key, private to this test's mirror."""
    return str(work_dir.parent / f"{work_dir.name}-signing")


def publish(moto: MotoServer, bucket: str, prefix: str, work_dir: Path, packages: list[str], *args: str) -> PlaybookRun:
    extra = {"package_mirror_packages": packages, "package_mirror_work_dir": str(work_dir),
             "package_mirror_bucket": bucket, "package_mirror_prefix": prefix,
             "package_mirror_signing_dir": signing_dir(work_dir)}
    return run_playbook("playbooks/package-mirror.yml", "-e", json.dumps(extra), *args, env=moto.env(), timeout=900)


def fetch(moto: MotoServer, bucket: str, prefix: str, test_dir: Path, required: list[str], *args: str,
          signing: str = "") -> PlaybookRun:
    extra = {"mirror_test_dir": str(test_dir), "package_mirror_bucket": bucket, "package_mirror_prefix": prefix,
             "package_mirror_required_packages": required,
             **({"package_mirror_signing_dir": signing} if signing else {})}
    return run_playbook(CLIENT_PLAYBOOK, "-e", json.dumps(extra), *args, env=moto.env(), timeout=600)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def apt_config_snapshot() -> dict[str, str]:
    """Every file of this machine's apt sources/preferences with its SHA-256 (must not change)."""
    files: list[Path] = []
    for p in APT_CONFIG_PATHS:
        files.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p] if p.exists() else [])
    return {str(f): sha256(f) for f in files}


def index_entries(packages_gz: bytes) -> list[dict[str, str]]:
    """The stanzas of a Packages.gz index as dicts of their single-line fields."""
    text = gzip.decompress(packages_gz).decode()
    return [dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", stanza, re.M)) for stanza in text.strip().split("\n\n")]


def throwaway_apt(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """apt-get/apt-cache on the throwaway apt root the client playbook made, reading only the mirror's source."""
    tool, *rest = args
    opts = [f"-oDir::State={root}/state", f"-oDir::State::status={root}/status", f"-oDir::Cache={root}/cache",
            f"-oDir::Etc::SourceList={root}/etc/clickstream-mirror.list", "-oDir::Etc::SourceParts=-",
            "-oAPT::Sandbox::User=root"]
    return subprocess.run([tool, *opts, *rest], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def apt_before() -> dict[str, str]:
    return apt_config_snapshot()


@pytest.fixture(scope="module")
def mirror(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory,
           apt_before: dict[str, str]) -> Iterator[Mirror]:
    """A bucket in the session's emulator with the mirror of PACKAGES published once."""
    bucket = f"mirror-test-{uuid.uuid4().hex[:12]}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    work_dir = tmp_path_factory.mktemp("mirror-build")
    first = publish(moto_server, bucket, "apt/test", work_dir, PACKAGES)
    yield Mirror(moto_server, bucket, "apt/test", work_dir, first)


def test_publish_builds_the_closure_and_uploads_it(mirror: Mirror) -> None:
    run = mirror.first_run
    assert run.rc == 0 and run.failed == 0, run.output[-4000:]
    assert run.changed > 0
    keys = mirror.keys()
    manifest = mirror.manifest()
    assert manifest["format"] == 1 and manifest["requested"] == sorted(PACKAGES)
    # Every file in the manifest is in the bucket with exactly those bytes, and nothing else is there.
    assert set(keys) == set(manifest["files"]) | {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert keys[name] == meta["sha256"], name
        assert (mirror.repo_dir / name).stat().st_size == meta["size"]
    # The index lists every .deb once, with the SHA-256 apt will check, and the requested packages are in it.
    s3 = mirror.moto.client("s3")
    entries = index_entries(s3.get_object(Bucket=mirror.bucket, Key="apt/test/Packages.gz")["Body"].read())
    debs = {Path(e["Filename"]).name: e for e in entries}
    assert set(debs) == {n for n in manifest["files"] if n.endswith(".deb")}
    assert {d: e["SHA256"] for d, e in debs.items()} == {d: manifest["files"][d]["sha256"] for d in debs}
    assert set(PACKAGES) <= set(manifest["packages"]) == {e["Package"] for e in entries}
    # The closure includes dependencies this machine has installed already (private, empty package database).
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libc6"], capture_output=True, text=True)
    assert "install ok installed" in installed.stdout
    assert "libc6" in manifest["packages"]


def test_publish_rerun_changes_nothing_and_repairs_the_bucket(mirror: Mirror, apt_before: dict[str, str]) -> None:
    before = mirror.keys()
    second = mirror.publish()
    assert second.rc == 0 and second.changed == 0, second.changed_tasks() or second.output[-4000:]
    assert mirror.keys() == before

    # Someone deletes a package from the bucket and leaves a stray file under the prefix.
    s3 = mirror.moto.client("s3")
    manifest_before = mirror.manifest()
    victim = next(n for n in manifest_before["files"] if n.startswith("tree_"))
    s3.delete_object(Bucket=mirror.bucket, Key=f"apt/test/{victim}")
    s3.put_object(Bucket=mirror.bucket, Key="apt/test/stale_1.0_amd64.deb", Body=b"old")
    damaged = mirror.keys()
    repairs = [
        "package_mirror : Delete files that are no longer part of the repository",
        "package_mirror : Upload the new and changed files",
    ]
    # --check reports exactly the repair and changes nothing ...
    check = mirror.publish("--check")
    assert check.rc == 0, check.output[-4000:]
    assert sorted(set(check.changed_tasks())) == repairs
    assert mirror.keys() == damaged
    # ... and the real run does it: the missing file back with the same bytes, the stray one gone, same manifest.
    run = mirror.publish()
    assert run.rc == 0, run.output[-4000:]
    assert sorted(set(run.changed_tasks())) == repairs
    assert mirror.keys() == before
    assert mirror.manifest() == manifest_before
    assert apt_config_snapshot() == apt_before


def test_check_mode_resolves_the_roles_real_package_lists(mirror: Mirror) -> None:
    """Without an override the playbook takes postgresql_packages + shiny_server_packages from the roles' defaults;
    --check resolves their whole closure (nothing downloaded or uploaded)."""
    before = mirror.keys()
    extra = {"package_mirror_work_dir": str(mirror.work_dir), "package_mirror_bucket": mirror.bucket,
             "package_mirror_prefix": mirror.prefix, "package_mirror_signing_dir": signing_dir(mirror.work_dir)}
    run = run_playbook("playbooks/package-mirror.yml", "--check", "-e", json.dumps(extra), env=mirror.moto.env(),
                       timeout=900)
    assert run.rc == 0, run.output[-4000:]
    unfolded = re.sub(r"\n[ \t]+", " ", run.output)  # the YAML callback wraps long messages
    found = re.search(r"(\d+) files in the closure of ([^\n]+)", unfolded)
    assert found, run.output[-4000:]
    requested = found.group(2).split()
    assert {"postgresql-15", "postgresql-client-15", "r-base-core", "r-cran-shiny", "r-cran-rpostgresql",
            "python3-apt"} <= set(requested)
    assert int(found.group(1)) > len(requested)  # dependencies too
    assert mirror.keys() == before
    assert sorted(p.name for p in mirror.repo_dir.glob("*.deb")) == sorted(
        n for n in mirror.manifest()["files"] if n.endswith(".deb"))


def test_publish_refuses_an_empty_package_list(mirror: Mirror) -> None:
    run = run_playbook("playbooks/package-mirror.yml", "-e",
                       json.dumps({"package_mirror_packages": [], "package_mirror_bucket": mirror.bucket,
                                   "package_mirror_work_dir": str(mirror.work_dir)}), env=mirror.moto.env())
    assert run.rc != 0
    assert "package_mirror_packages must list Debian package names" in run.output


def test_host_fetches_through_presigned_urls_and_apt_resolves(mirror: Mirror, tmp_path: Path,
                                                               apt_before: dict[str, str]) -> None:
    aptroot = tmp_path / "aptroot"
    (aptroot / "etc").mkdir(parents=True)
    other = aptroot / "etc" / "debian.sources"
    other.write_text("deb http://192.0.2.1/debian bookworm main\n")  # an unreachable mirror, disabled by the role
    run = fetch(mirror.moto, mirror.bucket, mirror.prefix, tmp_path, ["hello"], signing=signing_dir(mirror.work_dir))
    assert run.rc == 0 and run.failed == 0, run.output[-4000:]
    assert "X-Amz-Signature" not in run.output  # presigned URLs are credentials: never printed
    manifest = mirror.manifest()
    repo = tmp_path / "repo"
    assert {p.name for p in repo.iterdir() if not p.name.startswith(".")} == set(manifest["files"])
    assert all(sha256(repo / n) == m["sha256"] for n, m in manifest["files"].items())
    assert not other.exists() and other.with_name("debian.sources.disabled").exists()
    source = (aptroot / "etc" / "clickstream-mirror.list").read_text()
    assert source.strip().endswith(f"file:{repo} ./")
    # signed: apt checks InRelease with the public key the suite keeps on the control node, not trusted=yes
    keyring = aptroot / "etc" / "clickstream-mirror.gpg"
    assert f"deb [signed-by={keyring}] file:{repo} ./" in source and "trusted=yes" not in source
    assert keyring.read_bytes() == (Path(signing_dir(mirror.work_dir)) / "mirror-signing.gpg").read_bytes()
    assert (repo / "InRelease").read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")

    policy = throwaway_apt(aptroot, "apt-cache", "policy", "hello")
    assert policy.returncode == 0, policy.stderr
    assert re.search(r"Candidate: \S+", policy.stdout) and f"file:{repo} ./ Packages" in policy.stdout
    assert any("%3a" in n for n in manifest["files"])  # an epoch survives S3 keys and presigned URLs
    download = throwaway_apt(aptroot, "apt-get", "install", "--download-only", "-y", "--no-install-recommends",
                             "hello", "zlib1g")
    assert download.returncode == 0, download.stdout + download.stderr
    for package in ("hello", "zlib1g"):
        got = rf"^Get:\d+ file:{re.escape(str(repo))} \./ {package} "
        assert re.search(got, download.stdout, re.M), download.stdout

    # A re-run changes nothing but a damaged local copy, which it fetches again (only that file).
    victim = next(n for n in manifest["files"] if n.startswith("hello_"))
    with (repo / victim).open("ab") as f:
        f.write(b"x")
    repaired = fetch(mirror.moto, mirror.bucket, mirror.prefix, tmp_path, ["hello"],
                     signing=signing_dir(mirror.work_dir))
    assert repaired.rc == 0, repaired.output[-4000:]
    assert repaired.changed_tasks() == [
        "package_mirror : Download the files through the S3 endpoint, each checked against the manifest's SHA-256",
    ]
    assert sha256(repo / victim) == manifest["files"][victim]["sha256"]
    assert apt_config_snapshot() == apt_before


def test_host_refuses_an_unpublished_mirror(mirror: Mirror, tmp_path: Path) -> None:
    (tmp_path / "aptroot" / "etc").mkdir(parents=True)
    run = fetch(mirror.moto, mirror.bucket, "apt/not-published", tmp_path, ["hello"])
    assert run.rc != 0
    assert f"No package mirror at s3://{mirror.bucket}/apt/not-published/manifest.json" in run.output
    assert "playbooks/package-mirror.yml" in run.output
    # Refused before anything was fetched or any apt source written.
    assert not (tmp_path / "repo").exists()
    assert not (tmp_path / "aptroot" / "etc" / "clickstream-mirror.list").exists()


@pytest.mark.parametrize(("role", "packages"), [
    ("postgresql", ["postgresql-15", "postgresql-client-15", "python3-psycopg2", "python3-cryptography"]),
    ("shiny_server", ["r-base-core", "r-cran-shiny"]),
])
def test_host_roles_install_from_the_mirror_when_told(mirror: Mirror, tmp_path: Path, role: str,
                                                      packages: list[str]) -> None:
    """`<role>_install_source: mirror` makes the role check the mirror for ITS package list before installing:
    the hello/tree mirror lacks them, so the play stops there, naming them and the playbook that publishes, with
    nothing fetched."""
    extra = {"mirror_test_role": role, "mirror_test_dir": str(tmp_path), "package_mirror_bucket": mirror.bucket,
             "package_mirror_prefix": mirror.prefix}
    run = run_playbook("tests/mirror/playbooks/roles_wiring.yml", "-e", json.dumps(extra), env=mirror.moto.env(),
                       timeout=600)
    assert run.rc != 0
    unfolded = re.sub(r"\n[ \t]+", " ", run.output)
    lacks = re.search(r"lacks \[([^\]]*)\]", unfolded)
    assert lacks, run.output[-4000:]
    assert set(packages) <= set(re.findall(r"'([^']+)'", lacks.group(1)))
    assert "hello" not in lacks.group(1) and "playbooks/package-mirror.yml" in unfolded
    assert not (tmp_path / "repo").exists() and not (tmp_path / "clickstream-mirror.list").exists()


def test_apt_refuses_the_mirror_signed_by_another_key(mirror: Mirror, tmp_path: Path) -> None:
    """Whoever can write the bucket cannot sign for the suite: with the mirror's files but another key's public
    half (what a forged InRelease would need the hosts to trust), apt refuses the repository."""
    ok = fetch(mirror.moto, mirror.bucket, mirror.prefix, tmp_path, ["hello"], signing=signing_dir(mirror.work_dir))
    assert ok.rc == 0, ok.output[-4000:]
    aptroot = tmp_path / "aptroot"
    other_home = tmp_path / "other-gnupg"
    other_home.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--homedir", str(other_home), "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run([*gpg, "--quick-gen-key", "Not the suite <x@example.invalid>", "ed25519", "sign", "never"],
                   check=True, capture_output=True)
    subprocess.run([*gpg, "--yes", "--export", "--output", str(aptroot / "etc" / "clickstream-mirror.gpg")], check=True,
                   capture_output=True)
    for lists in (aptroot / "state" / "lists").glob("*"):  # forget what the good key already accepted
        if lists.is_file():
            lists.unlink()
    refused = throwaway_apt(aptroot, "apt-get", "update")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "NO_PUBKEY" in refused.stderr or "is not signed" in refused.stderr, refused.stderr
    good = (Path(signing_dir(mirror.work_dir)) / "mirror-signing.gpg").read_bytes()
    (aptroot / "etc" / "clickstream-mirror.gpg").write_bytes(good)
    accepted = throwaway_apt(aptroot, "apt-get", "update")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    subprocess.run(["gpgconf", "--homedir", str(other_home), "--kill", "gpg-agent"], check=False)
