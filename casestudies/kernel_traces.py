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


def guest_main(files: Path, out: Path, workloads: list[str], seconds: int) -> int:
    from rmt.ctl import cli
    host = json.loads((files / "verdict.json").read_text())
    # the host's verifier verdict on this very object (see the module docstring)
    cli.verify_object = lambda blob, name: (host["accepted"], host["report"])
    res: dict = {"workloads": {}, "verifier": "accepted" if host["accepted"] else "forced"}
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
    rmtctl("trace", pid, "-o", str(out / "traces" / "_before.jsonl"))
    for wl in workloads:
        path = out / "traces" / f"{wl}.jsonl"
        path.unlink(missing_ok=True)
        path.touch()
        before = json.loads(rmtctl("--json", "stats", pid))
        t0 = time.time()
        p = subprocess.Popen(["sh", "-c", WORKLOADS[wl].format(t=seconds)], cwd="/tmp",
                             stdout=subprocess.DEVNULL, start_new_session=True)
        while True:
            try:
                p.wait(timeout=DRAIN_EVERY_S)
                break
            except subprocess.TimeoutExpired:
                rmtctl("trace", pid, "-o", str(path))
            if time.time() - t0 > seconds + 30:          # a stuck workload: stop it
                os.killpg(p.pid, signal.SIGKILL)
        # counters first, then the last drain: every call the counters saw is in the file
        # (plus any that land between the two reads, and between the previous workload's
        # last drain and `before`: a call or two at most)
        after = json.loads(rmtctl("--json", "stats", pid))
        rmtctl("trace", pid, "-o", str(path))
        n = sum(1 for _ in path.open())
        st = {"seconds": round(time.time() - t0, 1), "records": n, "before": before,
              "after": after, "status": p.returncode}
        (out / "stats" / f"{wl}.json").write_text(json.dumps(st, indent=1))
        res["workloads"][wl] = {"records": n, "seconds": st["seconds"], "status": p.returncode}
        log(f"rmt-kt: {wl}: {n} records in {st['seconds']} s")
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
            harness_env: harness.HarnessEnv | None = None):
    """Boot once with `ko` (rmt.ko from harness.build_rmt_ko()) and collect; returns the
    harness's GuestResult (out/ holds the rest)."""
    from rmt.qemu import harness
    henv = harness_env or harness.HarnessEnv.load()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for d in ("traces", "stats"):
        if (out / d).exists():
            shutil.rmtree(out / d)
    t = time.time()
    kind = prepare_inputs(out / "files", weights)
    log(f"object compiled and verified on the host ({time.time() - t:.0f} s); "
        f"weights: {kind}; booting for {len(workloads)} workloads x {seconds} s")
    script = f"""
    insmod {ko} || exit 3
    {PY} {Path(__file__).resolve()} --guest --files {out / 'files'} --out "$RMT_OUT" \\
        --workloads {','.join(workloads)} --seconds {seconds}
    rc=$?
    rmmod rmt || exit 4
    exit $rc
    """
    budget = timeout or (90 + len(workloads) * (seconds + 25))
    t = time.time()
    r = harness.run_in_guest(script, timeout=budget, out_dir=out, cwd=ROOT, harness_env=henv,
                             console_stream=sys.stderr if console else None)
    meta = {"weights": kind, "workloads": workloads, "seconds_per_workload": seconds,
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
                    help=f"comma-separated, from {', '.join(WORKLOADS)}")
    ap.add_argument("--seconds", type=int, default=55, help="guest seconds per workload")
    ap.add_argument("--weights", choices=("auto", "sim", "zero"), default="auto")
    ap.add_argument("--console", action="store_true", help="echo the guest console")
    ap.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    wls = [w for w in args.workloads.split(",") if w]
    bad = [w for w in wls if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    if args.guest:
        return guest_main(Path(args.files), Path(args.out), wls, args.seconds)
    r = collect(Path(args.out), build_ko(Path(args.out)), wls, args.seconds, args.weights,
                console=args.console)
    out = Path(args.out)
    g = out / "guest.json"
    if not g.exists():
        log(f"the guest did not finish (exit status {r.exit_status}, timed out {r.timed_out}):\n"
            + r.output[-4000:])
        return 1
    res = json.loads(g.read_text())
    for wl, w in res["workloads"].items():
        print(f"{wl:14s} {w['records']:7d} records  {w['seconds']:6.1f} s")
    problems = r.kernel_problems()
    if problems:
        log("kernel problems in dmesg: " + "; ".join(problems[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
