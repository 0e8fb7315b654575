"""scripts/build_lambda.py: deterministic zips (same inputs -> same bytes), vendored runtime wheels."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from scripts.harness.ansible import REPO

SCRIPT = REPO / "scripts/build_lambda.py"


def build(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[-1])


def make_lambda(root: Path) -> Path:
    src = root / "lambdas/demo/src/demo_pkg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "handler.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__/handler.cpython-311.pyc").write_bytes(b"junk")
    (src / "stray.pyc").write_bytes(b"junk")
    return src


def test_same_sources_give_the_same_bytes_and_a_change_gives_new_ones(tmp_path):
    src = make_lambda(tmp_path)
    args = ["demo", "--lambdas-dir", str(tmp_path / "lambdas"), "--output-dir", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache")]
    first = build(*args)
    zip_path = Path(first["zip"])
    mtime = zip_path.stat().st_mtime_ns
    (src / "handler.py").touch()  # a newer mtime alone changes nothing
    second = build(*args)
    assert first["changed"] is True and second["changed"] is False
    assert first["sha256"] == second["sha256"] and zip_path.stat().st_mtime_ns == mtime
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["demo_pkg/__init__.py", "demo_pkg/handler.py"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and (i.external_attr >> 16) == 0o100644 for i in infos)
    (src / "handler.py").write_text("def handler(event, context):\n    return {'ok': False}\n")
    third = build(*args)
    assert third["changed"] is True and third["sha256"] != first["sha256"]


def test_missing_sources_fail_clearly(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "nope", "--lambdas-dir", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "no sources" in proc.stderr


def test_ingest_zip_vendors_jsonschema_for_python312_x86_64(tmp_path):
    result = build("ingest", "--output-dir", str(tmp_path))
    again = build("ingest", "--output-dir", str(tmp_path / "again"))
    assert result["sha256"] == again["sha256"]
    with zipfile.ZipFile(result["zip"]) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names)
    assert "clickstream_ingest/handler.py" in names
    assert "clickstream_ingest/schemas/clickstream-request.schema.json" in names
    assert "jsonschema/__init__.py" in names and "referencing/__init__.py" in names
    assert "jsonschema_rs/jsonschema_rs.abi3.so" in names
    shared = [n for n in names if n.endswith(".so")]
    # CPython 3.12 extensions, or the stable ABI (abi3) of a wheel built for manylinux x86_64
    assert shared and all("cpython-312-x86_64-linux-gnu" in n or n.endswith(".abi3.so") for n in shared)
    (wheel,) = [n for n in names if n.startswith("jsonschema_rs-") and n.endswith(".dist-info/WHEEL")]
    with zipfile.ZipFile(result["zip"]) as zf:
        assert "manylinux2014_x86_64" in zf.read(wheel).decode()
    assert all((i.external_attr >> 16) == 0o100755 for i in infos if i.filename.endswith(".so"))
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n or n.startswith("bin/")]


def test_ingest_zip_carries_the_user_agent_parser(tmp_path):
    """The device of a request is decided by the zip's own ua-parser and its uap-core regexes (pure Python, so
    this interpreter can run them from the unpacked zip without the project venv)."""
    result = build("ingest", "--output-dir", str(tmp_path))
    with zipfile.ZipFile(result["zip"]) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "unzipped", [n for n in names if n.startswith(("ua_parser", "clickstream_ingest"))])
    assert "ua_parser/__init__.py" in names
    assert [n for n in names if n.startswith("ua_parser_builtins/")]
    ua = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    code = ("import sys; from clickstream_ingest.device import device; d = device(sys.argv[1]); "
            "print(d.category, d.os, __import__('ua_parser').__file__)")
    prelude = f"import sys; sys.path.insert(0, {str(tmp_path / 'unzipped')!r}); "
    out = subprocess.run([sys.executable, "-I", "-c", prelude + code, ua], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:2] == ["tablet", "iOS"] and out[2].startswith(str(tmp_path / "unzipped"))


def load_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_lambda_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unchanged_inputs_reuse_the_zip_without_compressing_again(tmp_path, monkeypatch):
    """A no-op provisioning run rebuilds both zips: with the same inputs the recorded zip is the result."""
    builder = load_builder()
    src = make_lambda(tmp_path)
    args = ("demo", tmp_path / "out", tmp_path / "cache", tmp_path / "lambdas")
    first = builder.build(*args)
    zip_path = Path(first["zip"])

    def no_compression(entries, dest):
        raise AssertionError("the zip was compressed again for unchanged inputs")

    with monkeypatch.context() as m:
        m.setattr(builder, "write_zip", no_compression)
        again = builder.build(*args)
    assert again == {**first, "changed": False}

    # A zip changed behind the builder's back is made again, and so is one whose inputs changed.
    zip_path.write_bytes(zip_path.read_bytes() + b"tampered")
    repaired = builder.build(*args)
    assert repaired["changed"] is True and repaired["sha256"] == first["sha256"]
    (src / "handler.py").write_text("def handler(event, context):\n    return {'ok': None}\n")
    rebuilt = builder.build(*args)
    assert rebuilt["changed"] is True and rebuilt["sha256"] != first["sha256"]
