"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_stress.py,
tools/stress_kmod.py).

    python guest_stress.py FILES OUT STRESS_BIN SECONDS QUIET_SECONDS MIN_SWAPS QUIET_MAX

Loads stress_sched.rmtb and stress_swap.rmtb with the old weights and attaches them to
sched.can_migrate_task and mm.swap_fault (shadow mode).  Then rmt_stress (table writers
and model swappers on both programs) runs three times:
  quiet  QUIET_SECONDS (longer until MIN_SWAPS swaps, at most QUIET_MAX) with no load:
         kernel memory (meminfo, slab caches, rmt's alloc_live when the module has it) is
         compared before/after without process churn blurring the slab counts;
  -L     1 s, then writes behind the records' back, which the final check must find;
  load   SECONDS under the load that makes both hooks fire (stress-ng pinned and yielding
         hogs; a memory hog in a 32 MiB memory cgroup swapping to zram), the hooks
         checking every entry and inference.
OUT/stress.json gets the runs' JSON, the programs' outcome counters, the hook counters
and the memory figures, each taken after a quiesce.  The programs stay loaded and
attached: the caller unloads the module with them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
import guest_hooks as G
import stress_programs as S
from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import KernelEngine, RmtDevice

HERE = Path(__file__).resolve().parent


HOOKS = (("sched", H.HOOK_SCHED), ("swap", H.HOOK_SWAP))
ALLOC_LIVE = Path("/sys/module/rmt/parameters/alloc_live")
HOG_LOOP = "while :; do python3 {files}/hog.py 64 >/dev/null 2>>{out}/hog.err || exit 1; done"
# The tool runs at a higher priority than the load so the ioctls go as fast as the ABI
# allows; the load still keeps the balancer (can_migrate_task) and swap-ins busy.
NICE = ["nice", "-n", "-10"]


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        if k in ("Slab", "SUnreclaim", "SReclaimable", "Percpu", "VmallocUsed"):
            out[k] = int(v.split()[0])        # kB
    return out


def slab_bytes() -> dict[str, int]:
    """Bytes in active objects per slab cache, from /proc/slabinfo."""
    out = {}
    for line in Path("/proc/slabinfo").read_text().splitlines()[2:]:
        f = line.split()
        out[f[0]] = int(f[1]) * int(f[3])
    return out


def is_kmalloc(cache: str) -> bool:
    """The generic kmalloc caches, where rmt.ko's kmalloc and small kvmalloc allocations
    go (not the reclaimable or DMA ones)."""
    return cache.startswith("kmalloc-") and not cache.startswith(("kmalloc-rcl", "dma-"))


def quiesce() -> None:
    """Let RCU-deferred frees run, then drop reclaimable caches and shrink every slab cache.

    No userspace rcu_barrier(): wait until SUnreclaim stops moving (two readings 0.5 s apart
    within 64 kB), at most 15 s.  SLUB counts the free objects of per-CPU slabs as active
    and keeps empty slabs on per-CPU partial lists, so the slab figures wander by hundreds
    of kB with whatever ran on which CPU; /sys/kernel/slab/*/shrink (kmem_cache_shrink)
    flushes the per-CPU slabs and frees the empty ones."""
    subprocess.run(["sync"], check=False)
    last = meminfo()["SUnreclaim"]
    for _ in range(30):
        time.sleep(0.5)
        now = meminfo()["SUnreclaim"]
        if abs(now - last) <= 64:
            break
        last = now
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    for shrink in Path("/sys/kernel/slab").glob("*/shrink"):
        try:
            shrink.write_text("1\n")
        except OSError:
            pass
    time.sleep(0.5)


def memory() -> dict:
    quiesce()
    slabs = slab_bytes()
    km = {k: v for k, v in slabs.items() if is_kmalloc(k)}
    res = {"meminfo": meminfo(), "kmalloc": km, "kmalloc_total": sum(km.values()),
           "slabs": slabs, "alloc_live": int(ALLOC_LIVE.read_text().split()[0])}
    return res


def run_tool(binary: str, files: Path, ids: list[int], seconds: float, min_swaps: int,
             max_seconds: float, extra: tuple[str, ...] = ()) -> dict:
    cmd = NICE + [binary, *extra, "-t", str(seconds), "-T", str(max_seconds), "-w", "4", "-m", "2",
           "-S", str(min_swaps), "-k", str(S.NKEYS), "-c", "-o", str(files / "weights_old.bin"),
           "-n", str(files / "weights_new.bin")] + [str(i) for i in ids]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=max_seconds + 120)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def stop_load(load: list[subprocess.Popen], timeout: float = 60) -> float:
    """Kill every process of the load's sessions and wait until they are gone (their
    kernel memory freed before the memory is measured); returns the seconds it took."""
    t0 = time.monotonic()
    groups = set()
    for p in load:
        groups.add(p.pid)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in load:
        p.wait(timeout=timeout)
    while time.monotonic() - t0 < timeout and any(
            pgid in groups for pgid in process_groups()):
        time.sleep(0.2)
    return round(time.monotonic() - t0, 1)


def process_groups() -> list[int]:
    """The process group of every process still in /proc."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out.append(int((d / "stat").read_text().rsplit(")", 1)[1].split()[2]))
            except (OSError, IndexError, ValueError):
                pass
    return out


def wait_for_hits(dev: RmtDevice, hook: int, timeout: float) -> float:
    """Seconds until the hook has fired (its counters move), at most `timeout`."""
    t0 = time.monotonic()
    h0 = H.stats(dev, hook).hits
    while time.monotonic() - t0 < timeout and H.stats(dev, hook).hits == h0:
        time.sleep(0.2)
    return round(time.monotonic() - t0, 1)


def outcomes(eng: KernelEngine) -> dict[str, int]:
    m = eng.map_read(0)
    return {name: m.get(i, 0) for i, name in enumerate(S.OUTCOMES)}


def main() -> int:
    files, out, binary = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    seconds, quiet_s = float(sys.argv[4]), float(sys.argv[5])
    min_swaps, quiet_max = int(sys.argv[6]), float(sys.argv[7])
    res: dict = {}
    load: list[subprocess.Popen] = []
    try:
        btf = Btf.load()
        dev = RmtDevice()
        engs = {}
        for hook, hook_id in HOOKS:
            engs[hook] = KernelEngine.load(dev, (files / f"stress_{hook}.rmtb").read_bytes())
            engs[hook].model_load(0, (files / "weights_old.bin").read_bytes())
            H.attach(dev, hook_id, engs[hook].id, btf=btf)
        ids = [engs["sched"].id, engs["swap"].id]
        res["prog_ids"] = ids

        # zram swap for the hog (guest_hooks' setup); the hog runs in a loop in a cgroup
        (files / "hog.py").write_text(G.HOG)
        G.swap_setup()
        G.sh("modprobe zram num_devices=1 || true; echo 256M > /sys/block/zram0/disksize; "
             "mkswap /dev/zram0 >/dev/null; swapon /dev/zram0")
        cg = Path("/sys/fs/cgroup/rmt_hog")
        cg.mkdir(exist_ok=True)
        (cg / "memory.max").write_text(f"{G.LIMIT_MB}M\n")
        hog_cmd = ["nice", "-n", "-5", "sh", "-c", f"echo $$ > {cg}/cgroup.procs && exec sh -c '"
                   + HOG_LOOP.format(files=files, out=out) + "'"]

        # warm-up (allocator caches, percpu chunks), then the baseline
        res["warmup"] = run_tool(binary, files, ids, 1, 0, 10)
        res["mem_before"] = memory()

        # quiet phase: the ioctls alone (no load processes coming and going, so the slab
        # figures move only with what rmt.ko allocates): the >= MIN_SWAPS swaps
        res["quiet"] = run_tool(binary, files, ids, quiet_s, min_swaps, quiet_max)
        res["mem_quiet"] = memory()
        # the checker checked: writes behind the records' back must be found (-L)
        res["inject"] = run_tool(binary, files, ids, 1, 0, 10, ("-L",))

        # load phase: the hog first (Python's start and the first pass, swap-out, take a
        # while under TCG); the writers start once swap-ins run the swap hook
        load.append(subprocess.Popen(hog_cmd, cwd="/tmp", start_new_session=True))
        res["swap_wait_s"] = wait_for_hits(dev, H.HOOK_SWAP, 90)
        load.append(subprocess.Popen(["sh", "-c", G.SCHED_LOAD.format(t=int(seconds * 2) + 90)],
                                     cwd="/tmp", stdout=subprocess.DEVNULL,
                                     start_new_session=True))
        res["sched_wait_s"] = wait_for_hits(dev, H.HOOK_SCHED, 30)
        res["vmstat_start"] = G.vmstat()
        res["outcomes_start"] = {h: outcomes(e) for h, e in engs.items()}
        res["hooks_start"] = {h: G.hook_stats(dev, i) for h, i in HOOKS}
        res["tool"] = run_tool(binary, files, ids, seconds, 0, seconds)
        # counters read with the load gone: the hooks (almost) quiet, the reads consistent
        res["load_left_s"] = stop_load(load)
        load.clear()
        res["vmstat_end"] = G.vmstat()
        res["hooks_end"] = {h: G.hook_stats(dev, i) for h, i in HOOKS}
        res["outcomes"] = {h: outcomes(e) for h, e in engs.items()}
        res["vm_stats"] = {h: G.vm_stats(e) for h, e in engs.items()}
        res["model_versions"] = {h: e.model_info(0).version for h, e in engs.items()}
        res["entries_after_cleanup"] = {h: len(e.table_entries(0)) for h, e in engs.items()}
        G.sh("swapoff /dev/zram0")
        res["mem_after"] = memory()
        res["still_attached"] = {h: G.hook_stats(dev, i)["registered"] for h, i in HOOKS}
        dev.close()
        rc = 0
    except Exception as e:              # report: the host test asserts
        traceback.print_exc()
        res["error"] = f"{type(e).__name__}: {e}"
        rc = 1
    finally:
        stop_load(load)
    (out / "stress.json").write_text(json.dumps(res, indent=1))
    return rc


if __name__ == "__main__":
    sys.exit(main())
