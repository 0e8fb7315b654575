"""`make up` on a fresh machine, phase by phase: this checkout against a baseline commit, as a newcomer runs it.

Each side is a fresh clone (`git clone` of this repository, checked out at the side's commit: no build cache, no
venv), a fresh venv of its own (the Makefile's VENV and CLICKSTREAM_VENV, an empty pip cache) and a platform of its
own (scripts/harness/local_platform.py: a copy of the clone's local inventory with its own PostgreSQL clusters,
ports, run, log and state directories, and its own moto server on a free port that site.yml starts), so a
`make up` platform on this machine is never touched. The bench runs `make up VENV=...` in the clone exactly as the
README says, with ANSIBLE_INVENTORY, AWS_ENDPOINT_URL and the CLICKSTREAM_* variables pointing at that platform.

Phases are cut at the lines `make up` prints: bootstrap (its `[bootstrap]` lines: Debian packages, venv, pip),
then scripts/up.sh's steps (`==> [1/4]` site.yml, `[2/4]` demo traffic, `[3/4]` ETL, `[4/4]` summary). At each
line the bench samples the wall clock, the 1-minute load average and CPU seconds: every process under `make` (with
the children each has reaped), plus the platform's own services, which site.yml starts as daemons outside that
tree (the emulator, ingest endpoint, ETL scheduler, Shiny, backup loops: the pid files of the platform's run
directory; the PostgreSQL clusters: their postmasters), each with its whole process tree. CPU seconds move much
less with the other engineers' load than wall seconds.

The Debian packages are installed on this machine and shared: their cost on a fresh Debian 12 is estimated apart
(`apt_estimate`): the packages scripts/bootstrap.sh installs are resolved against a dpkg status holding only
Debian 12's required and important packages (a minimal installation), downloaded into a temporary cache
(`apt-get --download-only`: download seconds and bytes), and unpacked into a temporary directory (`dpkg-deb -x`:
a lower bound of the install's unpack time; maintainer scripts do not run).

Usage: python bench/makeup/bench_makeup.py [--sides new,old] [--keep] [--no-apt]
    (or python bench/run_all.py --only makeup). BENCH_MAKEUP_BASELINE: the baseline commit (default eb02063).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.harness.local_platform import Platform  # noqa: E402
from scripts.harness.net import free_port  # noqa: E402

BASELINE = os.environ.get("BENCH_MAKEUP_BASELINE", "eb02063")
TARGET_S = 600
RESULTS = REPO / "bench/results"
# The lines that open each phase, in order, and the phase they open.
MARKERS = [
    (re.compile(r"\[bootstrap\] (installing \d+ Debian packages|Debian packages already installed)"), "bootstrap: apt"),
    (re.compile(r"\[bootstrap\] creating venv"), "bootstrap: venv"),
    (re.compile(r"\[bootstrap\] (installing Python requirements|Python requirements )"), "bootstrap: pip"),
    (re.compile(r"==> \[1/4\]"), "site.yml"),
    (re.compile(r"==> \[2/4\]"), "demo traffic"),
    (re.compile(r"==> \[3/4\]"), "ETL"),
    (re.compile(r"==> \[4/4\]"), "summary"),
]
CLK = os.sysconf("SC_CLK_TCK")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _procs() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process and the children it has reaped) of every process now."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            f = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(entry.name)] = (int(f[1]), sum(int(x) for x in f[11:15]) / CLK)
    return out


def tree_cpu(roots: set[int], procs: dict[int, tuple[int, float]]) -> float:
    """CPU seconds of the processes under ``roots`` (roots included), each with the children it has reaped."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo, total = set(), [r for r in roots if r in procs], 0.0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += procs[pid][1]
        todo.extend(kids.get(pid, []))
    return total


def service_pids(platform: Platform) -> set[int]:
    """The platform's daemons: the pid files of its run directory and the postmasters of its clusters."""
    pids = set()
    for pidfile in list((platform.root / "run").glob("*.pid")) + [
            Path(f"/var/lib/postgresql/15/{name}/postmaster.pid") for name in platform.clusters.values()]:
        try:
            pids.add(int(pidfile.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


class Sampler:
    """Samples (wall, load, CPU under make, CPU of the platform's services) at each phase line."""

    def __init__(self, root_pid: int, platform: Platform) -> None:
        self.root_pid, self.platform = root_pid, platform
        self.t0 = time.monotonic()
        self.services_cpu: dict[int, float] = {}  # last CPU seen of each service (they may exit: make down)
        self.samples: list[tuple[str, float, float, float, float]] = []
        self.make_cpu = 0.0

    def sample(self, label: str) -> None:
        procs = _procs()
        if self.root_pid in procs:
            self.make_cpu = tree_cpu({self.root_pid}, procs)
        for pid in service_pids(self.platform):
            if pid in procs:
                self.services_cpu[pid] = tree_cpu({pid}, procs)
        self.samples.append((label, time.monotonic() - self.t0, os.getloadavg()[0], self.make_cpu,
                             sum(self.services_cpu.values())))


def clone(commit: str, dest: Path) -> Path:
    """A fresh clone of this repository at ``commit`` (what a newcomer has: no build cache, no venv)."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", commit], capture_output=True, text=True,
                            check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", commit], check=True)
    return dest


def make_up(tree: Path, platform: Platform, venv: Path, log: Path, moto_port: int) -> dict:
    """Run `make up` in ``tree`` for ``platform``; the phases' wall and CPU seconds and load averages."""
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if "clickstream-analytics/venv" not in p)
    env = {**os.environ, "PATH": path, "VENV": str(venv), "CLICKSTREAM_VENV": str(venv),
           "PIP_CACHE_DIR": str(platform.root / "pip-cache"), "ANSIBLE_INVENTORY": str(platform.inventory),
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
           "CLICKSTREAM_STATE_DIR": str(platform.root / "state"), "CLICKSTREAM_RUN_DIR": str(platform.root / "run"),
           "CLICKSTREAM_INGEST_URL": platform.ingest_url, "CLICKSTREAM_DW_PORT": str(platform.ports["dw"]),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           # each line as it is written (a pipe would buffer ansible's output): the log's times are the plays'
           "PYTHONUNBUFFERED": "1"}
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "ANSIBLE_CONFIG", "CLICKSTREAM_ETL_ENV_FILE"):
        env.pop(key, None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("w") as out:
        proc = subprocess.Popen(["make", "up", f"VENV={venv}"], cwd=tree, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
        sampler = Sampler(proc.pid, platform)
        sampler.sample("bootstrap: package check")
        pending = list(MARKERS)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(f"[{time.monotonic() - sampler.t0:8.1f}] {line}")
            out.flush()
            plain = ANSI.sub("", line)
            for i, (rx, label) in enumerate(pending):
                if rx.search(plain):
                    sampler.sample(label)
                    del pending[: i + 1]
                    break
        rc = proc.wait()
        # make has exited and been reaped: its CPU with every child it waited for (the last phase's included,
        # which no sample of the live tree saw) is this process's children's CPU since it started.
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.make_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        sampler.sample("end")
    phases = []
    for (label, t, load, mcpu, scpu), (_, t2, load2, mcpu2, scpu2) in zip(sampler.samples[:-1],
                                                                          sampler.samples[1:], strict=True):
        phases.append({"phase": label, "wall_s": round(t2 - t, 1), "cpu_s": round(mcpu2 - mcpu + scpu2 - scpu, 1),
                       "cpu_make_s": round(mcpu2 - mcpu, 1), "cpu_services_s": round(scpu2 - scpu, 1),
                       "load_start": round(load, 2), "load_end": round(load2, 2)})
    total_wall = sampler.samples[-1][1]
    recap = re.findall(r"changed=(\d+)", log.read_text())
    return {"rc": rc, "wall_s": round(total_wall, 1),
            "cpu_s": round(sampler.samples[-1][3] + sampler.samples[-1][4], 1), "phases": phases,
            "site_changed": [int(c) for c in recap], "log": str(log)}


_LOG_LINE = re.compile(r"^\[\s*([0-9.]+)\] (.*)$")


def plays(log: Path) -> list[tuple[str, float]]:
    """(play, seconds) of site.yml in a `make up` log: from each PLAY line to the next one (the last: to up.sh's
    next step)."""
    out: list[tuple[str, float]] = []
    inside, last = False, None
    for raw in log.read_text().splitlines():
        m = _LOG_LINE.match(raw)
        if not m:
            continue
        t, text = float(m.group(1)), m.group(2)
        if "==> [1/4]" in text:
            inside, last = True, ("(start-up: before the first play)", t)
        elif inside and ("==> [2/4]" in text or text.startswith("PLAY [")):
            if last is not None:
                out.append((last[0], round(t - last[1], 1)))
            last = (text[6:].split("]")[0], t) if text.startswith("PLAY [") else None
            if "==> [2/4]" in text:
                break
    return out


def run_side(commit: str, label: str, keep: bool = False, again: bool = False) -> dict:
    """Clone ``commit``, run `make up` on a platform of its own (and once more with ``again``), tear it down."""
    root = Path(tempfile.mkdtemp(prefix=f"clickstream-makeup-{label}-", dir="/var/tmp"))
    root.chmod(0o755)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tree = clone(commit, root / "src")
    platform = Platform(root, repo=tree)
    rev = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    try:
        result = make_up(tree, platform, root / "venv", RESULTS / f"makeup-{label}.log", free_port())
        result["commit"] = rev
        result["plays"] = plays(Path(result["log"]))
        if again and result["rc"] == 0:
            moto = next((platform.root / "run").glob("clickstream-moto-*.pid")).stem.rsplit("-", 1)[1]
            second = make_up(tree, platform, root / "venv", RESULTS / f"makeup-{label}-again.log", int(moto))
            text = Path(second["log"]).read_text()
            second["demo_sent_again"] = "already sent" not in text
            result["again"] = second
        return result
    finally:
        platform.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def bootstrap_packages(commit: str) -> list[str]:
    """The Debian packages scripts/bootstrap.sh installs at ``commit`` (its APT_PACKAGES)."""
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:scripts/bootstrap.sh"], capture_output=True,
                          text=True, check=True).stdout
    block = re.search(r"APT_PACKAGES=\((.*?)\n\)", text, re.S)
    assert block, "no APT_PACKAGES in scripts/bootstrap.sh"
    return [w for line in block.group(1).splitlines() for w in line.split("#", 1)[0].split()]


def minimal_status(dest: Path) -> int:
    """A dpkg status file holding what a minimal Debian 12 has: the essential, required and important packages of
    this machine's status and what they depend on; the number of packages in it."""
    by = {}
    for para in Path("/var/lib/dpkg/status").read_text().split("\n\n"):
        m = re.search(r"^Package: (\S+)$", para, re.M)
        if m:
            by[m.group(1)] = para

    def deps(para: str) -> list[str]:
        out = []
        for m in re.finditer(r"^(?:Pre-)?Depends: (.*)$", para, re.M):
            for alt in m.group(1).split(","):
                names = [n.strip().split()[0].split(":")[0] for n in alt.split("|")]
                out += [n for n in names if n in by][:1]
        return out

    todo = [n for n, p in by.items() if re.search(r"^(Essential: yes|Priority: (required|important))$", p, re.M)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += deps(by[name])
    dest.write_text("\n\n".join(by[n] for n in sorted(seen)) + "\n")
    return len(seen)


def apt_estimate(commits: dict[str, str]) -> dict:
    """What each side's scripts/bootstrap.sh apt-get install costs on a minimal Debian 12 (see the module's
    docstring): packages and bytes to download, download seconds (the union downloaded once, each side's share by
    bytes) and unpack seconds (each side's .debs unpacked with dpkg-deb -x; maintainer scripts do not run)."""
    work = Path(tempfile.mkdtemp(prefix="clickstream-apt-", dir="/var/tmp"))
    try:
        base = minimal_status(work / "status")
        (work / "archives/partial").mkdir(parents=True)
        opts = ["-o", f"Dir::State::status={work / 'status'}", "-o", f"Dir::Cache::archives={work / 'archives'}",
                "-o", "Debug::NoLocking=1"]
        lists = {side: bootstrap_packages(commit) for side, commit in commits.items()}
        debs: dict[str, dict[str, int]] = {}
        for side, pkgs in lists.items():
            uris = subprocess.run(["apt-get", *opts, "install", "-y", "--no-install-recommends", "--print-uris",
                                   *pkgs], capture_output=True, text=True, check=True).stdout
            debs[side] = {line.split()[1]: int(line.split()[2]) for line in uris.splitlines() if line.startswith("'")}
        union = sorted({p for pkgs in lists.values() for p in pkgs})
        total = sum({k: v for d in debs.values() for k, v in d.items()}.values())
        t0 = time.monotonic()
        subprocess.run(["apt-get", *opts, "install", "-y", "-qq", "--no-install-recommends", "--download-only",
                        *union], capture_output=True, text=True, check=True)
        download_s = time.monotonic() - t0
        unpack_s: dict[str, float] = {}
        for deb in sorted((work / "archives").glob("*.deb")):
            root = work / "root"
            t0 = time.monotonic()
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            unpack_s[deb.name] = time.monotonic() - t0
            shutil.rmtree(root)
        out: dict = {"base_packages": base, "download_s_all": round(download_s, 1), "download_bytes_all": total}
        for side, files in debs.items():
            size = sum(files.values())
            out[side] = {"packages": len(files), "download_bytes": size,
                         "download_s": round(download_s * size / total, 1),
                         "unpack_s": round(sum(unpack_s.get(f, 0.0) for f in files), 1)}
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows(result: dict) -> list[dict]:
    out: list[dict] = []
    sides = result["sides"]
    new, old = sides.get("new"), sides.get("old")
    apt = result.get("apt")
    for ph in (new or old)["phases"] if new or old else []:
        name = ph["phase"]
        n = next((p for p in new["phases"] if p["phase"] == name), None) if new else None
        o = next((p for p in old["phases"] if p["phase"] == name), None) if old else None
        for kind, unit in (("wall_s", "s"), ("cpu_s", "CPU s")):
            value = n[kind] if n else None
            base = o[kind] if o else None
            out.append({"metric": f"{name}: {'wall' if kind == 'wall_s' else 'CPU'}", "value": value, "unit": unit,
                        "baseline": f"{old['commit']}, fresh clone" if o else "",
                        "baseline_value": base,
                        "ratio": value / base if value is not None and base else None})
    for kind, unit in (("wall_s", "s"), ("cpu_s", "CPU s")) if new or old else ():
        value = new[kind] if new else None
        base = old[kind] if old else None
        total = {"metric": f"make up, whole: {'wall' if kind == 'wall_s' else 'CPU'}", "value": value, "unit": unit,
                 "baseline": f"{old['commit']}, fresh clone" if old else "", "baseline_value": base,
                 "ratio": value / base if value is not None and base else None}
        if kind == "wall_s" and value is not None:
            total.update(target=f"< {TARGET_S} s", met=value < TARGET_S)
        out.append(total)
    if apt:
        for kind, label in (("download_s", "download"), ("unpack_s", "unpack")):
            n, o = apt.get("new"), apt.get("old")
            out.append({"metric": f"apt on a minimal Debian 12 (estimate): {label}",
                        "value": n[kind] if n else None, "unit": "s",
                        "baseline": f"{BASELINE}'s package list" if o else "", "baseline_value": o[kind] if o else None,
                        "ratio": n[kind] / o[kind] if n and o and o[kind] else None})
        if new and apt.get("new"):
            est = new["wall_s"] + apt["new"]["download_s"] + apt["new"]["unpack_s"]
            base = old["wall_s"] + apt["old"]["download_s"] + apt["old"]["unpack_s"] if old and apt.get("old") else None
            out.append({"metric": "make up with the apt estimate (download + unpack) on a fresh Debian 12",
                        "value": est, "unit": "s", "baseline": f"{BASELINE}, same estimate" if base else "",
                        "baseline_value": base, "ratio": est / base if base else None,
                        "target": f"< {TARGET_S} s", "met": est < TARGET_S})
    return out


def run(quick: bool = False, sides: tuple[str, ...] = ("old", "new"), keep: bool = False, apt: bool = True,
        again: bool = True) -> dict:
    """Measure (apt estimate, then each side in turn) and return the BENCHMARKS.md section. Each part's record is
    also saved as bench/results/makeup-<part>.json (--from-records builds the section from them again)."""
    result: dict = {"sides": {}, "baseline": BASELINE}
    RESULTS.mkdir(parents=True, exist_ok=True)
    if apt:
        result["apt"] = apt_estimate({"old": BASELINE, "new": "HEAD"})
        save("apt", result["apt"])
    for side in sides:
        commit = BASELINE if side == "old" else "HEAD"
        result["sides"][side] = run_side(commit, side, keep=keep, again=again and side == "new")
        save(side, result["sides"][side])
    return section(result)


def save(part: str, record: dict) -> None:
    record["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (RESULTS / f"makeup-{part}.json").write_text(json.dumps(record, indent=2))


def from_records() -> dict:
    """The result of the records saved by earlier runs (bench/results/makeup-{apt,old,new}.json)."""
    result: dict = {"sides": {}, "baseline": BASELINE}
    for part in ("apt", "old", "new"):
        path = RESULTS / f"makeup-{part}.json"
        if path.exists():
            record = json.loads(path.read_text())
            if part == "apt":
                result["apt"] = record
            else:
                result["sides"][part] = record
    return result


def section(result: dict) -> dict:
    notes = []
    for side, r in result.get("sides", {}).items():
        loads = [p["load_start"] for p in r["phases"] if p["load_start"] is not None] + [r["phases"][-1]["load_end"]]
        notes.append(f"{side} ({r['commit']}, measured {str(r.get('measured', '?'))[:10]}): rc {r['rc']}, "
                     f"{r['wall_s']} s, {r['cpu_s']} CPU s; 1-minute load "
                     f"average at the phase lines {', '.join(f'{x:.1f}' for x in loads)}; site.yml changed= "
                     f"{r['site_changed']}")
        if r.get("note"):
            notes.append(f"{side}: {r['note']}")
        if "again" in r:
            a = r["again"]
            notes.append(f"{side}, `make up` once more: rc {a['rc']}, {a['wall_s']} s, site.yml changed="
                         f"{a['site_changed']}, demo sent again: {a['demo_sent_again']}")
    apt = result.get("apt")
    if apt:
        notes.append(f"apt, estimated: a minimal Debian 12 ({apt['base_packages']} packages: this machine's essential, "
                     "required and important ones with their dependencies, as a dpkg status file); "
                     + "; ".join(f"{side}: {a['packages']} packages, {a['download_bytes'] / 1e6:.0f} MB to download "
                                 f"({a['download_s']} s), unpacked in {a['unpack_s']} s"
                                 for side, a in apt.items() if isinstance(a, dict))
                     + f". Download: the union ({apt['download_bytes_all'] / 1e6:.0f} MB) fetched once from the "
                     f"Debian mirror in {apt['download_s_all']} s, shared by bytes; unpack: dpkg-deb -x of each "
                     "side's .debs (a lower bound: maintainer scripts and triggers do not run).")
    table = ["| phase | this code wall s | CPU s (make / services) | baseline wall s | CPU s (make / services) |",
             "|---|---:|---|---:|---|"]
    new, old = result["sides"].get("new"), result["sides"].get("old")
    names = [p["phase"] for p in (new or old)["phases"]] if new or old else []
    for name in names:
        cells = []
        for side in (new, old):
            p = next((p for p in side["phases"] if p["phase"] == name), None) if side else None
            cells += [f"{p['wall_s']}", f"{p['cpu_s']} ({p['cpu_make_s']} / {p['cpu_services_s']})"
                      if p["cpu_s"] is not None else ""] if p else ["", ""]
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    play_names = list(dict.fromkeys(n for side in (new, old) if side for n, _ in side.get("plays", [])))
    if play_names:
        table += ["", "site.yml's plays on the fresh run (from the log's line times):", "",
                  "| play | this code s | baseline s |", "|---|---:|---:|"]
        for name in play_names:
            cells = [next((f"{t}" for n, t in side.get("plays", []) if n == name), "") if side else ""
                     for side in (new, old)]
            table.append(f"| {name} | " + " | ".join(cells) + " |")
    return {"title": "make up on a fresh machine, phase by phase", "rows": rows(result),
            "markdown": "\n".join(table), "notes": notes, "raw": result}


def write_section(out: dict, path: Path = REPO / "BENCHMARKS.md") -> None:
    """Replace (or add) the makeup section of BENCHMARKS.md, as bench/run_all.py writes sections."""
    sys.path.insert(0, str(REPO / "bench"))
    import run_all

    m = run_all.machine()
    measured = sorted(r.get("measured", "?") for r in [*out["raw"]["sides"].values(), out["raw"].get("apt") or {}]
                      if r)
    # the "Measured by `python bench/run_all.py" opening every section has (tests/bench/test_run_all.py); days only,
    # no times of day
    provenance = (f"Measured by `python bench/run_all.py --only makeup`'s script run on its own "
                  f"(`python bench/makeup/bench_makeup.py`; each part saved as it finished, the section written by "
                  f"`--from-records --write`), {str(measured[0])[:10]} to {str(measured[-1])[:10]}, code at "
                  f"{run_all.commit()}, on {m['cpu']} ({m['cores']} cores, {m['memory']}).")
    text = run_all.section(out, "makeup", provenance)
    kept = run_all.kept_sections(path)
    body = path.read_text(encoding="utf-8")
    if "makeup" in kept:
        body = body.replace(kept["makeup"], text.rstrip() + "\n\n" if not kept["makeup"].endswith("\n\n") else text)
    else:
        body = body.rstrip("\n") + "\n\n" + text
    path.write_text(body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sides", default="old,new")
    ap.add_argument("--keep", action="store_true", help="keep each side's directory under /var/tmp")
    ap.add_argument("--no-apt", action="store_true")
    ap.add_argument("--no-again", action="store_true", help="skip the second `make up` of this code")
    ap.add_argument("--from-records", action="store_true", help="no measuring: the section from the saved records")
    ap.add_argument("--write", action="store_true", help="with --from-records: put the section into BENCHMARKS.md")
    args = ap.parse_args(argv)
    if args.from_records:
        out = section(from_records())
        print(out["markdown"])
        print("\n".join(out["notes"]))
        if args.write:
            write_section(out)
        return 0
    out = run(sides=tuple(s for s in args.sides.split(",") if s), keep=args.keep, apt=not args.no_apt,
              again=not args.no_again)
    print(json.dumps(out["raw"], indent=2))
    print("\n".join(out["notes"]))
    print(out["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
