"""rmt.ko in the kernel: its interpreter vs its JIT (vm_kernel/kmod/rmt_kmod_jit.c), side by side.

One QEMU boot of Debian's 6.1 kernel (4 vCPUs, TCG).  Every example program (examples/*.rmt
and examples/small/*.rmt) is loaded twice, once with rmt.jit=0 (the interpreter) and once
with rmt.jit=1 (lowered to eBPF, the kernel's BPF JIT), with what it needs to do its work:
- models: the swap prefetchers' `next` tree trained as `make demo` and
  `make kernel-prefetch-eval` train it (rmt.casestudies.kernel_prefetch_eval.train_tree);
  every other model random weights of its declared shape, as bench/bench_jit.py gives them in
  userspace (bench/bench_inputs.py: every layer, every tree to its declared depth);
- table entries: ROUTES below, written as `rmtctl table add` lines, route the hook's traffic
  to the action that does the program's work (a program absent there runs its defaults).
Each program is attached to its hook in shadow mode (RMT_HOOK_F_SHADOW: it runs and its
decision is counted, not applied), so every program and engine sees the same kernel under
the same load:
- sched.can_migrate_task: stress-ng hogs for SCHED_S seconds;
- mm.swap_fault: a 64 MiB hog in a 32 MiB memory cgroup, zram swap.
ROUNDS rounds; in each, every program once per engine (the program order rotated, the engine
order alternating).  Each run reads the hook's own counters before and after
(RMT_IOC_HOOK_STATS): runs, ns_total (the handlers' time) and ns_vm (of that, the time in the
VM: the program on its engine and its accounting; one clock read is inside it).  The rest of
ns_total is the context build and the decision (for the kretprobe on can_migrate_task it also
spans the probed function, entry to return).  Printed per program: ns per run, median and
range over the rounds, per engine, and the interpreter / JIT ratio of the medians with its
per-round range.  A program that cannot be loaded or attached is listed with the error, not
left out.  Timings only: nothing here asserts.

    .venv/bin/python bench/bench_kmod_jit.py [--rounds N] [--clock hpet|tsc] [--out FILE]
    (make bench-kmod-jit)

--clock tsc boots the guest with clocksource=tsc tsc=reliable: the guest otherwise marks TCG's
TSC unstable and reads the HPET (an emulated device) in every ktime_get_ns(), which then
weighs on ns_vm and ns_total alike.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCHED_S = 6
PARAMS = Path("/sys/module/rmt/parameters")
TRACE_CAPACITY = 4096       # what `rmtctl --target kernel insert` gives a program
ENGINES = ("interp", "jit")

# `rmtctl table add PROG TABLE` lines (what follows TABLE) per example; {cg} is the id of the
# memory cgroup the swap load runs in (its directory's inode number).
ROUTES: dict[str, list[str]] = {
    # the tests' policy (tests/kernel/test_kmod_hooks.py): both models on the soft candidates
    "forced_migration": ["policy 2 0..1000 action allow",
                         "policy 1 0..1023 action predict 1 0",
                         "policy 0 0..1023 action predict 1 0"],
    # the learned action for the load's cgroup, with kernel_prefetch_eval's arguments
    "swap_prefetch": ["policy {cg} action learned 16 1 20"],
    "adaptive_prefetch": ["policy {cg} action learned 16 1 20"],
    "conv_mlp": ["policy {cg} action learned"],
    "forest": ["policy {cg} action predict"],
    "guard": [f"veto 1 {idle} action keep" for idle in range(3)],
    "match_kinds": ["by_group 0x10000/16 action keep", "by_group 0/16 action move",
                    "by_flags 0&&&0 2..1000 0 action keep priority 2",
                    "by_flags 0&&&0 0..1000 1 action move priority 1"],
    "trace": [f"observe {level} action record" for level in range(4)],
}
# The models whose weights are trained rather than random (file in FILES).
TRAINED = {("swap_prefetch", "next"): "next.bin", ("adaptive_prefetch", "next"): "next.bin"}


def examples() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.rmt")) + \
        sorted((ROOT / "examples" / "small").glob("*.rmt"))


# ------------------------------------------------------------------------------ guest side

def _hook_counts(dev, hook: int) -> dict[str, int]:
    """runs, ns_total and ns_vm of a hook."""
    from rmt.ctl import hook_abi as H
    c = H.stats(dev, hook).counters
    return {"runs": c["runs"], "ns_total": c["ns_total"], "ns_vm": c["ns_vm"]}


def _load(dev, files: Path, name: str, jit: bool, cg: int):
    """Program `name` on one engine with its weights and ROUTES entries."""
    from rmt.ctl.cli import parse_entry
    from rmt.ctl.kernel import KernelEngine
    (PARAMS / "jit").write_text("1" if jit else "0")
    try:
        eng = KernelEngine.load(dev, (files / f"{name}.rmtb").read_bytes(),
                                trace_capacity=TRACE_CAPACITY)
    finally:
        (PARAMS / "jit").write_text("1")
    try:
        for i, m in enumerate(eng.prog.models):
            eng.model_load(i, (files / f"{name}.{m.name}.bin").read_bytes())
        tables = {t.name: i for i, t in enumerate(eng.prog.tables)}
        for line in ROUTES.get(name, []):
            tname, rest = line.format(cg=cg).split(None, 1)
            eng.table_insert(tables[tname], parse_entry(eng.prog.tables[tables[tname]], rest))
    except BaseException:
        eng.unload()
        raise
    return eng


def _measure(dev, files: Path, hook: int) -> dict[str, int]:
    """The hook's counters over one run of its load."""
    import guest_hooks as G
    from rmt.ctl import hook_abi as H
    a = _hook_counts(dev, hook)
    if hook == H.HOOK_SCHED:
        G.stress(SCHED_S).wait()
    else:
        G.hog(files, G.HOG_MB, G.LIMIT_MB)
    b = _hook_counts(dev, hook)
    return {k: b[k] - a[k] for k in a}


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
    cg = Path("/sys/fs/cgroup/rmt_hog")     # where G.hog runs the swap load
    cg.mkdir(exist_ok=True)
    names = json.loads((files / "programs.json").read_text())
    res: dict = {"rounds": [], "skipped": {}, "engines": {}, "hooks": {}}
    progs: dict = {}
    for name in names:
        for jit in (False, True):
            tag = ENGINES[jit]
            try:
                eng = _load(dev, files, name, jit, os.stat(cg).st_ino)
            except Exception as e:                      # noqa: BLE001 -- reported, not hidden
                res["skipped"][name] = f"load on the {tag} engine: {e}"
                break
            progs[(name, tag)] = eng
            res["engines"][f"{name}/{tag}"] = eng.info().engine
            res["hooks"][name] = eng.prog.hook.name
        if name in res["skipped"]:
            for tag in ENGINES:
                if (name, tag) in progs:
                    progs.pop((name, tag)).unload()
    runnable = [n for n in names if n not in res["skipped"]]
    for r in range(rounds):
        row: dict = {}
        order = runnable[r % len(runnable):] + runnable[:r % len(runnable)] if runnable else []
        for i, name in enumerate(order):
            hook = H.HOOKS[res["hooks"][name]].id
            for tag in (ENGINES if (r + i) % 2 == 0 else ENGINES[::-1]):
                try:
                    H.attach(dev, hook, progs[(name, tag)].id, flags=H.F_SHADOW, btf=btf)
                except Exception as e:                  # noqa: BLE001 -- reported, not hidden
                    res["skipped"][name] = f"attach to {res['hooks'][name]} ({tag}): {e}"
                    runnable.remove(name)
                    break
                row[f"{name}/{tag}"] = _measure(dev, files, hook)
        res["rounds"].append(row)
        (out / "bench.json").write_text(json.dumps(res, indent=1))
    for hook in {H.HOOKS[res["hooks"][n]].id for n in runnable}:
        H.detach(dev, hook)
    for e in progs.values():
        e.unload()
    G.sh("swapoff /dev/zram0")
    res["jit_stats"] = (PARAMS / "jit_stats").read_text().strip()
    (out / "bench.json").write_text(json.dumps(res, indent=1))
    return 0


# ------------------------------------------------------------------------------- host side

def _inputs(files: Path) -> list[str]:
    """files/<name>.rmtb and files/<name>.<model>.bin for every example; their names."""
    from bench_inputs import model_weights
    from rmt.casestudies.kernel_prefetch_eval import train_tree
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    trained = {"next.bin": train_tree(min_stable=20, depth=12, min_freq=0.5)}
    names = []
    for src in examples():
        prog = compile_source(src.read_text(), str(src.relative_to(ROOT)))
        (files / f"{src.stem}.rmtb").write_bytes(objfile.write(prog))
        rng = random.Random(src.stem)
        for m in prog.models:
            blob = TRAINED.get((src.stem, m.name))
            (files / f"{src.stem}.{m.name}.bin").write_bytes(
                trained[blob] if blob else model_weights(m, rng))
        names.append(src.stem)
    (files / "programs.json").write_text(json.dumps(names))
    return names


def _per_run(rows: list[dict]) -> dict[str, list[float]]:
    per = {k: [x[k] / x["runs"] for x in rows] for k in ("ns_total", "ns_vm")}
    per["rest"] = [t - v for t, v in zip(per["ns_total"], per["ns_vm"])]
    return per


def summarize(res: dict) -> list[str]:
    """The table (one row per program and engine) and the interpreter / JIT ratios."""
    lines = ["| program (hook) | engine | runs | handler ns/run (ns_total/runs) | VM ns/run "
             "(ns_vm/runs) | rest ns/run (context build, decision) | rest share |",
             "|---|---|---|---|---|---|---|"]
    ratios = ["", "| program | interp / JIT, VM ns/run: median (per round) | handler ns/run |",
              "|---|---|---|"]
    names = list(res["hooks"]) + [n for n in res["skipped"] if n not in res["hooks"]]
    for name in names:
        med: dict = {}
        for tag in ENGINES:
            rows = [r[f"{name}/{tag}"] for r in res["rounds"]
                    if r.get(f"{name}/{tag}", {}).get("runs")]
            if not rows:
                continue
            per = _per_run(rows)
            med[tag] = {k: statistics.median(v) for k, v in per.items()}

            def cell(k: str) -> str:
                return f"{statistics.median(per[k]):.0f} ({min(per[k]):.0f}–{max(per[k]):.0f})"
            share = med[tag]["rest"] / med[tag]["ns_total"] if med[tag]["ns_total"] else 0
            lines.append(f"| {name} ({res['hooks'][name]}) | {tag} | "
                         f"{sum(x['runs'] for x in rows)} | {cell('ns_total')} | "
                         f"{cell('ns_vm')} | {cell('rest')} | {share:.0%} |")
        if name in res["skipped"]:
            lines.append(f"| {name} | not measured | {res['skipped'][name]} | | | | |")
            continue
        if len(med) < 2:
            why = "no runs on " + ", ".join(t for t in ENGINES if t not in med)
            lines.append(f"| {name} ({res['hooks'][name]}) | not measured | {why} | | | | |")
            continue
        per_round = [(r[f"{name}/interp"]["ns_vm"] / r[f"{name}/interp"]["runs"])
                     / (r[f"{name}/jit"]["ns_vm"] / r[f"{name}/jit"]["runs"])
                     for r in res["rounds"]
                     if r.get(f"{name}/interp", {}).get("runs")
                     and r.get(f"{name}/jit", {}).get("runs") and r[f"{name}/jit"]["ns_vm"]]
        i, j = med["interp"], med["jit"]
        spread = f" ({min(per_round):.2f}–{max(per_round):.2f})" if per_round else ""
        ratios.append(f"| {name} | {_ratio(i['ns_vm'], j['ns_vm'])}{spread} | "
                      f"{_ratio(i['ns_total'], j['ns_total'])} |")
    return lines + ratios


def _ratio(a: float, b: float) -> str:
    """a / b as "N.NN×"; a JIT median of 0 ns (below the clock's resolution) is no ratio."""
    return f"{a / b:.2f}×" if b else "n/a (JIT median 0 ns)"


def boot(script: Path, rounds: int, out: Path, clock: str, prepare, per_round_s: int):
    """One guest boot of `script --guest FILES OUT --rounds N` with rmt.ko loaded, the shared
    part of this bench and bench_kmod_simd.py.  prepare(files) writes the inputs and returns
    how many (program, engine) pairs a round runs (each may take per_round_s of TCG time).
    Returns (the bench.json the guest wrote, annotated and saved to `out`, or None; the run)."""
    import tempfile

    from rmt.qemu import harness
    try:
        import kmod_inputs
    except ModuleNotFoundError:
        sys.exit(f"{script.name}: run it with its make target (`make bench-kmod-jit`, "
                 f"`make bench-kmod-simd`): it needs the tests' helper folders on PYTHONPATH")
    env = harness.HarnessEnv.load()
    work = Path(tempfile.mkdtemp(prefix=f"rmt-{script.stem}-"))
    ko = harness.build_rmt_ko(work / "kbuild", harness_env=env)
    share = work / "share"
    files = share / "files"
    files.mkdir(parents=True)
    pairs = prepare(files)
    py = sys.executable              # the guest sees the host's root: the same interpreter
    load = os.getloadavg()
    t0 = time.monotonic()
    r = harness.run_in_guest(
        kmod_inputs.with_module(
            ko, f"{kmod_inputs.GUEST_ENV} {py} {script.resolve()} --guest {files} "
                f"\"$RMT_OUT\" --rounds {rounds}"),
        timeout=600 + per_round_s * pairs * rounds, cpus=4, out_dir=share, cwd=ROOT,
        harness_env=env, load_modules=("zram",),
        extra_cmdline=("clocksource=tsc", "tsc=reliable") if clock == "tsc" else ())
    f = share / "bench.json"
    if not f.exists():
        print(r.output[-3000:], file=sys.stderr)
        return None, r
    res = json.loads(f.read_text())
    res["guest_s"] = round(time.monotonic() - t0)
    res["clock"] = clock
    res["host_load"] = [round(x, 1) for x in (*load, *os.getloadavg())]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    return res, r


def report(res: dict | None, r, rounds: int, clock: str, about: str, lines: list[str]) -> int:
    """Print one boot's header line (the load around it, then `about`) and the summary
    `lines`; the guest's own checks (exit status, a clean dmesg) last."""
    if res is None:
        r.check()
        return 1
    print(f"one boot, clock {clock}, {rounds} interleaved rounds, {res['guest_s']} s; host "
          f"load average (1/5/15 min) before {res['host_load'][:3]}, after "
          f"{res['host_load'][3:]}; {about}")
    print("\n".join(lines))
    r.check()           # dmesg clean, exit 0
    return 0


def host(rounds: int, out: Path, clock: str) -> int:
    # About 20 s of TCG time per program, engine and round on an idle host; more when loaded.
    res, r = boot(Path(__file__), rounds, out, clock, lambda files: 2 * len(_inputs(files)),
                  60)
    return report(res, r, rounds, clock,
                  f"engines (0 interpreter, 1 JIT) {res['engines']}; jit_stats: "
                  f"{res.get('jit_stats')}" if res else "", summarize(res) if res else [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_kmod_jit.json")
    ap.add_argument("--clock", choices=("hpet", "tsc"), default="hpet",
                    help="the guest's clocksource (default: the kernel's choice, the HPET)")
    ap.add_argument("--guest", nargs=2, type=Path, metavar=("FILES", "OUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    if a.guest:
        return guest(a.guest[0], a.guest[1], a.rounds)
    return host(a.rounds, a.out, a.clock)


if __name__ == "__main__":
    sys.exit(main())
