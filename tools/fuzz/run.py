"""Build, seed and run the libFuzzer targets; replay regressions; measure coverage.

    python tools/fuzz/run.py [--seconds N | --runs N] [--targets fuzz_load,...] [--cov]
    python tools/fuzz/run.py --replay          # only the regression inputs

Every fuzzer runs under `nice -n 19`, one at a time, for a bounded time or
number of executions (the machine is shared).  Corpora persist in
build/fuzz/corpus/<target>/ (so long runs build on each other), seeds are
made by tools/fuzz/seeds.py into build/fuzz/seeds/, crashes land in
build/fuzz/artifacts/<target>/.  Any crash, or a regression input that fails
again, makes the exit status 1.  With --cov the coverage build replays each
corpus and llvm-cov reports line/branch coverage of the vm_kernel/ files;
--json writes every figure to a file (docs/robustness.md quotes them).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "build" / "fuzz"
REGRESSIONS = ROOT / "tests" / "fuzz" / "regressions"
TARGETS = ("fuzz_load", "fuzz_table", "fuzz_weights", "fuzz_ioctl")
SEED_DIR = {"fuzz_load": "load", "fuzz_table": "table", "fuzz_weights": "weights",
            "fuzz_ioctl": "ioctl"}
# Per-target libFuzzer options: inputs carry whole objects and weight blobs.
OPTIONS = {"fuzz_load": ["-max_len=131072"], "fuzz_table": ["-max_len=4096"],
           "fuzz_weights": ["-max_len=300000"], "fuzz_ioctl": ["-max_len=65536"]}
COMMON = ["-timeout=20", "-rss_limit_mb=3072", "-print_final_stats=1", "-detect_leaks=1"]


@dataclass
class RunStats:
    target: str
    executions: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    edges: int = 0                 # libFuzzer's `cov:` (instrumented edges reached)
    features: int = 0
    corpus: int = 0
    crashed: bool = False
    crash_files: list[str] = field(default_factory=list)
    tail: str = ""


def tool(name: str) -> str:
    """clang/llvm tools: the -14 names Debian 12 installs, else the unversioned ones."""
    for cand in (f"{name}-14", name):
        if shutil.which(cand):
            return cand
    raise FileNotFoundError(f"{name} not found: run tools/fuzz/setup.sh")


def setup() -> None:
    """Install clang/libFuzzer if missing (root) - raises when impossible."""
    subprocess.run(["bash", str(HERE / "setup.sh")], check=True, stdout=subprocess.DEVNULL)


def build(cov: bool = False) -> None:
    """make the targets (under a file lock: parallel test workers build once)."""
    import fcntl
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = ["nice", "-n", "19", "make", "-s", "-j2", "-C", str(HERE), f"OUT={OUT}"]
    with open(OUT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(cmd + (["cov"] if cov else []), check=True)


def seeds(out: Path = OUT / "seeds", force: bool = False) -> Path:
    """The seed corpora: made again when seeds.py changed (or --reseed), else reused."""
    import hashlib
    stamp = hashlib.sha256((HERE / "seeds.py").read_bytes()).hexdigest()[:16]
    import fcntl
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / ".seeds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists() and (force or not (out / f".stamp-{stamp}").exists()):
            shutil.rmtree(out)
        if not (out / "load").is_dir():
            subprocess.run(["nice", "-n", "19", sys.executable, str(HERE / "seeds.py"), str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            (out / f".stamp-{stamp}").touch()
    return out


def _stat(text: str, key: str) -> int:
    m = re.search(rf"stat::{key}:\s+(\d+)", text)
    return int(m.group(1)) if m else 0


def fuzz(target: str, seconds: int | None = None, runs: int | None = None,
         corpus: Path | None = None, seed_dir: Path | None = None,
         extra: list[str] | None = None) -> RunStats:
    """One bounded libFuzzer run of target from its corpus (+ seeds)."""
    corpus = corpus or OUT / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    art = OUT / "artifacts" / target
    art.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(art))
    bound = [f"-max_total_time={seconds}"] if seconds else []
    bound += [f"-runs={runs}"] if runs else []
    cmd = ["nice", "-n", "19", str(OUT / target), *COMMON, *OPTIONS[target], *bound,
           f"-artifact_prefix={art}/", *(extra or []), str(corpus)]
    if seed_dir is not None:
        cmd.append(str(seed_dir / SEED_DIR[target]))
    t0, r0 = time.monotonic(), os.times()
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          timeout=(seconds or 600) + 300)
    r1 = os.times()
    log = proc.stderr
    st = RunStats(target, executions=_stat(log, "number_of_executed_units"),
                  cpu_seconds=round(r1.children_user - r0.children_user
                                    + r1.children_system - r0.children_system, 1),
                  wall_seconds=round(time.monotonic() - t0, 1))
    done = re.findall(r"(?:DONE|pulse|NEW|REDUCE|INITED)\s+cov: (\d+) ft: (\d+) corp: (\d+)", log)
    if done:
        st.edges, st.features, st.corpus = (int(x) for x in done[-1])
    # slow-unit-* files are only reports (-report_slow_units); the rest are failures.
    st.crash_files = sorted(str(art / f) for f in set(os.listdir(art)) - before
                            if f.startswith(("crash-", "leak-", "timeout-", "oom-")))
    st.crashed = proc.returncode != 0 or bool(st.crash_files)
    if st.crashed:
        st.tail = "\n".join(log.splitlines()[-40:])
    return st


HISTORY = OUT / "history.jsonl"


def record(st: RunStats) -> None:
    """Append a run to build/fuzz/history.jsonl (the totals docs/robustness.md quotes)."""
    HISTORY.parent.mkdir(parents=True, exist_ok=True)
    with HISTORY.open("a") as f:
        f.write(json.dumps({k: v for k, v in asdict(st).items() if k != "tail"}) + "\n")


def totals() -> dict[str, dict]:
    """Executions, CPU seconds and runs per target over every recorded run."""
    out: dict[str, dict] = {}
    if HISTORY.exists():
        for line in HISTORY.read_text().splitlines():
            r = json.loads(line)
            t = out.setdefault(r["target"], {"runs": 0, "executions": 0, "cpu_seconds": 0.0,
                                             "crashes": 0, "edges": 0})
            t["runs"] += 1
            t["executions"] += r["executions"]
            t["cpu_seconds"] = round(t["cpu_seconds"] + r["cpu_seconds"], 1)
            t["crashes"] += bool(r["crashed"])
            t["edges"] = max(t["edges"], r["edges"])
    return out


def replay(target: str) -> list[tuple[str, str]]:
    """Run every regression input of target once; (file, log tail) for each that fails."""
    d = REGRESSIONS / target
    files = sorted(p for p in d.glob("*") if p.is_file() and p.suffix != ".md") if d.is_dir() else []
    bad = []
    for f in files:
        proc = subprocess.run(["nice", "-n", "19", str(OUT / target), *OPTIONS[target],
                               "-runs=1", str(f)], capture_output=True, text=True,
                              errors="replace", timeout=120)
        if proc.returncode != 0:
            bad.append((str(f), "\n".join(proc.stderr.splitlines()[-30:])))
    return bad


def coverage(targets: tuple[str, ...] = TARGETS) -> dict:
    """Replay each corpus (and the seeds) in the coverage build; llvm-cov totals per VM file."""
    build(cov=True)
    prof = OUT / "cov" / "profiles"
    shutil.rmtree(prof, ignore_errors=True)
    prof.mkdir(parents=True)
    for t in targets:
        dirs = [str(OUT / "corpus" / t), str(OUT / "seeds" / SEED_DIR[t])]
        env = dict(os.environ, LLVM_PROFILE_FILE=str(prof / f"{t}.profraw"))
        subprocess.run(["nice", "-n", "19", str(OUT / "cov" / t), *OPTIONS[t], "-runs=0",
                        "-timeout=60", *[d for d in dirs if Path(d).is_dir()]], env=env,
                       capture_output=True, check=False)
    data = prof / "all.profdata"
    subprocess.run([tool("llvm-profdata"), "merge", "-sparse", "-o", str(data),
                    *map(str, sorted(prof.glob("*.profraw")))], check=True)
    objs = [str(OUT / "cov" / t) for t in targets]
    cmd = [tool("llvm-cov"), "export", "-summary-only", f"-instr-profile={data}", objs[0],
           *[a for o in objs[1:] for a in ("-object", o)]]
    js = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    files = {}
    for f in js["data"][0]["files"]:
        name = Path(f["filename"])
        if name.parent.parent.name != "vm_kernel" or name.suffix != ".c":  # core/, kmod/
            continue
        s = f["summary"]
        files[name.name] = {k: {"covered": s[k]["covered"], "count": s[k]["count"]}
                            for k in ("lines", "branches", "functions", "regions")}
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, help="run each target this long")
    ap.add_argument("--runs", type=int, help="run each target this many executions")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--cov", action="store_true", help="then measure coverage with llvm-cov")
    ap.add_argument("--replay", action="store_true", help="only replay the regression inputs")
    ap.add_argument("--reseed", action="store_true", help="make the seed corpora again")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    a = ap.parse_args(argv)
    targets = tuple(t for t in a.targets.split(",") if t)
    setup()
    build()
    failed = False
    for t in targets:
        for f, tail in replay(t):
            failed = True
            print(f"REGRESSION {t} {f} fails again:\n{tail}")
    report: dict = {"runs": []}
    if not a.replay:
        seed_dir = seeds(force=a.reseed)
        for t in targets:
            st = fuzz(t, seconds=a.seconds or (None if a.runs else 60), runs=a.runs,
                      seed_dir=seed_dir)
            report["runs"].append(asdict(st))
            record(st)
            print(f"{t}: {st.executions} executions, {st.cpu_seconds} s CPU, "
                  f"{st.edges} edges, corpus {st.corpus}" + (" CRASH" if st.crashed else ""))
            if st.crashed:
                failed = True
                print(st.tail)
                print("  inputs:", *st.crash_files)
    if a.cov:
        report["coverage"] = coverage(targets)
        for name, c in sorted(report["coverage"].items()):
            ln, br = c["lines"], c["branches"]
            print(f"  {name:16} lines {ln['covered']}/{ln['count']}"
                  f" ({100 * ln['covered'] / max(ln['count'], 1):.1f}%)"
                  f"  branches {br['covered']}/{br['count']}"
                  f" ({100 * br['covered'] / max(br['count'], 1):.1f}%)")
    report["totals"] = totals()
    for t, tot in report["totals"].items():
        print(f"total {t}: {tot['executions']} executions in {tot['runs']} runs, "
              f"{tot['cpu_seconds']} s CPU, {tot['crashes']} crashed")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
