#!/usr/bin/env python3
"""The loop that keeps a model fresh, on the sim target, across a workload change.

    rmt-loop-demo [--out DIR] [--img DIR] [--phase-a N] [--phase-b N] [--duration-ms MS]
                  [--min-runs N] [--max-trips N] [--push-at EPOCH]

(`make loop-demo`, a few minutes.)  examples/forced_migration.rmt is inserted
into a fresh sim-target state (its properties with it) with all-zero weights,
then epoch after epoch the CFS simulator runs one workload with the program
attached in shadow mode, `cpu_bound` for the first N epochs and `numa` after
(a new seed each epoch), and after each epoch one `rmtctl model refresh` of
the predictor runs, judging by accuracy: label `verdict` (the kernel's own
can_migrate_task result), score `y_0` (the live MLP's imitation head); the
trainer is `rmt-loop-train` on the latest records.

At epoch --push-at an operator error is staged: the all-zero weights (always
DENY) are pushed by hand with `model stage` + `model promote`, bypassing the
loop's judgement; with --max-trips the loop watches them from its next step
and rolls them back once the guard (max_streak DENY 8 per pid) has tripped more
than that many times.

As an independent check of the loop's pairing of candidate records, the demo
recomputes each judged candidate's accuracy on the host: the candidate's
weights (the trainer's output) on the epoch's traced features, with the VM's
integer inference (learn.quantize.emulate_mlp).

Writes DIR/loop.json = IMG/model_loop.json (one row per epoch, the model's history) and
IMG/model_loop_accuracy.png.
Everything is seeded; the numbers repeat.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rmt.casestudies import forced_migration_loop as fml
from rmt.casestudies.forced_migration_loop import zero_blobs
from rmt.contract import objfile, project
from rmt.contract import weights as W
from rmt.ctl.refresh import candidate_file
from rmt.ctl.sim import SimTarget
from rmt.learn import features, quantize
from rmt.sched_sim import workloads
from rmt.sched_sim.hook import Hook, SimTargetSession
from rmt.sched_sim.simulator import Simulator

ROOT = project.guess()          # the source checkout (rmt.contract.project)
EXAMPLE = ROOT / "examples" / "forced_migration.rmt"
BIN = fml.BIN


def log(msg: str) -> None:
    print(msg, flush=True)


def rmtctl(state: Path, *args: str) -> dict | list:
    """Case study 1's rmtctl (a failure exits), its -j output parsed."""
    return json.loads(fml.rmtctl(state, "-j", *args).stdout)


def host_accuracy(records: list[dict], blob: bytes, model: objfile.Model) -> float | None:
    """Accuracy of `blob`'s output 0 against `verdict`, by the VM's integer inference on the
    traced features (the records' own y_0 is the live model's)."""
    if not records:
        return None
    ds = features.from_records(records)
    y, _ = quantize.emulate_mlp(W.read_weights(blob, model), ds.x, model.in_lo, model.in_hi)
    return round(float(np.mean((y[:, 0] > 0) == (ds.verdict != 0))), 6)


def plot(rows: list[dict], phase_a: int, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = [r["epoch"] for r in rows]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(ep, [r["live_accuracy"] for r in rows], "o-", color="tab:blue",
            label="live model (runs of the epoch)")
    cand = [(r["epoch"], r["candidate_accuracy"]) for r in rows
            if r["candidate_accuracy"] is not None]
    if cand:
        ax.plot(*zip(*cand), "s", color="tab:orange", mfc="none", ms=8,
                label="staged candidate (same runs)")
    ax.axvline(phase_a + 0.5, color="grey", ls="--")
    ax.text(phase_a + 0.6, 0.02, "workload: cpu_bound -> numa", color="grey", fontsize=8,
            transform=ax.get_xaxis_transform())
    marks = {"promote": ("tab:green", "promote"), "rollback": ("tab:red", "rollback"),
             "push": ("tab:purple", "hand push (all DENY)")}
    seen = set()
    for r in rows:
        for what in r["events"]:
            c, label = marks[what]
            ax.axvline(r["epoch"] + (0.35 if what != "push" else 0.25), color=c, lw=1.5,
                       label=None if what in seen else label)
            seen.add(what)
    ax.set_ylabel("accuracy vs the kernel's verdict")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("rmtctl model refresh after each epoch (sim target, CFS simulator)",
                 fontsize=10)
    ax2.bar(ep, [r["guard_trips"] for r in rows], color="tab:red", alpha=0.6)
    ax2.set_ylabel("guard trips")
    ax2.set_xlabel("epoch (one simulated workload run each)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rmt-loop-demo", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "model_loop"))
    ap.add_argument("--img", default=None,
                    help="where the figure and model_loop.json go (default: --out; "
                         "`make loop-demo` writes docs/img)")
    ap.add_argument("--phase-a", type=int, default=6, help="cpu_bound epochs")
    ap.add_argument("--phase-b", type=int, default=10, help="numa epochs after them")
    ap.add_argument("--duration-ms", type=int, default=400, help="simulated time per epoch")
    ap.add_argument("--min-runs", type=int, default=200)
    ap.add_argument("--max-trips", type=int, default=3)
    ap.add_argument("--push-at", type=int, default=12, help="epoch after which the all-DENY "
                    "weights are pushed by hand (0: never)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    img = Path(a.img) if a.img else out
    if out.exists():
        if any(out.iterdir()) and not (out / "sim-state").exists():
            print(f"rmt-loop-demo: --out {out}: exists and is not an earlier demo's output "
                  f"(no sim-state/ in it); choose an empty or new directory", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True)
    state, traces = out / "sim-state", out / "train.jsonl"
    t0 = time.time()

    obj_path = out / "forced_migration.rmtb"
    subprocess.run([str(BIN / "rmtc"), "compile", str(EXAMPLE), "-o", str(obj_path)],
                   check=True, capture_output=True)
    prog = objfile.read(obj_path.read_bytes())
    model = next(m for m in prog.models if m.name == "predictor")
    pid = str(rmtctl(state, "insert", str(obj_path))["id"])          # verified, properties kept
    for name, blob in zero_blobs(prog).items():
        (out / f"{name}.zero.bin").write_bytes(blob)
        rmtctl(state, "model", "load", pid, name, str(out / f"{name}.zero.bin"))
    log(f"inserted program {pid} with all-zero weights ({time.time() - t0:.0f} s)")

    train = (f"{BIN / 'rmt-loop-train'} {{traces}} {{out}} --obj {obj_path} --recent 3000")
    refresh = ["model", "refresh", pid, "predictor", "--traces", str(traces), "--train", train,
               "--label", "verdict", "--score", "y_0", "--min-runs", str(a.min_runs)]
    if a.max_trips >= 0:
        refresh += ["--max-trips", str(a.max_trips)]
    rows: list[dict] = []
    cand_blob: bytes | None = None
    trips_before = 0
    for epoch in range(1, a.phase_a + a.phase_b + 1):
        kind = "cpu_bound" if epoch <= a.phase_a else "numa"
        wl = workloads.make(kind, epoch, topology=(2, 4, 2), duration_ms=a.duration_ms,
                            load=1.5)
        session = SimTargetSession(SimTarget(state), int(pid))
        hook = Hook(session)
        sim = Simulator(wl, hook).run().summary()
        hook.close()
        trips = rmtctl(state, "stats", pid)["guard_trips"]
        version = rmtctl(state, "model", "show", pid)[0]["version"]
        n_before = sum(1 for _ in open(traces)) if traces.exists() else 0
        r = rmtctl(state, *refresh)
        new = [json.loads(ln) for ln in traces.read_text().splitlines()[n_before:]]
        step = r.get("step", {})
        row = {"epoch": epoch, "workload": wl.name, "soft_calls": sim["soft_calls"],
               "live_version": version, "guard_trips": trips - trips_before,
               "action": r["action"], "live_accuracy": step.get("live_accuracy"),
               "candidate_accuracy": step.get("candidate_accuracy"),
               "candidate_accuracy_host": None, "events": []}
        trips_before = trips
        if step.get("candidate_accuracy") is not None and cand_blob is not None:
            # only the records of this epoch's runs (the step drains just those)
            row["candidate_accuracy_host"] = host_accuracy(new, cand_blob, model)
        if r["action"] in ("promote", "rollback"):
            row["events"].append(r["action"])
        for k in ("version", "candidate", "runs", "trips"):
            if k in r:
                row[k] = r[k]
        if r["action"] in ("promote", "unstage"):
            row["judged"] = {k: r[k] for k in ("runs", "live_accuracy", "candidate_accuracy",
                                               "lost", "unpaired")}
        if r["action"] == "stage":
            cand_blob = candidate_file(traces).read_bytes()
        if epoch == a.push_at:
            show = rmtctl(state, "model", "show", pid)[0]
            if show.get("candidate"):
                rmtctl(state, "model", "unstage", pid, "predictor")
            rmtctl(state, "model", "stage", pid, "predictor", str(out / "predictor.zero.bin"))
            rmtctl(state, "model", "promote", pid, "predictor")
            row["events"].append("push")
        rows.append(row)
        log(f"epoch {epoch:2d} {wl.name:22s} live v{version} "
            f"acc {row['live_accuracy'] if row['live_accuracy'] is not None else '-':<8} "
            f"cand {row['candidate_accuracy'] if row['candidate_accuracy'] is not None else '-':<8}"
            f" (host {row['candidate_accuracy_host'] if row['candidate_accuracy_host'] is not None else '-':<8})"
            f" trips {row['guard_trips']:3d}  -> {r['action']}" +
            (" ; hand push of the all-DENY weights" if "push" in row["events"] else ""))

    history = rmtctl(state, "model", "history", pid, "predictor")
    config = {k: v for k, v in vars(a).items() if k not in ("out", "img")}
    result = {"config": config, "seconds": round(time.time() - t0, 1), "epochs": rows,
              "history": history}
    img.mkdir(parents=True, exist_ok=True)
    for path in (out / "loop.json", img / "model_loop.json"):
        path.write_text(json.dumps(result, indent=1) + "\n")
    plot(rows, a.phase_a, img / "model_loop_accuracy.png")
    log(f"wrote {img / 'model_loop.json'} and {img / 'model_loop_accuracy.png'} "
        f"({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
