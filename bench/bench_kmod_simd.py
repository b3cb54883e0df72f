"""rmt.ko in the kernel: the MLP engine, scalar int32 vs AVX2 in a kernel FPU section,
at the hooks' real call sites (vm_kernel/kmod/rmt_kmod_model_isa.c: rmt.model_isa).

One QEMU boot of Debian's 6.1 kernel (4 vCPUs, TCG).  The MLP-bearing examples are loaded
once each (on the default engine, rmt.ko's JIT), with random weights of their declared shape
and the table entries of bench/bench_kmod_jit.py (ROUTES, so the hook's traffic reaches the
model-calling action), attached to their hook in shadow mode, and measured under the same load
as there (stress-ng hogs for the sched hook, a swapping hog in a small memory cgroup for
mm.swap_fault) with rmt.model_isa=scalar and rmt.model_isa=avx2 in turn: ROUNDS rounds, the
program order rotated and the engine order alternating.  Per measurement the hook's own
counters (RMT_IOC_HOOK_STATS: runs, ns_total, ns_vm) and model_isa_stats (the inferences that
ran in a kernel FPU section, and those refused it).  Printed per program: ns per run, median
and range over the rounds, per engine, and the scalar / AVX2 ratio of the medians with its
per-round range.  Only forced_migration's 17-12-2 MLP is proved int32-exact with 8/16-bit
dense layers, the path AVX2 replaces; forced_migration_all (VARIANTS) is the same program
calling it on every run; conv_mlp (a conv1d layer: always the exact path) is the control.
Timings only: nothing here asserts.

    make bench-kmod-simd            # = PYTHONPATH=... bench/bench_kmod_simd.py --rounds 5
    .venv/bin/python bench/bench_kmod_simd.py [--rounds N] [--clock tsc|hpet] [--only NAME]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAMS = Path("/sys/module/rmt/parameters")
ISAS = ("scalar", "avx2")
PROGRAMS = ("forced_migration_all", "forced_migration", "conv_mlp")
# Under the stress-ng load most can_migrate_task calls are hard-vetoed (running or pinned
# tasks), and forced_migration does not look at those: its MLP runs in a few per cent of the
# hook's runs.  forced_migration_all is the same program, weights and entries with that test
# (and the property that states it) taken out, so that every run at the call site infers.
VARIANTS = {"forced_migration_all": ("forced_migration", [
    ("    if ctx.hard_veto == 0 {\n        policy.apply();\n    }", "    policy.apply();"),
    ("property hard_constraints_stay: ctx.hard_veto != 0 => decision == DEFAULT;\n", "")])}
# Table entries (`rmtctl table add` lines after the table's name) beyond bench_kmod_jit's
# ROUTES: forced_migration's newly idle balancing (idle 2) goes to the model-calling action
# too, so every soft candidate calls the MLP (there, idle 2 is sent to `allow`, which does
# not: about one run in ten called the MLP).
ROUTES = {name: ["policy 2 0..1023 action predict 1 0", "policy 1 0..1023 action predict 1 0",
                 "policy 0 0..1023 action predict 1 0"]
          for name in ("forced_migration", "forced_migration_all")}


def _src(name: str) -> Path:
    top = ROOT / "examples" / f"{name}.rmt"
    return top if top.exists() else ROOT / "examples" / "small" / f"{name}.rmt"


def _source(name: str) -> tuple[str, str]:
    """The program's source and the example it is (or is derived from)."""
    base, edits = VARIANTS.get(name, (name, []))
    text = _src(base).read_text()
    for old, new in edits:
        if old not in text:
            sys.exit(f"bench_kmod_simd.py: {_src(base)} no longer has {old!r} ({name})")
        text = text.replace(old, new)
    return text, base


# ------------------------------------------------------------------------------ guest side

def _simd() -> dict[str, int]:
    kv = dict(x.split("=") for x in (PARAMS / "model_isa_stats").read_text().split())
    return {"avx2_runs": int(kv["avx2_runs"]), "nofpu": int(kv["nofpu"])}


def guest(files: Path, out: Path, rounds: int) -> int:
    import bench_kmod_jit as J
    import guest_hooks as G
    from rmt.ctl import hook_abi as H
    from rmt.ctl.btf import Btf
    from rmt.ctl.kernel import RmtDevice
    dev, btf = RmtDevice(), Btf.load()
    hooks = json.loads((files / "programs.json").read_text())
    names = list(hooks)
    cg = Path("/sys/fs/cgroup/rmt_hog")     # where G.hog runs the swap load
    swap = "mm.swap_fault" in hooks.values()
    if swap:
        (files / "hog.py").write_text(G.HOG)
        G.swap_setup()
        G.sh("modprobe zram num_devices=1 || true; echo 256M > /sys/block/zram0/disksize; "
             "mkswap /dev/zram0 >/dev/null; swapon /dev/zram0")
        cg.mkdir(exist_ok=True)
    J.ROUTES.update(ROUTES)
    progs = {name: J._load(dev, files, name, True, os.stat(cg).st_ino if swap else 0)
             for name in names}
    res: dict = {"rounds": [], "hooks": hooks,
                 "engines": {n: e.info().engine for n, e in progs.items()},
                 "stats_at_start": (PARAMS / "model_isa_stats").read_text().strip()}
    for r in range(rounds):
        row: dict = {}
        order = names[r % len(names):] + names[:r % len(names)]
        for i, name in enumerate(order):
            hook = H.HOOKS[hooks[name]].id
            H.attach(dev, hook, progs[name].id, flags=H.F_SHADOW, btf=btf)
            for isa in (ISAS if (r + i) % 2 == 0 else ISAS[::-1]):
                (PARAMS / "model_isa").write_text(isa)
                s0 = _simd()
                m = J._measure(dev, files, hook)
                s1 = _simd()
                row[f"{name}/{isa}"] = {**m, **{k: s1[k] - s0[k] for k in s0}}
            H.detach(dev, hook)
        res["rounds"].append(row)
        (out / "bench.json").write_text(json.dumps(res, indent=1))
    (PARAMS / "model_isa").write_text("auto")
    for e in progs.values():
        e.unload()
    if swap:
        G.sh("swapoff /dev/zram0")
    res["stats_at_end"] = (PARAMS / "model_isa_stats").read_text().strip()
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    return 0


# ------------------------------------------------------------------------------- host side

def _inputs(files: Path, names: list[str]) -> None:
    from bench_inputs import model_weights
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    hooks: dict[str, str] = {}
    for name in names:
        text, base = _source(name)
        prog = compile_source(text, f"{name}.rmt")
        (files / f"{name}.rmtb").write_bytes(objfile.write(prog))
        rng = random.Random(base)       # a variant gets its example's weights
        for m in prog.models:
            (files / f"{name}.{m.name}.bin").write_bytes(model_weights(m, rng))
        hooks[name] = prog.hook.name
    (files / "programs.json").write_text(json.dumps(hooks))


def summarize(res: dict) -> list[str]:
    lines = ["| program (hook) | model_isa | runs | in an FPU section | FPU refused | "
             "VM ns/run (ns_vm/runs) | handler ns/run (ns_total/runs) |",
             "|---|---|---|---|---|---|---|"]
    ratios = ["", "| program | scalar / AVX2, VM ns/run: median (per round) | handler ns/run | "
              "scalar − AVX2 per MLP inference in an FPU section, ns |", "|---|---|---|---|"]
    for name, hook in res["hooks"].items():
        med = {}
        for isa in ISAS:
            rows = [r[f"{name}/{isa}"] for r in res["rounds"]
                    if r.get(f"{name}/{isa}", {}).get("runs")]
            if not rows:
                lines.append(f"| {name} ({hook}) | {isa} | 0 | | | | |")
                continue
            per = {k: [x[k] / x["runs"] for x in rows] for k in ("ns_vm", "ns_total")}
            med[isa] = {k: statistics.median(v) for k, v in per.items()}
            runs = sum(x["runs"] for x in rows)

            def cell(k: str) -> str:
                return f"{statistics.median(per[k]):.0f} ({min(per[k]):.0f}–{max(per[k]):.0f})"
            fpu = sum(x["avx2_runs"] for x in rows)
            refused = sum(x["nofpu"] for x in rows)
            lines.append(f"| {name} ({hook}) | {isa} | {runs} | {fpu} | {refused} | "
                         f"{cell('ns_vm')} | {cell('ns_total')} |")
        if len(med) < 2:
            continue
        per_round = [(r[f"{name}/scalar"]["ns_vm"] / r[f"{name}/scalar"]["runs"])
                     / (r[f"{name}/avx2"]["ns_vm"] / r[f"{name}/avx2"]["runs"])
                     for r in res["rounds"]
                     if r.get(f"{name}/scalar", {}).get("runs") and
                     r.get(f"{name}/avx2", {}).get("runs") and r[f"{name}/avx2"]["ns_vm"]]
        s, a = med["scalar"], med["avx2"]
        spread = f" ({min(per_round):.2f}–{max(per_round):.2f})" if per_round else ""
        # the VM time the engine change moved, spread over the inferences it changed
        calls = sum(r[f"{name}/avx2"]["avx2_runs"] for r in res["rounds"]
                    if f"{name}/avx2" in r)
        runs = sum(r[f"{name}/avx2"]["runs"] for r in res["rounds"] if f"{name}/avx2" in r)
        per_call = (f"{(s['ns_vm'] - a['ns_vm']) / (calls / runs):.0f} "
                    f"({calls / runs:.2f} per run)" if calls else "no AVX2 inference")
        ratios.append(f"| {name} | {s['ns_vm'] / a['ns_vm']:.2f}×{spread} | "
                      f"{s['ns_total'] / a['ns_total']:.2f}× | {per_call} |")
    return lines + ratios


def host(rounds: int, out: Path, clock: str, names: list[str]) -> int:
    import bench_kmod_jit as J

    def prepare(files: Path) -> int:
        _inputs(files, names)
        return 2 * len(names)
    res, r = J.boot(Path(__file__), rounds, out, clock, prepare, 90)
    return J.report(res, r, rounds, clock,
                    f"program engines (1 JIT) {res['engines']}; model_isa_stats at the end: "
                    f"{res.get('stats_at_end')}" if res else "", summarize(res) if res else [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_kmod_simd.json")
    ap.add_argument("--clock", choices=("hpet", "tsc"), default="tsc",
                    help="the guest's clocksource (default tsc: the HPET, TCG's default, is "
                         "an emulated device read in every clock read)")
    ap.add_argument("--only", action="append", choices=PROGRAMS,
                    help="measure only this program (repeatable; default: all)")
    ap.add_argument("--guest", nargs=2, type=Path, metavar=("FILES", "OUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    if a.guest:
        return guest(a.guest[0], a.guest[1], a.rounds)
    return host(a.rounds, a.out, a.clock, a.only or list(PROGRAMS))


if __name__ == "__main__":
    sys.exit(main())
