#!/usr/bin/env python3
"""Case study 1 on a real kernel: collect forced-migration traces from rmt.ko.

One QEMU boot of Debian's 6.1 kernel (tools/qemu/harness.py): insmod rmt.ko,
`rmtctl --target kernel insert` examples/forced_migration.rmt (shadow mode: the
kernel's own can_migrate_task verdict is used, the program only watches and
traces), `rmtctl model load` the sim-trained weights when
results/forced_migration/models/ has them (else all-zero weights: the trace
carries the features and the kernel's verdict either way), then run real
workloads one after another, draining `rmtctl trace ID -o` into
OUT/traces/<workload>.jsonl every few seconds (the kernel's ring holds 4096
records) and saving `rmtctl stats` per workload in OUT/stats/<workload>.json.

Why the insert skips the verifier in the guest: Z3 under TCG takes minutes;
the same verifier runs on the host first, on the same object, and its verdict
(OUT/verifier.txt) is what the guest's `rmtctl insert` records (accepted today;
were it rejected, the program would go in with `--force`, as the sim loop does, and
OUT/guest.json would say "forced").

    .venv/bin/rmt-kernel-traces [--out DIR] [--seconds S]
        [--workloads a,b,...]                       (`make kernel-traces`)
    .venv/bin/rmt-kernel-traces --topology 2x2x2 --workloads numa_remote,...
        [--until-forced N --budget S]               (`make kernel-traces-numa`)

--topology NODESxCORESxTHREADS gives the guest SMT, MC and NUMA levels (the
harness's Topology); the NUMA workloads (NUMA_WORKLOADS) need two nodes or more.
--until-forced N repeats the workload list, one round after another, until the
traces hold N forced migrations (the derived label of learn/features.py) or the
guest has spent --budget seconds; each round appends to the same per-workload
trace files.

The guest half is this file run with --guest (inside the chroot of the host
root, so the repo's .venv and rmtctl are the host's).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rmt.contract import project
from typing import TYPE_CHECKING

ROOT = project.guess()          # the source checkout (rmt.contract.project)

if TYPE_CHECKING:
    from rmt.qemu import harness

EXAMPLE = ROOT / "examples" / "forced_migration.rmt"
SIM_MODELS = ROOT / "results" / "forced_migration" / "models"
PY = Path(sys.executable)      # the guest sees the host's root: the same interpreter runs there
DRAIN_EVERY_S = 3.0

# Real workloads (sh -c, run in /tmp: stress-ng refuses a read-only cwd).  {t}: seconds.
# Under TCG on 2 vCPUs plain CPU hogs make the balancer call can_migrate_task only
# 20-60 times a second (docs/kernel-harness.md); each mix is chosen to produce soft
# decisions (the ones the program traces: hard vetoes never reach the table).
WORKLOADS: dict[str, str] = {
    # hogs pinned to CPU 0 keep CPU 1's balancer scanning CPU 0's queue (hard vetoes, not
    # traced) and finding the unpinned pipe ping-pong pairs there (soft decisions)
    "pinned_mix": "taskset -c 0 stress-ng --cpu 4 --timeout {t}s --quiet & "
                  "stress-ng --switch 4 --timeout {t}s --quiet & "
                  "stress-ng --yield 2 --timeout {t}s --quiet; wait",
    # sched_yield() storms only, no pinning
    "yield": "stress-ng --yield 6 --timeout {t}s --quiet",
    # a parallel build of a generated C tree, again and again until the time is up
    "make_j4": "end=$(( $(date +%s) + {t} )); "
               "while [ $(date +%s) -lt $end ]; do make -s -C /tmp/cproj clean; "
               "timeout $(( end - $(date +%s) )) make -s -j4 -C /tmp/cproj >/dev/null 2>&1; "
               "done; true",
    # process creation: new tasks everywhere, short lives
    "fork": "stress-ng --fork 4 --timeout {t}s --quiet",
    # pipe ping-pong between task pairs: wake-ups, short runs, cache-hot tasks
    "switch": "stress-ng --switch 4 --timeout {t}s --quiet",
}

# Workloads for a multi-node guest ({n0}/{n1}: node 0's/1's CPU list, {all}: every CPU,
# {ncpu}: how many, {half}: half as many).  "Started on one node, memory on the other":
# numactl binds both, then after 2 s the tasks' CPU affinity is widened to every CPU
# (the memory policy stays; `w PID`), so the load
# balancer may move them and NUMA balancing (kernel.numa_balancing=1) records faults that
# pull them towards their memory -- the case migrate_degrades_locality() has an opinion on.
_WIDEN = ("w() {{ for p in $1 $(pgrep -P $1); do taskset -a -p -c {all} $p; done "
          ">/dev/null 2>&1; }}; ")
NUMA_WORKLOADS: dict[str, str] = {
    # memory-bound workers, memory on node 0, started on node 1
    "numa_remote": _WIDEN + "numactl --membind=0 --cpunodebind=1 stress-ng --vm {ncpu} "
                   "--vm-bytes 24M --vm-keep --timeout {t}s --quiet & a=$!; sleep 2; w $a; wait",
    # the same plus pipe ping-pong pairs with their memory on node 1, started on node 0:
    # two groups each pulled to the other node, cache-hot tasks everywhere
    "numa_cross": _WIDEN + "numactl --membind=0 --cpunodebind=1 stress-ng --vm {half} "
                  "--vm-bytes 24M --vm-keep --timeout {t}s --quiet & a=$!; "
                  "numactl --membind=1 --cpunodebind=0 stress-ng --switch {half} "
                  "--timeout {t}s --quiet & b=$!; sleep 2; w $a; w $b; wait",
    # an imbalance the balancer cannot fix: hogs pinned to node 0 beside twice as many
    # unpinned ping-pong pairs as CPUs, started there with their memory there; the
    # balancers meet pinned hogs (some-pinned) and cache-hot (buddy) wakees they refuse
    # until nr_balance_failed exceeds cache_nice_tries -- then those go, forced
    "numa_pinned": _WIDEN + "taskset -c {n0} stress-ng --cpu {half} --timeout {t}s --quiet & "
                   "numactl --membind=0 --cpunodebind=0 stress-ng --switch {ncpu} "
                   "--timeout {t}s --quiet & a=$!; sleep 2; w $a; wait",
}
ALL_WORKLOADS = {**WORKLOADS, **NUMA_WORKLOADS}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- guest side

def make_cproj(path: Path, nfiles: int = 48) -> None:
    """A generated C project (deterministic) for the parallel-build workload."""
    path.mkdir(parents=True, exist_ok=True)
    objs = []
    for i in range(nfiles):
        body = "\n".join(
            f"static long f{i}_{k}(long x) {{ long s = 0; for (long j = 0; j < x; j++) "
            f"s += (j * {k + 3}) ^ (s >> {k % 7 + 1}); return s; }}" for k in range(24))
        calls = " + ".join(f"f{i}_{k}(n)" for k in range(24))
        (path / f"u{i}.c").write_text(f"{body}\nlong unit{i}(long n) {{ return {calls}; }}\n")
        objs.append(f"u{i}.o")
    decl = "".join(f"long unit{i}(long);\n" for i in range(nfiles))
    total = " + ".join(f"unit{i}(3)" for i in range(nfiles))
    (path / "main.c").write_text(f"#include <stdio.h>\n{decl}int main(void) "
                                 f"{{ printf(\"%ld\\n\", {total}); return 0; }}\n")
    (path / "Makefile").write_text(
        f"OBJS = main.o {' '.join(objs)}\nCFLAGS = -O2\n"
        "prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n"
        "%.o: %.c\n\t$(CC) $(CFLAGS) -c -o $@ $<\n"
        "clean:\n\trm -f prog *.o\n")


def rmtctl(*args: str) -> str:
    """`rmtctl --target kernel ARGS` in this process (the CLI's own code path; a fresh Python
    per call costs seconds under TCG).  Returns stdout; raises on a non-zero status."""
    from rmt.ctl import cli
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(["--target", "kernel", *args])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    if rc:
        raise RuntimeError(f"rmtctl {' '.join(args)}: status {rc}: {err.getvalue().strip()}")
    return out.getvalue()


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def guest_topology() -> dict:
    """What the guest kernel made of its CPUs and nodes (recorded in guest.json)."""
    nodes = sorted(p.name for p in Path("/sys/devices/system/node").glob("node[0-9]*"))
    cpus = {p.name: _read(str(p / "cpulist")) for p in
            (Path("/sys/devices/system/node") / n for n in nodes)}
    sd = Path("/sys/kernel/debug/sched/domains/cpu0")
    domains = [{"name": _read(str(d / "name")), "cache_nice_tries":
                int(_read(str(d / "cache_nice_tries")) or -1)}
               for d in sorted(sd.glob("domain[0-9]*"))]
    return {"ncpu": os.cpu_count(), "nodes": cpus,
            "distance": {n: _read(f"/sys/devices/system/node/{n}/distance") for n in nodes},
            "sched_domains_cpu0": domains,
            "smt_siblings_cpu0": _read("/sys/devices/system/cpu/cpu0/topology/"
                                       "thread_siblings_list"),
            "numa_balancing": _read("/proc/sys/kernel/numa_balancing"),
            "numactl": shutil.which("numactl") or ""}


def workload_vars(topo: dict) -> dict[str, str]:
    """Template values for the workload commands from the guest's own node CPU lists."""
    n = topo["ncpu"] or 1
    cl = list(topo["nodes"].values())
    allc = f"0-{n - 1}"
    return {"ncpu": str(n), "half": str(max(1, n // 2)), "all": allc,
            "n0": cl[0] if cl else allc, "n1": cl[1] if len(cl) > 1 else allc}


def count_forced(path: Path) -> int:
    from rmt.learn import features
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln]
    return int(features.from_records(recs).forced.sum()) if recs else 0


def run_workload(pid: str, wl: str, cmd: str, seconds: int, out: Path,
                 previous_after: dict) -> dict:
    """Run one workload, draining its trace (appended to OUT/traces/WL.jsonl) every few
    seconds; OUT/stats/WL.json lists each run's counters before and after it, and the new
    records it traced (other workloads run between two rounds of this one).
    `previous_after`: the counters read just before the program's previous drain."""
    path = out / "traces" / f"{wl}.jsonl"
    n0 = sum(1 for _ in path.open())
    stats = out / "stats" / f"{wl}.json"
    old = json.loads(stats.read_text()) if stats.exists() else None
    before = json.loads(rmtctl("--json", "stats", pid))
    t0 = time.time()
    p = subprocess.Popen(["sh", "-c", cmd], cwd="/tmp", stdout=subprocess.DEVNULL,
                         start_new_session=True)
    while True:
        try:
            p.wait(timeout=DRAIN_EVERY_S)
            break
        except subprocess.TimeoutExpired:
            rmtctl("trace", pid, "-o", str(path))
        if time.time() - t0 > seconds + 30:          # a stuck workload: stop it
            os.killpg(p.pid, signal.SIGKILL)
    # counters first, then the last drain, then the counters again: the file holds every
    # call counted between `before` and `after`, and only calls made after the previous
    # drain (which came after the previous run's `after`) and before `drained`, so
    #   soft(before -> after) <= new records + drops <= soft(previous after -> drained)
    # holds by construction, however many calls land between the reads under load
    after = json.loads(rmtctl("--json", "stats", pid))
    rmtctl("trace", pid, "-o", str(path))
    drained = json.loads(rmtctl("--json", "stats", pid))
    n = sum(1 for _ in path.open())
    secs = round(time.time() - t0, 1)
    st = {"seconds": round(secs + (old["seconds"] if old else 0.0), 1), "records": n,
          "status": p.returncode,
          "runs": [*(old["runs"] if old else []),
                   {"before": before, "after": after, "drained": drained,
                    "previous_after": previous_after, "new": n - n0, "seconds": secs}]}
    stats.write_text(json.dumps(st, indent=1))
    return {"records": n, "new": n - n0, "seconds": secs, "status": p.returncode,
            "after": after}


MIGRATION_COST = Path("/sys/kernel/debug/sched/migration_cost_ns")


def guest_main(files: Path, out: Path, workloads: list[str], seconds: int,
               until_forced: int = 0, budget: float = 0.0, migration_cost_ns: int = -1) -> int:
    from rmt.ctl import cli
    t_start = time.time()
    topo = guest_topology()
    if migration_cost_ns >= 0:
        # sysctl_sched_migration_cost (tuned's throughput-performance profile: 5 ms); the
        # hook reads the live value, so the traces carry it
        MIGRATION_COST.write_text(f"{migration_cost_ns}\n")
    topo["migration_cost_ns"] = _read(str(MIGRATION_COST))
    if any(w in NUMA_WORKLOADS for w in workloads):
        if len(topo["nodes"]) < 2 or not topo["numactl"]:
            log(f"rmt-kt: the NUMA workloads need >= 2 nodes and numactl; the guest has "
                f"{len(topo['nodes'])} node(s), numactl {topo['numactl'] or 'missing'}")
            return 5
        if topo["numa_balancing"] != "1":
            Path("/proc/sys/kernel/numa_balancing").write_text("1\n")
            topo["numa_balancing_set"] = _read("/proc/sys/kernel/numa_balancing")
    tvars = workload_vars(topo)
    host = json.loads((files / "verdict.json").read_text())
    # the host's verifier verdict on this very object (see the module docstring)
    cli.verify_object = lambda blob, name: (host["accepted"], host["report"])
    res: dict = {"workloads": {}, "verifier": "accepted" if host["accepted"] else "forced",
                 "topology": topo, "rounds": []}
    obj = files / "forced_migration.rmtb"
    info = json.loads(rmtctl("--json", "insert", *(() if host["accepted"] else ("--force",)),
                             str(obj)))
    pid = str(info["id"])
    res["insert"] = info
    for name in ("predictor", "tree_predictor"):
        rmtctl("model", "load", pid, name, str(files / f"{name}.bin"))
    res["models"] = json.loads(rmtctl("--json", "model", "show", pid) or "null")
    (out / "traces").mkdir(parents=True, exist_ok=True)
    (out / "stats").mkdir(parents=True, exist_ok=True)
    if "make_j4" in workloads:
        make_cproj(Path("/tmp/cproj"))
    for wl in workloads:
        (out / "stats" / f"{wl}.json").unlink(missing_ok=True)
    previous_after = json.loads(rmtctl("--json", "stats", pid))
    rmtctl("trace", pid, "-o", str(out / "traces" / "_before.jsonl"))
    for wl in workloads:
        (out / "traces" / f"{wl}.jsonl").unlink(missing_ok=True)
        (out / "traces" / f"{wl}.jsonl").touch()
    rounds = 0
    forced = {wl: 0 for wl in workloads}
    while True:
        rounds += 1
        for wl in workloads:
            st = run_workload(pid, wl, ALL_WORKLOADS[wl].format(t=seconds, **tvars), seconds,
                              out, previous_after)
            previous_after = st["after"]
            forced[wl] = count_forced(out / "traces" / f"{wl}.jsonl")
            prev = res["workloads"].get(wl, {"records": 0, "seconds": 0.0, "runs": []})
            res["workloads"][wl] = {"records": st["records"],
                                    "seconds": round(prev["seconds"] + st["seconds"], 1),
                                    "forced": forced[wl],
                                    "runs": [*prev["runs"], {"status": st["status"],
                                                             "new": st["new"]}]}
            log(f"rmt-kt: round {rounds} {wl}: {st['new']} new records in {st['seconds']} s "
                f"({st['records']} in all, {forced[wl]} forced)")
        total = sum(forced.values())
        res["rounds"].append({"round": rounds, "forced": total,
                              "elapsed_s": round(time.time() - t_start, 1)})
        (out / "guest.json").write_text(json.dumps(res, indent=1))     # progress
        spent = time.time() - t_start
        per_round = spent / rounds
        if not until_forced or total >= until_forced or spent + per_round > budget:
            break
    res["forced_total"] = sum(forced.values())
    rmtctl("remove", pid)
    (out / "guest.json").write_text(json.dumps(res, indent=1))
    return 0


# ---------------------------------------------------------------- host side

def zero_blobs(prog) -> dict[str, bytes]:
    from rmt.casestudies.forced_migration_loop import zero_blobs as zb
    return zb(prog)


def prepare_inputs(files: Path, weights: str) -> str:
    """The compiled object, the host verifier's verdict, and the weights.  Returns which
    weights: "sim-trained" or "zero"."""
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    from rmt.verifier import verify_bytes
    from rmt.verifier.report import text
    from rmt.contract import weights as W
    files.mkdir(parents=True, exist_ok=True)
    prog = compile_source(EXAMPLE.read_text(), str(EXAMPLE))
    blob = objfile.write(prog)
    (files / "forced_migration.rmtb").write_bytes(blob)
    rep = verify_bytes(blob)
    report = text(rep, str(EXAMPLE))
    (files / "verdict.json").write_text(json.dumps({"accepted": rep.accepted,
                                                    "report": report}))
    (files.parent / "verifier.txt").write_text(report)
    have_sim = all((SIM_MODELS / f"{m}.bin").exists() for m in ("predictor", "tree_predictor"))
    kind = "sim-trained" if weights == "sim" or (weights == "auto" and have_sim) else "zero"
    if kind == "sim-trained":
        blobs = {m: (SIM_MODELS / f"{m}.bin").read_bytes() for m in ("predictor",
                                                                      "tree_predictor")}
    else:
        blobs = zero_blobs(prog)
    for name, b in blobs.items():
        W.read_weights(b, next(m for m in prog.models if m.name == name))   # loader rules
        (files / f"{name}.bin").write_bytes(b)
    return kind


def build_ko(out: Path) -> Path:
    """rmt.ko for a run from the command line, built the one way (harness.build_rmt_ko())
    into OUT/kbuild; the tests pass the session's `rmt_ko` to collect() instead."""
    from rmt.qemu import harness
    if shutil.which("gcc") is None:
        raise SystemExit("gcc is needed to build rmt.ko")
    t = time.time()
    try:
        ko = harness.build_rmt_ko(out.resolve() / "kbuild")
    except RuntimeError as e:
        raise SystemExit(str(e)[-6000:]) from None
    log(f"rmt.ko built ({time.time() - t:.0f} s)")
    return ko


def collect(out: Path, ko: Path, workloads: list[str], seconds: int, weights: str = "auto",
            timeout: float | None = None, console: bool = False,
            harness_env: harness.HarnessEnv | None = None,
            topology: harness.Topology | None = None, memory_mb: int = 1024,
            until_forced: int = 0, budget: float = 0.0, migration_cost_ns: int = -1):
    """Boot once with `ko` (rmt.ko from harness.build_rmt_ko()) and collect; returns the
    harness's GuestResult (out/ holds the rest).  topology: the guest's sockets/cores/
    threads/nodes (None: 2 vCPUs, one node).  until_forced > 0: repeat the workload list
    until that many forced migrations are traced or `budget` guest seconds are spent.
    migration_cost_ns >= 0: set sysctl_sched_migration_cost in the guest first."""
    from rmt.qemu import harness
    henv = harness_env or harness.HarnessEnv.load()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for d in ("traces", "stats"):
        if (out / d).exists():
            shutil.rmtree(out / d)
    (out / "guest.json").unlink(missing_ok=True)
    t = time.time()
    kind = prepare_inputs(out / "files", weights)
    log(f"object compiled and verified on the host ({time.time() - t:.0f} s); "
        f"weights: {kind}; booting for {len(workloads)} workloads x {seconds} s")
    script = f"""
    insmod {ko} || exit 3
    {PY} {Path(__file__).resolve()} --guest --files {out / 'files'} --out "$RMT_OUT" \\
        --workloads {','.join(workloads)} --seconds {seconds} \
        --until-forced {until_forced} --budget {budget} --migration-cost-ns {migration_cost_ns}
    rc=$?
    rmmod rmt || exit 4
    exit $rc
    """
    limit = timeout or (90 + len(workloads) * (seconds + 25) + (budget if until_forced else 0))
    t = time.time()
    r = harness.run_in_guest(script, timeout=limit, out_dir=out, cwd=ROOT, harness_env=henv,
                             console_stream=sys.stderr if console else None,
                             topology=topology, memory_mb=memory_mb)
    meta = {"weights": kind, "workloads": workloads, "seconds_per_workload": seconds,
            "topology": topology.describe() if topology else "2 vCPUs, 1 node",
            "memory_mb": memory_mb, "until_forced": until_forced, "budget_s": budget,
            "migration_cost_ns": migration_cost_ns,
            "guest_wall_s": round(time.time() - t, 1), "kernel": henv.kernel_release,
            "kernel_package": f"{henv.image_package} {henv.image_version}".strip()}
    (out / "collect.json").write_text(json.dumps(meta, indent=1))
    log(f"guest done in {meta['guest_wall_s']} s")
    return r


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "kernel_traces"))
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated, from {', '.join(ALL_WORKLOADS)} (the last "
                         f"{len(NUMA_WORKLOADS)} need --topology with 2+ nodes)")
    ap.add_argument("--topology", help="guest NODESxCORESxTHREADS, e.g. 2x2x2 "
                                       "(default: 2 vCPUs, one node)")
    ap.add_argument("--memory", type=int, default=1024, help="guest MiB (1024)")
    ap.add_argument("--until-forced", type=int, default=0, metavar="N",
                    help="repeat the workloads until N forced migrations are traced")
    ap.add_argument("--budget", type=float, default=1800.0,
                    help="guest seconds for --until-forced (1800)")
    ap.add_argument("--migration-cost-ns", type=int, default=-1, metavar="NS",
                    help="set sysctl_sched_migration_cost in the guest (default: the "
                         "kernel's 500000; tuned's throughput-performance uses 5000000)")
    ap.add_argument("--seconds", type=int, default=55, help="guest seconds per workload")
    ap.add_argument("--weights", choices=("auto", "sim", "zero"), default="auto")
    ap.add_argument("--console", action="store_true", help="echo the guest console")
    ap.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    wls = [w for w in args.workloads.split(",") if w]
    bad = [w for w in wls if w not in ALL_WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; known: {', '.join(ALL_WORKLOADS)}")
    if args.seconds < 1 or args.until_forced < 0 or args.budget < 0 or args.memory < 256:
        ap.error("--seconds must be >= 1, --until-forced and --budget >= 0, --memory >= 256")
    if args.guest:
        return guest_main(Path(args.files), Path(args.out), wls, args.seconds,
                          args.until_forced, args.budget, args.migration_cost_ns)
    from rmt.qemu import harness
    topo = None
    if args.topology:
        try:
            topo = harness.Topology.parse(args.topology)
        except ValueError as e:
            ap.error(str(e))
    numa = [w for w in wls if w in NUMA_WORKLOADS]
    if numa and (topo is None or topo.nodes < 2):
        ap.error(f"workload(s) {numa} need --topology with two nodes or more, e.g. 2x2x2")
    r = collect(Path(args.out), build_ko(Path(args.out)), wls, args.seconds, args.weights,
                console=args.console, topology=topo, memory_mb=args.memory,
                until_forced=args.until_forced, budget=args.budget,
                migration_cost_ns=args.migration_cost_ns)
    out = Path(args.out)
    g = out / "guest.json"
    if not g.exists():
        log(f"the guest did not finish (exit status {r.exit_status}, timed out {r.timed_out}):\n"
            + r.output[-4000:])
        return 1
    res = json.loads(g.read_text())
    for wl, w in res["workloads"].items():
        print(f"{wl:14s} {w['records']:7d} records  {w.get('forced', 0):5d} forced  "
              f"{w['seconds']:6.1f} s")
    if r.exit_status != 0:
        log(f"the guest stopped early (exit status {r.exit_status}, timed out {r.timed_out}); "
            "the traces above are what it drained:\n" + r.output[-2000:])
        return 1
    problems = r.kernel_problems()
    if problems:
        log("kernel problems in dmesg: " + "; ".join(problems[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
