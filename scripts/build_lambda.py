#!/usr/bin/env python3
"""Build a Lambda deployment zip deterministically: same sources and pins -> byte-identical zip.

    python scripts/build_lambda.py <name> [--json] [--add-file ARCNAME=PATH] [--with EXTRA]   # -> <name>.zip

Contents: everything under lambdas/<name>/src/ (packages at the zip root; __pycache__ and *.pyc left out; a
symbolic link is stored as the file it points to, which is how lambdas/shared/clickstream_env.py ships in every
Lambda that links it into its src/) plus
the wheels of lambdas/<name>/requirements.txt installed for the Lambda runtime (CPython 3.12, manylinux2014
x86_64, binary wheels only), plus any --add-file (the ETL's copy of the warehouse CA certificate), plus for each
--with EXTRA the wheels of lambdas/<name>/requirements-<EXTRA>.txt (manylinux_2_28 wheels allowed too: Lambda's
Python 3.12 runtime is Amazon Linux 2023, glibc 2.34) less the files that lambdas/<name>/requirements-<EXTRA>.exclude
names (glob patterns, one a line, matched against the names in the zip; the ETL's lake trims pyarrow there as the
AWS SDK for pandas layer does and leaves out the boto3 the runtime provides). A package over Lambda's limit of
250 MB unzipped (MAX_UNZIPPED_BYTES) is refused.
Entries are sorted, timestamps fixed (1980-01-01), modes fixed (0644, 0755 for
shared objects), so a rebuild of unchanged inputs gives the same bytes and the same CodeSha256: Ansible's
lambda module then reports no change. Vendored dependencies are cached per requirements hash under
build/cache/lambda-deps/, so a rebuild does not call pip. An unchanged zip is not rewritten, and not even
compressed again: <name>.zip.inputs records the digest of the inputs (names, modes, contents) the zip was made
from and the zip's own sha256; when both still match, the existing zip is the result.

Prints `<sha256 hex>  <zip path>`, or with --json one line:
{"name", "zip", "sha256", "code_sha256" (base64, as Lambda reports it), "changed", "files", "bytes",
"unzipped_bytes"}.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PIP_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12",
                "--only-binary=:all:"]
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
# pip --target writes console scripts with this machine's interpreter path: useless in Lambda, not reproducible.
SKIP_TOP_LEVEL = {"bin"}


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every file under root, skipping caches and bytecode."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for filename in filenames:
            if filename.endswith(SKIP_SUFFIXES) or filename == ".DS_Store":
                continue
            path = Path(dirpath) / filename
            if path.is_symlink() and not path.exists():
                raise SystemExit(f"{path} is a link to {os.readlink(path)}, which does not exist")
            arcname = path.relative_to(root).as_posix()
            if arcname.split("/", 1)[0] in SKIP_TOP_LEVEL and root.name.startswith("deps-"):
                continue
            yield arcname, path


# Lambda's limit on a function's code and layers, unzipped (250 MB).
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Extras may take manylinux_2_28 wheels (pyarrow has no manylinux2014 ones any more).
EXTRA_PLATFORMS = ["--platform", "manylinux_2_28_x86_64"]


def file_mode(arcname: str) -> int:
    """Fixed permissions: shared objects executable, everything else read-only for group/others."""
    name = arcname.rsplit("/", 1)[-1]
    return 0o755 if name.endswith(".so") or ".so." in name else 0o644


def requirements_key(requirements: Path, platform: list[str] = PIP_PLATFORM) -> str:
    """Cache key of the vendored dependencies: the pins and the target platform."""
    h = hashlib.sha256()
    h.update(requirements.read_bytes())
    h.update(" ".join(platform).encode())
    return h.hexdigest()[:16]


def vendor_dependencies(name: str, requirements: Path, cache_root: Path,
                        platform: list[str] = PIP_PLATFORM) -> Path | None:
    """Install the requirements for the Lambda runtime into a cache directory (once per requirements hash)."""
    text = requirements.read_text() if requirements.exists() else ""
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    if not any(lines):
        return None
    target = cache_root / f"deps-{name}-{requirements_key(requirements, platform)}"
    if (target / ".complete").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"deps-{name}-", dir=cache_root))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
             *platform, "--target", str(tmp), "-r", str(requirements)],
            check=True,
        )
        (tmp / ".complete").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def collect(sources: Iterable[Path]) -> dict[str, Path]:
    """Merge the file trees; a name in two trees is an error (a source module shadowing a dependency)."""
    entries: dict[str, Path] = {}
    for root in sources:
        for arcname, path in iter_files(root):
            if arcname == ".complete":
                continue
            if arcname in entries:
                raise SystemExit(f"{arcname} is both in {entries[arcname]} and {path}")
            entries[arcname] = path
    return entries


# Deflate level 6 (zlib's default): on the ETL's package (229 MB unzipped, mostly pyarrow) it costs 8 s of CPU
# against 30 s for level 9, for a zip 0.7 % larger (70.7 MB against 70.2 MB); the build is most of a fresh site.yml's
# ETL play. Part of the inputs' digest, so a change of level rebuilds the zip.
COMPRESSLEVEL = 6


def write_zip(entries: dict[str, Path], dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as zf:
        for arcname in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.create_system = 3  # unix, so external_attr carries the mode
            info.external_attr = (0o100000 | file_mode(arcname)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[arcname].read_bytes(), compresslevel=COMPRESSLEVEL)


def inputs_digest(entries: dict[str, Path]) -> str:
    """sha256 over what goes into the zip: each entry's name, mode and content, in archive order, plus the format."""
    h = hashlib.sha256(repr((FIXED_TIME, f"deflate-{COMPRESSLEVEL}")).encode())
    for arcname in sorted(entries):
        h.update(f"{arcname}\0{file_mode(arcname):o}\0".encode())
        h.update(hashlib.sha256(entries[arcname].read_bytes()).digest())
    return h.hexdigest()


def reusable(dest: Path, stamp: Path, inputs: str) -> bytes | None:
    """The existing zip's bytes when the stamp says it was made from these inputs and the zip is untouched."""
    try:
        recorded = json.loads(stamp.read_text())
        data = dest.read_bytes()
    except (OSError, ValueError):
        return None
    ok = (isinstance(recorded, dict) and recorded.get("inputs") == inputs
          and recorded.get("zip_sha256") == hashlib.sha256(data).hexdigest())
    return data if ok else None


def excluded(patterns: list[str], arcname: str) -> bool:
    """Whether a zip entry matches one of the exclude patterns (fnmatch, ``/`` not special)."""
    return any(fnmatch.fnmatchcase(arcname, p) for p in patterns)


def extra_dependencies(name: str, lambda_dir: Path, extra: str, cache_root: Path) -> tuple[Path | None, list[str]]:
    """The vendored tree of ``requirements-<extra>.txt``, the patterns of ``requirements-<extra>.exclude``."""
    requirements = lambda_dir / f"requirements-{extra}.txt"
    if not requirements.is_file():
        raise SystemExit(f"--with {extra}: {requirements} does not exist")
    exclude = lambda_dir / f"requirements-{extra}.exclude"
    patterns = [ln.split("#", 1)[0].strip() for ln in exclude.read_text().splitlines()] if exclude.is_file() else []
    tree = vendor_dependencies(f"{name}-{extra}", requirements, cache_root, [*PIP_PLATFORM, *EXTRA_PLATFORMS])
    return tree, [p for p in patterns if p]


def build(name: str, out_dir: Path, cache_root: Path, lambdas_dir: Path = REPO / "lambdas",
          extra_files: dict[str, Path] | None = None, extras: list[str] | None = None) -> dict[str, object]:
    lambda_dir = lambdas_dir / name
    src = lambda_dir / "src"
    if not src.is_dir():
        raise SystemExit(f"no sources: {src} does not exist")
    deps = vendor_dependencies(name, lambda_dir / "requirements.txt", cache_root)
    entries = collect([src, *([deps] if deps else [])])
    for extra in extras or []:
        tree, patterns = extra_dependencies(name, lambda_dir, extra, cache_root)
        if tree is None:
            continue
        for arcname, path in collect([tree]).items():
            if excluded(patterns, arcname):
                continue
            if arcname in entries:
                raise SystemExit(f"{arcname} is both in {entries[arcname]} and {path}")
            entries[arcname] = path
    unzipped = sum(path.stat().st_size for path in entries.values())
    if unzipped > MAX_UNZIPPED_BYTES:
        raise SystemExit(f"the {name} package is {unzipped / 2**20:.1f} MiB unzipped, over Lambda's "
                         f"{MAX_UNZIPPED_BYTES / 2**20:.0f} MiB limit")
    for arcname, path in (extra_files or {}).items():
        if arcname in entries:
            raise SystemExit(f"--add-file {arcname} is already in the package ({entries[arcname]})")
        entries[arcname] = path
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{name}.zip"
    stamp = out_dir / f"{name}.zip.inputs"
    inputs = inputs_digest(entries)
    data = reusable(dest, stamp, inputs)
    if data is not None:
        return result(name, dest, data, changed=False, files=len(entries), unzipped=unzipped)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write_zip(entries, tmp)
        data = tmp.read_bytes()
        changed = not dest.exists() or dest.read_bytes() != data
        if changed:
            os.chmod(tmp, 0o644)
            tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(json.dumps({"inputs": inputs, "zip_sha256": hashlib.sha256(data).hexdigest()}) + "\n")
    return result(name, dest, data, changed=changed, files=len(entries), unzipped=unzipped)


def result(name: str, dest: Path, data: bytes, changed: bool, files: int, unzipped: int = 0) -> dict[str, object]:
    digest = hashlib.sha256(data).digest()
    return {"name": name, "zip": str(dest), "sha256": digest.hex(), "code_sha256": base64.b64encode(digest).decode(),
            "changed": changed, "files": files, "bytes": len(data), "unzipped_bytes": unzipped}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="Lambda name: lambdas/<name>/src is packaged")
    p.add_argument("--output-dir", type=Path, default=REPO / "build" / "lambdas")
    p.add_argument("--cache-dir", type=Path, default=REPO / "build" / "cache" / "lambda-deps")
    p.add_argument("--lambdas-dir", type=Path, default=REPO / "lambdas", help="where lambdas/<name>/ live")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of `sha256  path`")
    p.add_argument("--add-file", action="append", default=[], metavar="ARCNAME=PATH",
                   help="also package the file PATH as ARCNAME (e.g. the warehouse's CA certificate); repeatable")
    p.add_argument("--with", dest="extras", action="append", default=[], metavar="EXTRA",
                   help="also vendor lambdas/<name>/requirements-EXTRA.txt (e.g. etl --with lake); repeatable")
    args = p.parse_args(argv)
    extra: dict[str, Path] = {}
    for spec in args.add_file:
        arcname, sep, path = spec.partition("=")
        if not sep or not arcname or not Path(path).is_file():
            p.error(f"--add-file {spec!r}: give ARCNAME=PATH with an existing file")
        extra[arcname] = Path(path)
    result = build(args.name, args.output_dir.resolve(), args.cache_dir.resolve(), args.lambdas_dir.resolve(),
                   extra, args.extras)
    print(json.dumps(result) if args.json else f"{result['sha256']}  {result['zip']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
