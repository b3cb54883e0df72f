"""Guest side of rmt.ko's exact-page swap prefetch: test phases and evaluation runs.

Runs inside the QEMU guest (tools/qemu/harness.py) as root, with rmt.ko loaded. Used by
tests/kernel/test_kmod_prefetch.py (``mechanism`` phase) and casestudies/kernel_prefetch_eval.py
(``eval`` phase). Writes one JSON file per phase into the output directory.

    python3 casestudies/kernel_prefetch_guest.py FILES OUT PHASE [ARGS...]
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from rmt.contract import project

ROOT = project.guess()          # the source checkout (rmt.contract.project)

from rmt.ctl import hook_abi as H  # noqa: E402
from rmt.ctl.btf import Btf  # noqa: E402
from rmt.ctl.kernel import PF_OUTCOMES, KernelEngine, RmtDevice, prefetch_stats  # noqa: E402

CG_ROOT = Path("/sys/fs/cgroup")
VMSTAT_KEYS = ("pswpin", "pswpout", "pgmajfault", "swap_ra", "swap_ra_hit")

# The synthetic workloads: a private anonymous mapping written once (so every page has
# content to swap out), then read in the workload's order for `passes` passes.
SYNTH = r'''
import mmap, sys
kind, mb, passes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
page = 4096; n = (mb << 20) // page
buf = mmap.mmap(-1, n * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for p in range(n):
    buf[p * page] = p & 255
stride = 7 if kind == "strided" else 1
s = 0
for _ in range(passes):
    for k in range(n):
        s += buf[(k * stride % n) * page]
print(kind, n, s)
'''


def sh(cmd: str) -> str:
    return subprocess.run(["sh", "-c", cmd], check=True, capture_output=True, text=True).stdout


def vmstat() -> dict[str, int]:
    out = {}
    for line in Path("/proc/vmstat").read_text().splitlines():
        k, v = line.split()
        if k in VMSTAT_KEYS:
            out[k] = int(v)
    return out


def swap_on_disk(dev: str = "/dev/vda", delay_ms: int = 0) -> str:
    """mkswap + swapon on the virtio-blk disk, through a dm-delay target when delay_ms > 0;
    returns the swap device."""
    target = dev
    if delay_ms > 0:
        sh("modprobe dm-delay")
        sectors = int(sh(f"blockdev --getsz {dev}"))
        # no udev in the guest: do not wait for it, make the node ourselves
        sh(f"echo '0 {sectors} delay {dev} 0 {delay_ms}' | "
           "dmsetup create --noudevsync rmt_slow && dmsetup mknodes rmt_slow")
        target = "/dev/mapper/rmt_slow"
    sh(f"mkswap {target} >/dev/null && swapon {target}")
    return target


def swap_off(target: str) -> None:
    sh(f"swapoff {target}")
    if target.startswith("/dev/mapper/"):
        sh(f"dmsetup remove --noudevsync {Path(target).name}")


def cgroup(name: str, limit_bytes: int) -> Path:
    if not (CG_ROOT / "cgroup.controllers").exists():
        sh(f"mount -t cgroup2 none {CG_ROOT}")
    sh(f"echo +memory > {CG_ROOT}/cgroup.subtree_control || true")
    cg = CG_ROOT / name
    cg.mkdir(exist_ok=True)
    (cg / "memory.max").write_text("max\n" if limit_bytes >= 1 << 40 else f"{limit_bytes}\n")
    return cg


def mark(what: str) -> None:
    """A line in the kernel log (dmesg), so that a kernel report can be placed in a phase."""
    try:
        with open("/dev/kmsg", "w") as f:
            f.write(f"rmt-prefetch-guest: {what}\n")
    except OSError:
        pass


@dataclass
class RunResult:
    seconds: float
    majflt: int
    vmstat: dict[str, int]
    status: int
    maxrss_kb: int = 0
    pid: int = 0
    anon_peak: int = 0      # bytes, sample_peak only: the cgroup's largest anonymous memory
    file_peak: int = 0      # bytes, sample_peak only: its largest page cache
    timed_out: bool = False  # killed at the run's time limit (status then -9)

    def to_json(self) -> dict:
        return {"seconds": round(self.seconds, 3), "majflt": self.majflt,
                "vmstat": self.vmstat, "status": self.status, "maxrss_kb": self.maxrss_kb,
                "pid": self.pid, "anon_peak": self.anon_peak, "file_peak": self.file_peak,
                "timed_out": self.timed_out}


def memory_stat(cg: Path) -> dict[str, int]:
    out = {}
    for line in (cg / "memory.stat").read_text().splitlines():
        k, _, v = line.partition(" ")
        if v.isdigit():
            out[k] = int(v)
    return out


def run_in_cgroup(cg: Path, argv: list[str], cwd: str = "/tmp",
                  sample_peak: bool = False, limit_s: float | None = None) -> RunResult:
    """Run argv inside cgroup cg; its wall time, major faults (rusage) and vmstat deltas.

    sample_peak: maxrss_kb is the cgroup's peak memory.current, sampled every 20 ms (6.1
    has no memory.peak; rusage's maxrss would include this Python's, from before exec), and
    anon_peak / file_peak the peaks of memory.stat's anon and file.  limit_s: the process is
    killed (SIGKILL) once it has run that long, and the result says so."""
    v0 = vmstat()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            (cg / "cgroup.procs").write_text(f"{os.getpid()}\n")
            os.chdir(cwd)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    mark(f"pid {pid} runs {' '.join(argv)}")
    peak = anon = file = 0
    timed_out = False
    while True:
        done, status, ru = os.wait4(pid, os.WNOHANG)
        if sample_peak:
            peak = max(peak, int((cg / "memory.current").read_text()))
            st = memory_stat(cg)
            anon, file = max(anon, st.get("anon", 0)), max(file, st.get("file", 0))
        if done:
            break
        if limit_s is not None and not timed_out and time.monotonic() - t0 > limit_s:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            mark(f"pid {pid} killed at its limit of {limit_s:.0f} s")
        time.sleep(0.02 if sample_peak else 0.05)
    dt = time.monotonic() - t0
    v1 = vmstat()
    mark(f"pid {pid} done in {dt:.1f} s")
    return RunResult(dt, ru.ru_majflt, {k: v1[k] - v0[k] for k in v0},
                     os.waitstatus_to_exitcode(status), peak // 1024 if sample_peak else ru.ru_maxrss,
                     pid, anon, file, timed_out)


def attach(dev: RmtDevice, btf: Btf, blob: bytes) -> KernelEngine:
    eng = KernelEngine.load(dev, blob)
    mark(f"attach program {eng.id}")
    H.attach(dev, H.HOOK_SWAP, eng.id, btf=btf)
    return eng


def detach(dev: RmtDevice, eng: KernelEngine) -> None:
    mark(f"detach program {eng.id}")
    H.detach(dev, H.HOOK_SWAP)
    eng.unload()


def settle(dev: RmtDevice, seconds: float = 10.0) -> dict:
    """Prefetch counters once the queues are empty (every requested page accounted)."""
    t0 = time.monotonic()
    while True:
        pf = prefetch_stats(dev)
        if sum(pf[k] for k in PF_OUTCOMES) >= pf["requested"] or \
                time.monotonic() - t0 > seconds:
            return pf
        time.sleep(0.2)


def set_param(name: str, value: str) -> None:
    Path(f"/sys/module/rmt/parameters/{name}").write_text(value + "\n")


# ---------------------------------------------------------------------- the test's phase

def phase_mechanism(files: Path, out: Path) -> dict:
    """tests/kernel/test_kmod_prefetch.py: swap on virtio-blk, page-cluster 0, the strided
    workload in a memory cgroup without and with the strided program (the default mechanism,
    then swap_prefetch=gup); a program asking for bad pages; rmmod while the workload faults."""
    res: dict = {}
    (files / "synth.py").write_text(SYNTH)
    mb, limit = int(os.environ.get("RMT_PF_MB", "16")), int(os.environ.get("RMT_PF_LIMIT_MB", "8"))
    sh("echo 0 > /proc/sys/vm/page-cluster")
    target = swap_on_disk()
    res["swaps"] = Path("/proc/swaps").read_text()
    cg = cgroup("rmt_pf", limit << 20)
    work = [sys.executable, str(files / "synth.py"), "strided", str(mb), "2"]
    btf = Btf.load()
    with RmtDevice() as dev:
        res["off"] = run_in_cgroup(cg, work).to_json()
        for tag in ("strided", "bad"):
            eng = attach(dev, btf, (files / f"{tag}.rmtb").read_bytes())
            res[f"{tag}_attached"] = prefetch_stats(dev)
            res[tag] = run_in_cgroup(cg, work).to_json()
            res[f"{tag}_pf"] = settle(dev)
            res[f"{tag}_hook"] = H.stats(dev, H.HOOK_SWAP).to_json()
            cli = subprocess.run([sys.executable, "-m", "rmt.ctl.cli", "--target", "kernel",
                                  "--json", "stats", str(eng.id)], capture_output=True,
                                 text=True, cwd=str(ROOT))
            res[f"{tag}_cli"] = json.loads(cli.stdout) if cli.returncode == 0 else cli.stderr
            detach(dev, eng)
        res["detached"] = prefetch_stats(dev)
        # the exported-symbols fallback: get_user_pages_remote() from the worker
        set_param("swap_prefetch", "gup")
        eng = attach(dev, btf, (files / "strided.rmtb").read_bytes())
        res["gup_attached"] = prefetch_stats(dev)
        res["gup"] = run_in_cgroup(cg, work).to_json()
        res["gup_pf"] = settle(dev)
        detach(dev, eng)
        # window mode still attaches when asked for
        set_param("swap_prefetch", "window")
        eng = attach(dev, btf, (files / "strided.rmtb").read_bytes())
        res["window_attached"] = prefetch_stats(dev)
        detach(dev, eng)
        set_param("swap_prefetch", "nonsense")
        eng = KernelEngine.load(dev, (files / "strided.rmtb").read_bytes())
        try:
            H.attach(dev, H.HOOK_SWAP, eng.id, btf=btf)
            res["bad_param_error"] = None
        except Exception as e:     # noqa: BLE001 -- the module's message is the result
            res["bad_param_error"] = str(e)
        eng.unload()
        set_param("swap_prefetch", "auto")
        # attach and detach while the workload faults: every attach and detach re-patches
        # do_swap_page's ftrace site, and a fault meeting the transient int3 there enters the
        # probe in NMI context (docs/kernel-hooks.md: the first version jumped to address 0)
        eng = KernelEngine.load(dev, (files / "strided.rmtb").read_bytes())
        p = subprocess.Popen(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec "
                              + " ".join(work[:-1]) + " 16"], stdout=subprocess.DEVNULL)
        cycles, t0 = 0, time.monotonic()
        mark("attach/detach cycles while the workload faults")
        while p.poll() is None and time.monotonic() - t0 < 20:
            H.attach(dev, H.HOOK_SWAP, eng.id, btf=btf)
            time.sleep(0.1)
            H.detach(dev, H.HOOK_SWAP)
            cycles += 1
        res["cycles"] = cycles
        res["cycles_workload_running"] = p.poll() is None
        p.kill()
        res["cycles_workload_status"] = p.wait()
        eng.unload()
        # rmmod under load: the program attached, the workload faulting, work queued
        eng = attach(dev, btf, (files / "strided.rmtb").read_bytes())
    p = subprocess.Popen(["sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec "
                          + " ".join(work[:-1]) + " 4"], stdout=subprocess.DEVNULL)
    with RmtDevice() as dev:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            time.sleep(0.5)
            pf = prefetch_stats(dev)
            if pf["decisions"] >= 200 or p.poll() is not None:
                break
        res["before_rmmod"] = pf
    res["rmmod_while_running"] = p.poll() is None
    mark(f"rmmod while pid {p.pid} runs: {res['rmmod_while_running']}")
    res["rmmod"] = subprocess.run(["rmmod", "rmt"], capture_output=True, text=True).returncode
    res["workload_status_after_rmmod"] = p.wait()
    swap_off(target)
    return res


# ---------------------------------------------------------------------- evaluation runs

def insert_config(dev: RmtDevice, btf: Btf, files: Path, cfg: dict, cg: Path) -> KernelEngine:
    """Load the config's program, attach it (swap_prefetch=auto), route the workload's
    cgroup (its id is the directory's inode number) and load its models: what `rmtctl
    --target kernel insert / table add / model load` do, in this process (each rmtctl call
    is a Python start-up, tens of seconds under TCG on a loaded host)."""
    from rmt.contract import codec
    from rmt.contract.engine import Entry
    eng = attach(dev, btf, (files / cfg["program"]).read_bytes())
    route = cfg.get("route")
    if route:       # [table, "action", action, args...]
        t = [x.name for x in eng.prog.tables].index(route[0])
        table = eng.prog.tables[t]
        a = [x.name for x in table.actions].index(route[2])
        eng.table_insert(t, Entry(codec.parse_matches(table, [str(os.stat(cg).st_ino)]), a,
                                  codec.pack_params(table.actions[a],
                                                    [int(x) for x in route[3:]]), 0))
    for model, blob in cfg.get("models", {}).items():
        eng.model_load([m.name for m in eng.prog.models].index(model),
                       (files / blob).read_bytes())
    return eng


def memory_limit(ws: dict, frac: float) -> int:
    """memory.max for a run at `frac` of a working set: `frac` of its anonymous memory plus all
    of its page cache.  The limit squeezes what swap prefetching can act on: with `frac` of the
    whole peak, a program whose peak is mostly page cache (ImageMagick's binary and libraries,
    read over 9p) gives up file pages and barely swaps (about 100 swap-ins a run at 50%)."""
    return int(frac * ws["anon"]) + ws["file"]


def run_limit_s(unconstrained_s: float) -> float:
    """How long a constrained run may take: 20 times the unconstrained run, at least a
    minute (the synthetic programs take 12-14 times as long at half their memory).  A program whose accesses have no locality (xz's match finder) thrashes at half
    its memory: one run would take hours under TCG with a delayed disk, and hold up the
    evaluation of everything after it."""
    return max(60.0, 20.0 * unconstrained_s)


def phase_eval(files: Path, out: Path) -> dict:
    """casestudies/kernel_prefetch_eval.py: the plan in files/plan.json, interleaved, one boot."""
    plan = json.loads((files / "plan.json").read_text())
    target = swap_on_disk(delay_ms=plan["delay_ms"])
    btf = Btf.load()
    res: dict = {"swap": target, "working_sets": {}}
    # working sets: each workload's peak RSS without a limit (and without readahead)
    sh("echo 0 > /proc/sys/vm/page-cluster")
    for name, spec in plan["workloads"].items():
        cg = cgroup(f"rmt_{name}", 1 << 40)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = run_in_cgroup(cg, spec["argv"], cwd=spec["cwd"], sample_peak=True)
        res["working_sets"][name] = {"bytes": r.maxrss_kb * 1024, "anon": r.anon_peak,
                                     "file": r.file_peak, "seconds": r.seconds,
                                     "status": r.status, "before_kb": before}
        (out / "working_sets.json").write_text(json.dumps(res["working_sets"]))
    progress = out / "eval_progress.jsonl"
    with RmtDevice() as dev:
        for step in plan["steps"]:
            w, p = step["workload"], step["prefetcher"]
            ws = res["working_sets"][w]
            limit = max(4 << 20, memory_limit(ws, step["frac"])) & ~4095
            sh(f"echo {step['page_cluster']} > /proc/sys/vm/page-cluster")
            cg = cgroup(f"rmt_{w}", limit)
            cfg = plan["configs"].get(p)
            eng = insert_config(dev, btf, files, cfg, cg) if cfg else None
            r = run_in_cgroup(cg, step["argv"], cwd=step["cwd"],
                              limit_s=run_limit_s(res["working_sets"][w]["seconds"]))
            rec = {**step, "ws_bytes": ws["bytes"], "ws_anon": ws["anon"],
                   "ws_file": ws["file"], "limit_bytes": limit, "result": r.to_json()}
            if eng is not None:
                rec["prefetch"] = settle(dev)
                rec["hook"] = H.stats(dev, H.HOOK_SWAP).to_json()
                detach(dev, eng)
            with open(progress, "a") as f:
                f.write(json.dumps(rec) + "\n")
    swap_off(target)
    return res


PHASES = {"mechanism": phase_mechanism, "eval": phase_eval}


def main() -> int:
    files, out, phase = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    mark(f"phase {phase}, pid {os.getpid()}")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        res = PHASES[phase](files, out)
    except Exception as e:  # noqa: BLE001 -- reported to the host test as the phase's error
        res = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    (out / f"{phase}.json").write_text(json.dumps(res, indent=1))
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
