"""rmt.ko in the kernel: its interpreter vs its JIT (vm_kernel/kmod/rmt_kmod_jit.c), side by side.

One QEMU boot of Debian's 6.1 kernel (4 vCPUs, TCG).  Both example programs are loaded twice,
once with rmt.jit=0 (the interpreter) and once with rmt.jit=1 (lowered to eBPF, the kernel's
BPF JIT), weights and table entries as in tests/kernel/test_kmod_hooks.py, and attached to
their hooks in turn, interleaved: ROUNDS rounds, each engine once per round (the order
alternating), each under the same load:
- sched.can_migrate_task (forced_migration.rmt, shadow): stress-ng hogs for SCHED_S seconds;
- mm.swap_fault (swap_prefetch.rmt): a 64 MiB hog in a 32 MiB memory cgroup, zram swap.
Each round reads the hook's own counters before and after (RMT_IOC_HOOK_STATS): runs,
ns_total (the handlers' time) and ns_vm (of that, the time in the VM: the program on its
engine and its accounting; one clock read is inside it).  The rest of ns_total is the
context build and the decision (for the kretprobe on can_migrate_task it also spans the probed
function, entry to return).  Printed: ns per run, median and range over the rounds, per engine,
and the interpreter / JIT ratio of the medians.  Timings only: nothing here asserts.

    .venv/bin/python bench/bench_kmod_jit.py [--rounds N] [--clock hpet|tsc] [--out FILE]
    (make bench-kmod-jit)

--clock tsc boots the guest with clocksource=tsc tsc=reliable: the guest otherwise marks TCG's
TSC unstable and reads the HPET (an emulated device) in every ktime_get_ns(), which then
weighs on ns_vm and ns_total alike.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCHED_S = 6
PARAMS = Path("/sys/module/rmt/parameters")


# ------------------------------------------------------------------------------ guest side

def _hook_counts(dev, hook: int) -> dict[str, int]:
    """runs, ns_total and ns_vm of a hook."""
    from rmt.ctl import hook_abi as H
    buf = H.stats_payload(hook)
    H._ioctl(dev, H.IOC_HOOK_STATS, buf, "hook stats")
    c = H.parse_stats(buf).counters
    return {"runs": c["runs"], "ns_total": c["ns_total"], "ns_vm": c["ns_vm"]}


def _load(dev, files: Path, name: str, jit: bool):
    from rmt.ctl.kernel import KernelEngine
    from rmt.contract.engine import Entry, Exact, Range
    (PARAMS / "jit").write_text("1" if jit else "0")
    try:
        eng = KernelEngine.load(dev, (files / f"{name}.rmtb").read_bytes())
    finally:
        (PARAMS / "jit").write_text("1")
    if name == "forced_migration":
        eng.model_load(0, (files / "pred.bin").read_bytes())
        eng.model_load(1, (files / "tree_fm.bin").read_bytes())
        eng.table_insert(0, Entry((Exact(2), Range(0, 1000)), 1, b""))
        eng.table_insert(0, Entry((Exact(1), Range(0, 1023)), 0, b"\x01" + bytes(7)))
        eng.table_insert(0, Entry((Exact(0), Range(0, 1023)), 0, b"\x01" + bytes(7)))
    else:
        eng.model_load(0, (files / "next.bin").read_bytes())
    return eng


def guest(files: Path, out: Path, rounds: int) -> int:
    import guest_hooks as G
    from rmt.ctl import hook_abi as H
    from rmt.ctl.btf import Btf
    from rmt.ctl.kernel import RmtDevice
    dev, btf = RmtDevice(), Btf.load()
    (files / "hog.py").write_text(G.HOG)
    G.swap_setup()
    G.sh("modprobe zram num_devices=1 || true; echo 256M > /sys/block/zram0/disksize; "
         "mkswap /dev/zram0 >/dev/null; swapon /dev/zram0")
    res: dict = {"rounds": []}
    progs = {(name, jit): _load(dev, files, name, jit)
             for name in ("forced_migration", "swap_prefetch") for jit in (False, True)}
    res["engines"] = {f"{n}/{'jit' if j else 'interp'}": e.info().engine
                      for (n, j), e in progs.items()}
    for r in range(rounds):
        row: dict = {}
        for jit in ((False, True) if r % 2 == 0 else (True, False)):
            tag = "jit" if jit else "interp"
            H.attach(dev, H.HOOK_SCHED, progs[("forced_migration", jit)].id, btf=btf)
            a = _hook_counts(dev, H.HOOK_SCHED)
            p = G.stress(SCHED_S)
            p.wait()
            b = _hook_counts(dev, H.HOOK_SCHED)
            row[f"sched/{tag}"] = {k: b[k] - a[k] for k in a}
            H.attach(dev, H.HOOK_SWAP, progs[("swap_prefetch", jit)].id, btf=btf)
            a = _hook_counts(dev, H.HOOK_SWAP)
            G.hog(files, G.HOG_MB, G.LIMIT_MB)
            b = _hook_counts(dev, H.HOOK_SWAP)
            row[f"swap/{tag}"] = {k: b[k] - a[k] for k in a}
        res["rounds"].append(row)
        (out / "bench.json").write_text(json.dumps(res, indent=1))
    H.detach(dev, H.HOOK_SCHED)
    H.detach(dev, H.HOOK_SWAP)
    for e in progs.values():
        e.unload()
    G.sh("swapoff /dev/zram0")
    res["jit_stats"] = (PARAMS / "jit_stats").read_text().strip()
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    return 0


# ------------------------------------------------------------------------------- host side

def _inputs(files: Path) -> None:
    import kmod_inputs
    from rmt.contract import weights as W
    rng = random.Random(11)
    kmod_inputs.write_examples_and_predictors(files, rng)
    tree = W.Tree([W.Node(1, 128, 1, 2), W.Node(-1, leaf=0), W.Node(-1, leaf=1)],
                  [[5, -1], [-5, -1]])
    (files / "tree_fm.bin").write_bytes(kmod_inputs.tree_weights(tree, 17))
    nxt = W.Tree([W.Node(0, 0, 1, 2), W.Node(-1, leaf=0), W.Node(-1, leaf=1)],
                 [[3] + [1] * 16, [2] + [-1] * 16])
    (files / "next.bin").write_bytes(kmod_inputs.tree_weights(nxt, 8))


def summarize(res: dict) -> list[str]:
    lines = ["| hook / program | engine | runs | handler ns/run (ns_total/runs) | VM ns/run "
             "(ns_vm/runs) | rest ns/run (context build, decision) |",
             "|---|---|---|---|---|---|"]
    med: dict = {}
    for hook, prog in (("sched", "forced_migration"), ("swap", "swap_prefetch")):
        for tag in ("interp", "jit"):
            rows = [r[f"{hook}/{tag}"] for r in res["rounds"] if r[f"{hook}/{tag}"]["runs"]]
            if not rows:
                continue
            per = {k: [x[k] / x["runs"] for x in rows] for k in ("ns_total", "ns_vm")}
            per["rest"] = [t - v for t, v in zip(per["ns_total"], per["ns_vm"])]
            med[(hook, tag)] = {k: statistics.median(v) for k, v in per.items()}

            def cell(k: str) -> str:
                return f"{statistics.median(per[k]):.0f} ({min(per[k]):.0f}-{max(per[k]):.0f})"
            lines.append(f"| {hook} / {prog} | {tag} | {sum(x['runs'] for x in rows)} | "
                         f"{cell('ns_total')} | {cell('ns_vm')} | {cell('rest')} |")
    lines.append("")
    for hook in ("sched", "swap"):
        if (hook, "interp") in med and (hook, "jit") in med:
            i, j = med[(hook, "interp")], med[(hook, "jit")]
            per_round = [(r[f"{hook}/interp"]["ns_vm"] / r[f"{hook}/interp"]["runs"])
                         / (r[f"{hook}/jit"]["ns_vm"] / r[f"{hook}/jit"]["runs"])
                         for r in res["rounds"]
                         if r[f"{hook}/interp"]["runs"] and r[f"{hook}/jit"]["runs"]
                         and r[f"{hook}/jit"]["ns_vm"]]
            lines.append(f"{hook}: interpreter / JIT, median ns per run: VM "
                         f"{i['ns_vm'] / j['ns_vm']:.2f}x (per round "
                         f"{min(per_round):.2f}-{max(per_round):.2f}x), handler "
                         f"{i['ns_total'] / j['ns_total']:.2f}x")
    return lines


def host(rounds: int, out: Path, clock: str) -> int:
    import tempfile

    from rmt.qemu import harness
    try:
        import kmod_inputs
    except ModuleNotFoundError:
        sys.exit("bench_kmod_jit.py: run it as `make bench-kmod-jit` (it needs the tests' "
                 "helper folders on PYTHONPATH)")
    env = harness.HarnessEnv.load()
    work = Path(tempfile.mkdtemp(prefix="rmt-kjit-bench-"))
    ko = harness.build_rmt_ko(work / "kbuild", harness_env=env)
    share = work / "share"
    files = share / "files"
    files.mkdir(parents=True)
    _inputs(files)
    py = ROOT / ".venv" / "bin" / "python"
    t0 = time.monotonic()
    r = harness.run_in_guest(
        f"""
        insmod {ko} || exit 3
        {kmod_inputs.GUEST_ENV} {py} {Path(__file__).resolve()} --guest {files} "$RMT_OUT" --rounds {rounds} || exit 5
        rmmod rmt || exit 4
        """,
        timeout=300 + 120 * rounds, cpus=4, out_dir=share, cwd=ROOT, harness_env=env,
        load_modules=("zram",),
        extra_cmdline=("clocksource=tsc", "tsc=reliable") if clock == "tsc" else ())
    f = share / "bench.json"
    if not f.exists():
        print(r.output[-3000:], file=sys.stderr)
        r.check()
        return 1
    res = json.loads(f.read_text())
    res["guest_s"] = round(time.monotonic() - t0)
    res["clock"] = clock
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"one boot, clock {clock}, {rounds} interleaved rounds, engines {res['engines']}, "
          f"jit_stats: {res.get('jit_stats')}")
    print("\n".join(summarize(res)))
    r.check()           # dmesg clean, exit 0
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_kmod_jit.json")
    ap.add_argument("--clock", choices=("hpet", "tsc"), default="hpet",
                    help="the guest's clocksource (default: the kernel's choice, the HPET)")
    ap.add_argument("--guest", nargs=2, type=Path, metavar=("FILES", "OUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.guest:
        return guest(a.guest[0], a.guest[1], a.rounds)
    return host(a.rounds, a.out, a.clock)


if __name__ == "__main__":
    sys.exit(main())
