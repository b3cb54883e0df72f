"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_hooks.py).

    python guest_hooks.py FILES OUT PHASE...

Phases (each writes OUT/<phase>.json; the host test asserts on them):
  sched    forced_migration.rmt (shadow mode, no weights: its model calls abort) attached to
           sched.can_migrate_task under stress-ng; then weights loaded and table entries
           added and modified while the load runs; traces drained; then an enforce-mode
           program that always says ALLOW replaces it: overrides and hard-constraint wins.
  swap     zram swap + a memory hog in a memory cgroup: mm.swap_fault fires; an enforce
           program (window 1) and the counters; vmstat deltas.
  overhead the same stress-ng workload with no probe, an empty probe and a program attached,
           interleaved, in this boot: wall times and ratios.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import KernelEngine, RmtDevice

ALLOW_SRC = """
hook sched.can_migrate_task;
mode enforce;
apply { decide(ALLOW); }
"""

NO_RA_SRC = """
hook mm.swap_fault;
mode enforce;
apply { decide(0); }
"""

HOG = r'''
import mmap, random, sys
mb = int(sys.argv[1]); page = 4096; size = mb << 20
buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for off in range(0, size, page):
    buf[off:off + 8] = off.to_bytes(8, "little")
s = 0
for _ in range(2):
    for off in range(0, size, page):
        s += buf[off]
idx = list(range(0, size, page)); random.Random(1).shuffle(idx)
for off in idx:
    s += buf[off]
print("hog done", mb, "MiB")
'''


def compile_blob(src: str, name: str) -> bytes:
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    return objfile.write(compile_source(src, name))


# Load balancing under TCG on 2 vCPUs calls can_migrate_task only ~20-60 times a second with
# plain CPU hogs (docs/kernel-harness.md).  Tasks pinned to CPU 0 keep CPU 1's balancer
# scanning CPU 0's queue (each scan: one call per task, refused by affinity: hard vetoes);
# yielding hogs add the soft decisions (cache-hot tasks, balance failures).
SCHED_LOAD = os.environ.get(
    "RMT_SCHED_LOAD",
    "taskset -c 0 stress-ng --cpu 12 --timeout {t}s --quiet & "
    "stress-ng --cpu 3 --yield 2 --timeout {t}s --quiet; wait")


# The calls a load phase must give the sched hook (the host test's floor, passed in the
# environment).  A phase runs its load for its usual time and then on until the hook has
# counted that many calls, at most MAX_LOAD_S: a count, not a duration, because TCG's speed
# follows the host's load.
SCHED_HITS = int(os.environ.get("RMT_SCHED_HITS", "0"))
# Runs past the hard constraints a phase needs before it ends (the host test asserts on them).
SOFT_RUNS = 5
MAX_LOAD_S = 90
BURST_S = 4


def stress(seconds: float) -> subprocess.Popen:
    """The scheduler load for `seconds` (stress-ng refuses a read-only cwd: run in /tmp), in
    a session of its own so that `stop()` can end all of it early."""
    return subprocess.Popen(["sh", "-c", SCHED_LOAD.format(t=seconds)], cwd="/tmp",
                            stdout=subprocess.DEVNULL, start_new_session=True)


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
    p.wait()


def _soft(st: dict) -> int:
    """Runs that got past the hard constraints (they reach the program's table and model)."""
    return st["runs"] - st["hard_veto"]


def stress_until(dev: RmtDevice, hook: int, seconds: float, hits: int, soft: int = 0) -> float:
    """The load for `seconds`, then on until `hook` has counted `hits` calls and `soft` more
    runs past the hard constraints (at most MAX_LOAD_S in all); returns how long it ran.

    Soft candidates come mostly from the balancing of newly started hogs; once the load has
    settled, a scan may find only running or pinned tasks for a long while (seen: 901 of 901
    calls hard-vetoed in 8 s).  So while soft runs are missing the load is restarted, a fresh
    burst every BURST_S, instead of waiting on a settled one."""
    t0 = time.monotonic()
    soft0 = _soft(hook_stats(dev, hook))
    p = stress(MAX_LOAD_S)
    started = t0
    while True:
        time.sleep(0.5)
        now = time.monotonic()
        st = hook_stats(dev, hook)
        if now - t0 >= seconds and st["hits"] >= hits and _soft(st) - soft0 >= soft:
            break
        if now - t0 >= MAX_LOAD_S:
            break
        if p.poll() is not None or (st["hits"] >= hits and now - started >= BURST_S):
            stop(p)
            p = stress(MAX_LOAD_S)
            started = now
    stop(p)
    return round(time.monotonic() - t0, 1)


def hook_stats(dev: RmtDevice, hook: int) -> dict:
    return H.stats(dev, hook).to_json()


def vm_stats(eng: KernelEngine) -> dict:
    s = eng.stats()
    return {"runs": s.runs, "aborts": dict(s.aborts) if isinstance(s.aborts, dict) else
            list(s.aborts), "shadow_agree": s.shadow_agree,
            "shadow_disagree": s.shadow_disagree,
            "decisions": {str(k): v for k, v in dict(s.decisions).items()}}


def phase_sched(dev: RmtDevice, files: Path, out: Path, btf: Btf) -> dict:
    from rmt.contract.engine import Entry, Exact, Range
    res: dict = {}
    fm = KernelEngine.load(dev, (files / "forced_migration.rmtb").read_bytes())
    H.attach(dev, H.HOOK_SCHED, fm.id, btf=btf)
    res["attached"] = hook_stats(dev, H.HOOK_SCHED)

    # 1. shadow mode, no weights yet: every predict() aborts (MODEL_MISSING)
    res["load_s"] = [stress_until(dev, H.HOOK_SCHED, 8, SCHED_HITS, soft=SOFT_RUNS)]
    res["shadow_noweights"] = hook_stats(dev, H.HOOK_SCHED)
    res["vm_noweights"] = vm_stats(fm)

    # 2. while the load runs: weights in, table entries in and modified, a model swapped
    p = stress(9)
    time.sleep(1.5)
    res["before_updates"] = hook_stats(dev, H.HOOK_SCHED)
    v1 = fm.model_load(0, (files / "pred.bin").read_bytes())
    fm.model_load(1, (files / "tree_fm.bin").read_bytes())
    fm.table_insert(0, Entry((Exact(2), Range(0, 1000)), 1, b""))       # idle 2: allow
    fm.table_insert(0, Entry((Exact(1), Range(0, 1023)), 0, b"\x00" + bytes(7)))
    # idle balancing (env->idle == CPU_IDLE) is most of the traffic with hogs pinned to CPU 0
    fm.table_insert(0, Entry((Exact(0), Range(0, 1023)), 0, b"\x00" + bytes(7)))
    time.sleep(1.5)
    res["after_weights"] = hook_stats(dev, H.HOOK_SCHED)
    fm.table_modify(0, Entry((Exact(1), Range(0, 1023)), 0, b"\x01" + bytes(7)))
    v2 = fm.model_load(0, (files / "pred2.bin").read_bytes())
    res["model_versions"] = [v1, v2]
    time.sleep(1.5)
    res["after_swap"] = hook_stats(dev, H.HOOK_SCHED)
    p.wait()
    # the phase's calls (at least the floor again) before the closing burst
    res["load_s"].append(stress_until(dev, H.HOOK_SCHED, 0, 2 * SCHED_HITS))
    # Fresh bursts with everything in place: the balancing of newly started hogs is where
    # the soft (not hard-vetoed) candidates come from, so these calls reach the table, its
    # entries and predict()'s trace.
    res["load_s"].append(stress_until(dev, H.HOOK_SCHED, 4, 0, soft=SOFT_RUNS))
    res["shadow_end"] = hook_stats(dev, H.HOOK_SCHED)
    res["vm_end"] = vm_stats(fm)
    res["shadow_end_after_vm"] = hook_stats(dev, H.HOOK_SCHED)   # bounds vm_end from above
    res["table"] = [(str(e.entry.match), e.entry.action, e.hits) for e in fm.table_entries(0)]
    recs = dev.read_trace(fm.id)
    res["trace_records"] = len(recs)
    with open(out / "sched_trace.jsonl", "w") as f:
        for r in recs[:2000]:
            f.write(json.dumps({"fmt": r.fmt, "cpu": r.cpu, "ts": r.ts,
                                "vals": list(r.vals[:r.nvals])}) + "\n")

    # 3. enforce: ALLOW always; hard constraints must still win
    H.detach(dev, H.HOOK_SCHED)
    res["detached"] = hook_stats(dev, H.HOOK_SCHED)
    allow = KernelEngine.load(dev, compile_blob(ALLOW_SRC, "allow.rmt"))
    H.attach(dev, H.HOOK_SCHED, allow.id, btf=btf)
    res["load_s"].append(stress_until(dev, H.HOOK_SCHED, 6, SCHED_HITS // 4))
    res["enforce"] = hook_stats(dev, H.HOOK_SCHED)
    res["vm_enforce"] = vm_stats(allow)
    # unloading an attached program detaches it first
    allow.unload()
    res["after_unload"] = hook_stats(dev, H.HOOK_SCHED)
    fm.unload()
    return res


def sh(cmd: str) -> str:
    return subprocess.run(["sh", "-c", cmd], check=True, capture_output=True, text=True).stdout


def vmstat() -> dict[str, int]:
    out = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        k, v = line.split()
        if k in ("pswpin", "pswpout", "swap_ra", "swap_ra_hit", "pgmajfault"):
            out[k] = int(v)
    return out


def hog(files: Path, mb: int, limit_mb: int) -> float:
    """Run the hog in a memory cgroup of limit_mb; return its wall time."""
    cg = Path("/sys/fs/cgroup/rmt_hog")
    cg.mkdir(exist_ok=True)
    (cg / "memory.max").write_text(f"{limit_mb}M\n")
    t0 = time.monotonic()
    subprocess.run(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec python3 {files}/hog.py {mb}"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def swap_run(dev: RmtDevice, files: Path, btf: Btf, blob: bytes | None, tag: str,
             res: dict) -> None:
    """The hog under a memory cgroup with program ``blob`` attached (None: no probe)."""
    eng = None
    if blob is not None:
        eng = KernelEngine.load(dev, blob)
        H.attach(dev, H.HOOK_SWAP, eng.id, btf=btf)
    v0 = vmstat()
    res[f"hog_{tag}_s"] = round(hog(files, HOG_MB, LIMIT_MB), 1)
    v1 = vmstat()
    res[f"vmstat_{tag}"] = {k: v1[k] - v0[k] for k in v0}
    if eng is not None:
        res[tag] = hook_stats(dev, H.HOOK_SWAP)
        res[f"vm_{tag}"] = vm_stats(eng)
        res[f"trace_{tag}"] = len(dev.read_trace(eng.id))
        H.detach(dev, H.HOOK_SWAP)
        eng.unload()


HOG_MB, LIMIT_MB = 64, 32


def swap_setup() -> None:
    (Path("/sys/fs/cgroup/cgroup.controllers").exists()
     or sh("mount -t cgroup2 none /sys/fs/cgroup"))
    sh("echo +memory > /sys/fs/cgroup/cgroup.subtree_control || true")


def phase_swap(dev: RmtDevice, files: Path, out: Path, btf: Btf) -> dict:
    """zram: SWP_SYNCHRONOUS_IO, so do_swap_page reads single-mapped pages without readahead:
    the hook fires and decides, the decision is moot (swap_ra stays 0)."""
    res: dict = {}
    (files / "hog.py").write_text(HOG)
    swap_setup()
    sh("modprobe zram num_devices=1 || true; echo 256M > /sys/block/zram0/disksize; "
       "mkswap /dev/zram0 >/dev/null; swapon /dev/zram0")
    res["swaps"] = Path("/proc/swaps").read_text()
    swap_run(dev, files, btf, (files / "swap_prefetch.rmtb").read_bytes(), "prefetch", res)
    shadow = NO_RA_SRC.replace("mode enforce;", "mode shadow;")
    swap_run(dev, files, btf, compile_blob(shadow, "no_ra_shadow.rmt"), "shadow", res)
    sh("swapoff /dev/zram0")
    return res


def phase_swapdisk(dev: RmtDevice, files: Path, out: Path, btf: Btf) -> dict:
    """Swap on a virtio-blk disk declared non-rotational: swap-ins go through
    swapin_readahead() -> VMA readahead, whose window the hook steers."""
    res: dict = {}
    (files / "hog.py").write_text(HOG)
    swap_setup()
    sh("echo 0 > /sys/block/vda/queue/rotational; mkswap /dev/vda >/dev/null; "
       "swapon /dev/vda")
    res["swaps"] = Path("/proc/swaps").read_text()
    swap_run(dev, files, btf, None, "kernel", res)
    swap_run(dev, files, btf, compile_blob(NO_RA_SRC, "no_ra.rmt"), "no_ra", res)
    wide = NO_RA_SRC.replace("apply { decide(0); }", """apply {
    for i in 0..7 { ctx.pf[i] = i as i32 + 1; }
    decide(7);
}""")
    swap_run(dev, files, btf, compile_blob(wide, "fwd8.rmt"), "fwd8", res)
    sh("swapoff /dev/vda")
    return res


OVERHEAD_LOAD = ("taskset -c 0 stress-ng --cpu 12 --timeout {t}s --metrics-brief & "
                 "stress-ng --cpu 3 --yield 2 --timeout {t}s --metrics-brief; wait")
_METRIC = re.compile(r"stress-ng: (?:info|metrc): +\[\d+\] +(cpu|yield) +(\d+)")


def bogo_ops(seconds: int) -> int:
    """The work the scheduler load got done in `seconds`: bogo ops of both stress-ng runs."""
    p = subprocess.run(["sh", "-c", OVERHEAD_LOAD.format(t=seconds)], cwd="/tmp",
                       capture_output=True, text=True, check=True)
    return sum(int(m.group(2)) for m in _METRIC.finditer(p.stdout + p.stderr))


def phase_overhead(dev: RmtDevice, files: Path, out: Path, btf: Btf) -> dict:
    """The same fixed-time load with no probe, an empty probe and forced_migration.rmt
    (weights loaded, shadow mode), in interleaved rounds of one boot; the figure is the work
    done (bogo ops) relative to no probe."""
    rounds = int(os.environ.get("RMT_OVERHEAD_ROUNDS", "4"))
    secs = int(os.environ.get("RMT_OVERHEAD_SECONDS", "8"))
    fm = KernelEngine.load(dev, (files / "forced_migration.rmtb").read_bytes())
    fm.model_load(0, (files / "pred.bin").read_bytes())
    fm.model_load(1, (files / "tree_fm.bin").read_bytes())
    ops: dict[str, list[int]] = {"none": [], "empty": [], "program": []}
    hits: dict[str, list[int]] = {"empty": [], "program": []}
    ns_per_run: list[float] = []
    for _ in range(rounds):
        for conf in ("none", "empty", "program"):
            if conf == "empty":
                H.attach(dev, H.HOOK_SCHED, 0, H.F_EMPTY, btf=btf)
            elif conf == "program":
                H.attach(dev, H.HOOK_SCHED, fm.id, btf=btf)
            ops[conf].append(bogo_ops(secs))
            if conf != "none":
                s = H.stats(dev, H.HOOK_SCHED)
                hits[conf].append(s.hits)
                if conf == "program" and s.runs:
                    ns_per_run.append(round(s.ns_total / s.runs))
                H.detach(dev, H.HOOK_SCHED)
    fm.unload()
    return {"seconds_per_run": secs, "rounds": rounds, "bogo_ops": ops, "hits": hits,
            "ns_per_run": ns_per_run}


PHASES = {"sched": phase_sched, "swap": phase_swap, "swapdisk": phase_swapdisk,
          "overhead": phase_overhead}


def report(out: Path, name: str, phase: Callable[[], dict]) -> int:
    """Run one guest phase and write what it returns, with its duration, to OUT/name.json;
    an exception is written as {"error": ...} (its traceback on the console) and gives 1:
    the host test asserts on the JSON.  Shared by every guest helper of tests/kernel/."""
    t0 = time.monotonic()
    try:
        res, rc = phase(), 0
    except Exception as e:
        import traceback
        traceback.print_exc()
        res, rc = {"error": f"{type(e).__name__}: {e}"}, 1
    res["seconds"] = round(time.monotonic() - t0, 1)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str))
    return rc


def main() -> int:
    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    btf = Btf.load()
    with RmtDevice() as dev:
        # every phase runs (and reports) even when an earlier one failed
        rcs = [report(out, name, lambda name=name: PHASES[name](dev, files, out, btf))
               for name in sys.argv[3:]]
    return max(rcs, default=0)


if __name__ == "__main__":
    sys.exit(main())
