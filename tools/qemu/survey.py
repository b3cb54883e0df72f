#!/usr/bin/env python3
"""Measure what the Debian 6.1 guest kernel offers the RMT hooks (the facts in
docs/kernel-harness.md come from this script; re-run it after a kernel ABI bump).

    python3 tools/qemu/survey.py [--json out.json] [--boots 3]

One guest run (plus ``--boots`` plain boots for timing) measures:
  * boot time under TCG;
  * for each swap-path / scheduler symbol: present in /proc/kallsyms? on the kprobe blacklist?
    does register_kprobe / register_kretprobe succeed? (tests/kernel/fixtures/smoke_modules)
  * kretprobe hits per second on can_migrate_task / load_balance under several stress-ng loads,
    and dmesg free of BUG/WARNING/Oops/RCU stalls;
  * swap-ins under a memory cgroup limit, with zram swap and with swap on a virtio-blk disk
    (rotational, then declared non-rotational):
    /proc/vmstat deltas and kretprobe counts on the swap-in functions (which path is taken);
  * /sys/kernel/btf/vmlinux: copied to the host, read with Debian's bpftool, offsets of
    struct lb_env and struct rq fields.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rmt.qemu.harness import REPO_ROOT, HarnessEnv, build_module, run_in_guest  # noqa: E402

SMOKE_SRC = REPO_ROOT / "tests" / "kernel" / "fixtures" / "smoke_modules"

SWAP_SYMBOLS = [
    "do_swap_page", "swapin_readahead", "swap_cluster_readahead", "swap_vma_readahead",
    "__read_swap_cache_async", "read_swap_cache_async", "swap_readpage", "handle_mm_fault",
    "can_migrate_task", "load_balance",
    # candidates for a readahead-window hook, and neighbours worth knowing about
    "swapin_nr_pages", "__swapin_nr_pages", "swap_ra_info", "lookup_swap_cache",
    "swap_cache_get_folio", "__handle_mm_fault", "do_anonymous_page",
    "page_cache_sync_ra", "page_cache_async_ra", "ondemand_readahead",
]
# Counted with kretprobes during the swap phases: which functions a swap-in actually runs.
SWAP_COUNTED = ["do_swap_page", "swapin_readahead", "swap_cluster_readahead",
                "__read_swap_cache_async", "swap_readpage", "swap_cache_get_folio"]
SCHED_COUNTED = ["can_migrate_task", "load_balance"]
VMSTAT_KEYS = ["pswpin", "pswpout", "pgmajfault", "swap_ra", "swap_ra_hit"]

# stress-ng loads for the scheduler hook (name, arguments); each runs LOAD_SECONDS.
LOAD_SECONDS = 10
SCHED_LOADS = [
    ("idle", None),
    ("cpu4", "--cpu 4"),
    ("cpu3", "--cpu 3"),
    ("fork2", "--fork 2"),
    ("cpu3_yield2", "--cpu 3 --yield 2"),
]

HOG = r'''
import mmap, random, sys
mb = int(sys.argv[1]); page = 4096; size = mb << 20
# MAP_PRIVATE: ordinary anonymous memory (Python's default for -1 is MAP_SHARED, i.e. shmem,
# whose swap-ins go through shmem_swapin -> swap_cluster_readahead instead of do_swap_page).
flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
if len(sys.argv) > 2 and sys.argv[2] == "shared":
    flags = mmap.MAP_SHARED | mmap.MAP_ANONYMOUS
buf = mmap.mmap(-1, size, flags=flags)
for off in range(0, size, page):     # fill: pushes older pages out to swap
    buf[off:off + 8] = off.to_bytes(8, "little")
s = 0
for off in range(0, size, page):     # sequential re-read: swap-ins, readahead-friendly
    s += buf[off]
idx = list(range(0, size, page)); random.Random(1).shuffle(idx)
for off in idx:                      # random re-read: readahead-hostile
    s += buf[off]
print("hog done", mb, "MiB")
'''

GUEST_SCRIPT = r'''
set -u
cd /tmp                                    # stress-ng wants a writable cwd
M={moddir}
O=$RMT_OUT
counts() {{ cat /sys/module/rmt_smoke_kretprobe/parameters/counts > "$O/$1.counts"; }}
vmstat() {{ cat /proc/vmstat > "$O/$1.vmstat"; }}
stamp() {{ cut -d' ' -f1 /proc/uptime > "$O/$1.time"; }}

# --- symbols ---
: > $O/kallsyms.txt
for s in {symbols}; do
    echo "$s $(grep -E " [tTwW] $s(\.[a-z0-9._]+)?\$" /proc/kallsyms | awk '{{print $2":"$3}}' | tr '\n' ' ')" >> $O/kallsyms.txt
done
for s in page_cluster enable_vma_readahead nr_rotate_swap; do
    echo "$s $(grep -E " [bBdD] $s\$" /proc/kallsyms | awk '{{print $2":"$3}}' | tr '\n' ' ')" >> $O/kallsyms_data.txt
done
cp /sys/kernel/debug/kprobes/blacklist $O/blacklist.txt 2>/dev/null || echo "no debugfs blacklist" > $O/blacklist.txt
insmod $M/rmt_probe_check.ko symbols={symbols_csv}
rmmod rmt_probe_check

# --- scheduler hook under load ---
insmod $M/rmt_smoke_kretprobe.ko symbols={sched_csv}
for load in {loads}; do
    name=${{load%%:*}}; args=${{load#*:}}; args=${{args//_/ }}
    counts sched_$name.before; stamp sched_$name.before
    if [ "$name" = idle ]; then sleep {secs}; else stress-ng $args --timeout {secs}s --quiet; fi
    counts sched_$name.after; stamp sched_$name.after
done
rmmod rmt_smoke_kretprobe

# --- swap-ins under a memory cgroup limit ---
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/hog
echo {limit}M > /sys/fs/cgroup/hog/memory.max
cat > /tmp/hog.py <<'EOF'
{hog}
EOF
insmod $M/rmt_smoke_kretprobe.ko symbols={swap_csv}
swapphase() {{
    name=$1; dev=$2
    mkswap "$dev" > /dev/null && swapon "$dev" || {{ echo "swapon $dev failed"; return 1; }}
    cat /proc/swaps > $O/swap_$name.swaps
    counts swap_$name.before; vmstat swap_$name.before; stamp swap_$name.before
    (echo $BASHPID > /sys/fs/cgroup/hog/cgroup.procs && exec python3 /tmp/hog.py {hog_mb})
    counts swap_$name.after; vmstat swap_$name.after; stamp swap_$name.after
    swapoff "$dev"
}}
modprobe zram num_devices=1
echo lzo-rle > /sys/block/zram0/comp_algorithm 2>/dev/null
echo 1G > /sys/block/zram0/disksize
zramctl > $O/zramctl.txt 2>&1 || true
swapphase zram /dev/zram0
cat /sys/block/zram0/mm_stat > $O/zram_mm_stat.txt
cat /sys/kernel/mm/swap/vma_ra_enabled > $O/vma_ra_enabled.txt
cat /proc/sys/vm/page-cluster > $O/page_cluster.txt
cat /sys/block/vda/queue/rotational > $O/vda_rotational.txt
swapphase disk /dev/vda
# Same disk declared non-rotational: swapon then leaves VMA-based readahead on
# (swap_use_vma_readahead() needs nr_rotate_swap == 0), so swapin_readahead takes the
# swap_vma_readahead path, which is inlined into it.
echo 0 > /sys/block/vda/queue/rotational
swapphase disk_nonrot /dev/vda
rmmod rmt_smoke_kretprobe

# --- BTF ---
ls -l /sys/kernel/btf/vmlinux > $O/btf_ls.txt
cp /sys/kernel/btf/vmlinux $O/vmlinux.btf
dmesg > $O/dmesg_end.txt
'''


def parse_counts(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        sym, *kvs = line.split()
        out[sym] = {k: int(v) for k, v in (kv.split("=") for kv in kvs)}
    return out


def parse_vmstat(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def delta(out: Path, phase: str) -> dict[str, object]:
    before, after = parse_counts(out / f"{phase}.before.counts"), parse_counts(out / f"{phase}.after.counts")
    secs = float((out / f"{phase}.after.time").read_text()) - float((out / f"{phase}.before.time").read_text())
    res: dict[str, object] = {"guest_seconds": round(secs, 2)}
    for sym, a in after.items():
        b = before.get(sym, {})
        d: dict[str, float] = {k: a[k] - b.get(k, 0) for k in a}
        d["per_second"] = round(d["hits"] / secs, 1) if secs > 0 else 0.0
        res[sym] = d
    if (out / f"{phase}.before.vmstat").exists():
        vb, va = parse_vmstat(out / f"{phase}.before.vmstat"), parse_vmstat(out / f"{phase}.after.vmstat")
        res["vmstat"] = {k: va.get(k, 0) - vb.get(k, 0) for k in VMSTAT_KEYS}
    return res


def btf_offsets(btf: Path) -> dict[str, object]:
    """Field offsets of struct lb_env and struct rq from the guest's BTF, via bpftool."""
    try:
        raw = subprocess.run(["bpftool", "btf", "dump", "file", str(btf), "format", "raw"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return {"bpftool": f"failed: {e}"}
    structs: dict[str, dict[str, int]] = {}
    current: str | None = None
    for line in raw.splitlines():
        m = re.match(r"\[\d+\] STRUCT '([^']+)' size=(\d+)", line)
        if m:
            current = m.group(1) if m.group(1) in ("lb_env", "rq") and m.group(1) not in structs else None
            if current:
                structs[current] = {"__size__": int(m.group(2))}
            continue
        if current and line.startswith("\t"):
            f = re.match(r"\s+'([^']*)' type_id=\d+ bits_offset=(\d+)", line)
            if f:
                structs[current][f.group(1)] = int(f.group(2)) // 8
        elif not line.startswith("\t"):
            current = None
    want = {"lb_env": ["sd", "src_rq", "src_cpu", "dst_cpu", "dst_rq", "idle", "imbalance",
                       "flags", "loop", "migration_type", "tasks", "fbq_type"],
            "rq": ["nr_running", "cpu", "cfs", "clock", "clock_task", "nr_numa_running",
                   "nr_preferred_running", "avg_idle"]}
    res: dict[str, object] = {"bpftool": "ok", "btf_bytes": btf.stat().st_size}
    for s, fields in want.items():
        got = structs.get(s)
        res[s] = ({k: got[k] for k in ["__size__", *fields] if k in got} if got else "absent")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the report here too")
    ap.add_argument("--boots", type=int, default=3, help="plain boots for boot timing (3)")
    ap.add_argument("--keep", action="store_true", help="keep the guest output dir")
    args = ap.parse_args()
    henv = HarnessEnv.load()
    report: dict[str, object] = {"kernel": f"{henv.image_package} {henv.image_version}"}

    # Boot timing: a trivial command; duration = host wall time QEMU start -> exit.
    boots = []
    for _ in range(args.boots):
        r = run_in_guest("true", timeout=120, harness_env=henv)
        r.check()
        boots.append((r.boot_seconds or 0.0, r.duration))
    if boots:
        report["boot"] = {
            "guest_uptime_at_script_start_s": [round(b[0], 2) for b in boots],
            "host_wall_s_for_true": [round(b[1], 2) for b in boots],
            "median_wall_s": round(statistics.median(b[1] for b in boots), 2),
        }

    work = Path(tempfile.mkdtemp(prefix="rmt-survey-"))
    mods = build_module(SMOKE_SRC, work / "modules", harness_env=henv)
    out = work / "out"
    script = GUEST_SCRIPT.format(
        moddir=work / "modules", symbols=" ".join(SWAP_SYMBOLS), symbols_csv=",".join(SWAP_SYMBOLS),
        sched_csv=",".join(SCHED_COUNTED), swap_csv=",".join(SWAP_COUNTED),
        loads=" ".join(f"{n}:{(a or '').replace(' ', '_')}" for n, a in SCHED_LOADS),
        secs=LOAD_SECONDS, limit=96, hog_mb=192, hog=HOG.strip())
    t0 = time.monotonic()
    r = run_in_guest(script, timeout=600, memory_mb=1024, cpus=2, out_dir=out, disk_mb=1024,
                     harness_env=henv, console_stream=sys.stderr)
    report["survey_run"] = {"exit_status": r.exit_status, "wall_s": round(time.monotonic() - t0, 1),
                            "kernel_problems": r.kernel_problems(), "modules": [m.name for m in mods]}

    probes = {}
    checks = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"rmt_probe_check: sym=(\S+) kprobe=(-?\d+) kretprobe=(-?\d+)", r.dmesg)}
    blacklist = (out / "blacklist.txt").read_text() if (out / "blacklist.txt").exists() else ""
    for line in (out / "kallsyms.txt").read_text().splitlines() if (out / "kallsyms.txt").exists() else []:
        sym, *where = line.split()
        kp, krp = checks.get(sym, (None, None))
        probes[sym] = {"kallsyms": where, "blacklisted": bool(re.search(rf"\s{re.escape(sym)}$", blacklist, re.M)),
                       "kprobe": kp, "kretprobe": krp}
    report["probes"] = probes
    report["sched"] = {n: delta(out, f"sched_{n}") for n, _ in SCHED_LOADS
                       if (out / f"sched_{n}.after.counts").exists()}
    report["swap"] = {n: delta(out, f"swap_{n}") for n in ("zram", "disk", "disk_nonrot")
                      if (out / f"swap_{n}.after.counts").exists()}
    if (out / "kallsyms_data.txt").exists():
        report["data_symbols"] = {line.split()[0]: line.split()[1:] for line in
                                  (out / "kallsyms_data.txt").read_text().splitlines()}
    settings: dict[str, str] = {}
    for f in ("vma_ra_enabled", "page_cluster", "vda_rotational", "zram_mm_stat"):
        if (out / f"{f}.txt").exists():
            settings[f] = (out / f"{f}.txt").read_text().strip()
    report["swap_settings"] = settings
    if (out / "vmlinux.btf").exists():
        report["btf"] = btf_offsets(out / "vmlinux.btf")
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    else:
        print(f"guest output kept in {out}", file=sys.stderr)
    return 0 if r.exit_status == 0 and not r.kernel_problems() else 1


if __name__ == "__main__":
    sys.exit(main())
