#!/usr/bin/env python3
"""Case study 1, end to end on the sim target: learn forced migrations.

    collect   compile examples/forced_migration.rmt, `rmtctl insert` it into a
              sim-target state directory, load all-zero weights, run the CFS
              simulator on every workload with the program attached in shadow
              mode, `rmtctl trace` the records to OUT/traces/<workload>.jsonl
    train     MLP (numpy) and decision tree on the training workloads, model
              selection on the validation workloads (never the test ones)
    quantize  learn.quantize -> OUT/models/*.bin; float vs fixed agreement
    load      `rmtctl model load` both models
    evaluate  re-run the test workloads through the VM (shadow mode): the VM's
              own fixed-point outputs come back in the trace; accuracy,
              precision, recall and F1 per workload, float vs VM
    policy    veto predicted forced migrations (enforce-mode build of the same
              program, table entry predict(policy = 2)) vs the stock decision:
              modelled cache-refill cost and load imbalance
    report    results table on stdout, OUT/results.json, OUT/*.png

Usage: .venv/bin/rmt-forced-migration [--out DIR] [--quick]
(`make forced-migration`).  Everything is seeded: the same command gives the
same numbers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rmt.contract import project

import numpy as np

ROOT = project.guess()          # the source checkout (rmt.contract.project)

from rmt.compiler import compile_source
from rmt.contract import objfile  # noqa: E402
from rmt.learn import features, metrics, mlp, plots, quantize, tree  # noqa: E402
from rmt.ctl.sim import SimTarget  # noqa: E402
from rmt.sched_sim import workloads  # noqa: E402
from rmt.sched_sim.hook import EngineSession, Hook, SimTargetSession  # noqa: E402
from rmt.sched_sim.simulator import Simulator  # noqa: E402
from rmt.contract import codec
from rmt.contract import weights as W  # noqa: E402

EXAMPLE = ROOT / "examples" / "forced_migration.rmt"
BIN = Path(sys.executable).parent
HIDDEN = 12
TREE_DEPTH = 10
CLAMP = features.FEAT_MAX / features.FIX        # hidden activations clamp at +-32.0

# (kind, seed, topology, load, sched_migration_cost): test workloads differ from
# every training one in seed and, for most, in topology, load or migration
# cost; "mixed" is a kind never trained on.
MS = 1_000_000
SPLITS = {
    "train": [("cpu_bound", 1, (2, 4, 2), 1.5, MS // 2), ("bursty", 1, (2, 4, 2), 1.5, 5 * MS),
              ("pinned", 1, (2, 4, 2), 1.5, 2 * MS), ("short", 1, (2, 4, 2), 1.5, MS // 2),
              ("numa", 1, (2, 4, 2), 1.5, 5 * MS), ("cpu_bound", 4, (2, 4, 2), 2.5, 5 * MS),
              ("numa", 4, (4, 2, 2), 1.0, MS // 2)],
    "val": [("bursty", 2, (2, 2, 2), 2.0, MS // 2), ("numa", 2, (2, 4, 2), 1.0, 2 * MS)],
    "test": [("mixed", 3, (2, 4, 2), 1.5, 5 * MS), ("cpu_bound", 3, (4, 2, 2), 2.0, 2 * MS),
             ("pinned", 3, (2, 4, 2), 2.0, 5 * MS), ("short", 3, (2, 2, 2), 1.5, MS // 2),
             ("numa", 3, (4, 2, 2), 1.5, 5 * MS), ("bursty", 3, (2, 4, 2), 1.0, 5 * MS)],
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_wl(spec, duration_ms: int) -> workloads.Workload:
    kind, seed, topo, load, cost = spec
    return workloads.make(kind, seed, topology=topo, duration_ms=duration_ms, load=load,
                          migration_cost_ns=cost)


def run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def rmtctl(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN / "rmtctl"), "--state", str(state), *args], check)


# ---------------------------------------------------------------- steps

def zero_blobs(prog: objfile.Program) -> dict[str, bytes]:
    """All-zero weights: the program runs (and traces) before any training."""
    out = {}
    for m in prog.models:
        if m.kind == W.ModelKind.MLP:
            layers, n_in = [], m.n_in
            for ly in m.layers:
                layers.append(W.DenseLayer([[0] * n_in] * ly.n_out, [0] * ly.n_out, 0,
                                           ly.act != 0))
                n_in = ly.n_out
            out[m.name] = W.write_weights(W.mlp(layers, m.weight_bits))
        else:
            out[m.name] = W.write_weights(W.forest([W.Tree([W.Node(-1)], [[0] * m.n_out])],
                                                   m.n_in, kind=m.kind))
    return out


def insert(out: Path, state: Path, obj: Path) -> tuple[int, str]:
    r = rmtctl(state, "--json", "insert", str(obj), check=False)
    verdict = "accepted"
    if r.returncode != 0:
        reasons = [ln.strip() for ln in r.stderr.splitlines() if "may " in ln or "rejected" in ln]
        log("  verifier rejected the program:\n    " + "\n    ".join(reasons[:4]) +
            "\n  inserting with --force (the kernel-side validator still applies)")
        (out / "verifier.txt").write_text(r.stderr)
        r = rmtctl(state, "--json", "insert", "--force", str(obj))
        verdict = "forced"
    return json.loads(r.stdout)["id"], verdict


def simulate_into_target(state: Path, pid: int, wl: workloads.Workload, trace_out: Path
                         ) -> dict:
    session = SimTargetSession(SimTarget(state), pid)
    hook = Hook(session)
    t = time.time()
    m = Simulator(wl, hook).run()
    hook.close()
    rmtctl(state, "trace", str(pid), "-o", str(trace_out))
    s = m.summary()
    s["seconds"] = round(time.time() - t, 1)
    return s


def read_trace(path: Path) -> features.Dataset:
    return features.from_records([json.loads(ln) for ln in path.read_text().splitlines() if ln])


def train_models(data: dict[str, dict[str, features.Dataset]], epochs: int, seed: int):
    tr = features.Dataset.concat(list(data["train"].values()))
    va = features.Dataset.concat(list(data["val"].values()))
    log(f"train: {len(tr)} calls ({tr.verdict.sum()} allowed, {tr.forced.sum()} forced); "
        f"val: {len(va)} calls ({va.forced.sum()} forced)")
    best = None
    for hidden_seed in range(2):               # restarts; the validation set picks one
        cfg = mlp.TrainConfig(epochs=epochs, seed=seed + hidden_seed)
        log(f"MLP {features.NFEAT}-{HIDDEN}-2, restart {hidden_seed + 1}/2")
        model = mlp.train(tr.x / features.FIX, tr.labels, [HIDDEN], cfg,
                          val=(va.x / features.FIX, va.labels), clamp=CLAMP)
        pred = model.logits(va.x / features.FIX) > 0
        score = np.mean(pred == (va.labels > 0), axis=0)
        f1 = metrics.scores(va.forced, pred[:, 1])["f1"]
        key = (score.mean() + f1) / 2
        if best is None or key > best[0]:
            best = (key, model)
    log("decision tree (depth <= %d)" % TREE_DEPTH)
    w = np.stack([np.where(tr.labels[:, k] > 0, mlp.pos_weights(tr.labels, 50.0)[k], 1.0)
                  for k in range(2)], axis=1)
    best_tree = None
    for min_leaf in (2.0, 10.0, 40.0):
        t = tree.fit(tr.x, tr.labels, max_depth=TREE_DEPTH, sample_weight=w,
                     min_leaf_weight=min_leaf)
        pred = t.predict(va.x) > 0.5
        key = (np.mean(pred == (va.labels > 0)) +
               metrics.scores(va.forced, pred[:, 1])["f1"]) / 2
        log(f"  min leaf weight {min_leaf}: {len(t.nodes)} nodes, depth {t.depth}, "
            f"val score {key:.4f}")
        if best_tree is None or key > best_tree[0]:
            best_tree = (key, t)
    return best[1], best_tree[1]


def tune_threshold(scores: np.ndarray, labels: np.ndarray, candidates: np.ndarray) -> float:
    """The decision threshold with the best F1 on the validation set (ties: the
    smallest |threshold|, so 0 wins when it is as good)."""
    best = (-1.0, 0.0)
    for t in sorted(candidates, key=abs):
        f1 = metrics.scores(labels, scores > t)["f1"]
        if f1 > best[0] + 1e-9:
            best = (f1, float(t))
    return best[1]


def eval_rows(name: str, ds: features.Dataset, model, t, th: dict) -> list[dict]:
    """Per head and model: float vs the VM's traced outputs on one workload.  Head 1
    uses the thresholds tuned on validation (`th`), as the veto table entry does."""
    xf = ds.x / features.FIX
    lg, tp = model.logits(xf), t.predict(ds.x)
    preds = {
        "MLP float": np.stack([lg[:, 0] > 0, lg[:, 1] > th["mlp_float"]], 1),
        "MLP VM": np.stack([ds.outputs[:, 0] > 0, ds.outputs[:, 1] > th["mlp_int"]], 1),
        "tree float": np.stack([tp[:, 0] > 0.5, tp[:, 1] > th["tree_float"]], 1),
        "tree VM": np.stack([ds.outputs[:, 2] > 0, ds.outputs[:, 3] > th["tree_int"]], 1),
    }
    rows = []
    for head, label in ((0, ds.verdict), (1, ds.forced)):
        for mname, p in preds.items():
            rows.append({"workload": name, "head": ("imitate", "forced")[head],
                         "model": mname, **metrics.scores(label, p[:, head])})
    return rows


def policy_run(args) -> dict:
    """One test workload under the stock decision or the veto policy (enforce mode)."""
    spec, duration, mode, obj, blobs, th = args
    wl = make_wl(spec, duration)
    hook = Hook(None)
    if mode != "stock":
        from rmt.vm import CEngine
        prog = objfile.read(obj)
        eng = CEngine(obj)
        for i, m in enumerate(prog.models):
            eng.model_load(i, blobs[m.name])
        tb = prog.tables[0]
        act = next(i for i, a in enumerate(tb.actions) if a.name == "predict")
        policy = {"veto-mlp": 2, "veto-tree": 3, "imitate-mlp": 0}[mode]
        thr = {"veto-mlp": th["mlp_int"], "veto-tree": th["tree_int"]}.get(mode, 0)
        for idle in (0, 1, 2):
            eng.table_insert(0, __import__("rmt.contract.engine", fromlist=["Entry"]).Entry(
                codec.parse_matches(tb, [str(idle), "0..1024"]), act,
                codec.pack_params(tb.actions[act], [policy, thr])))
        hook = Hook(EngineSession(eng, prog))
    m = Simulator(wl, hook, keep_calls=False).run()
    hook.close()
    return {"workload": wl.name, "mode": mode, **m.summary()}


def latency_samples(obj: bytes, blobs: dict[str, bytes], wl: workloads.Workload,
                    n: int = 3000) -> dict[str, list[float]]:
    """Per-call time of engine.run (µs, through cffi) on contexts from a workload."""
    from rmt.vm import CEngine
    from rmt.sched_sim.hook import HOOK, ctx_fields
    ctxs = []

    class Grab(Hook):
        def decide(self, p, env, v):
            if len(ctxs) < n and not v.hard_veto:
                ctxs.append(codec.ctx_encode(HOOK, ctx_fields(p, env, v)))
            return v.migrate

    Simulator(wl, Grab(None), keep_calls=False).run()
    prog = objfile.read(obj)
    eng = CEngine(obj)
    out: dict[str, list[float]] = {}
    for i, m in enumerate(prog.models):
        eng.model_load(i, blobs[m.name])
    for label, e in (("program (MLP + tree)", eng),):
        ts = []
        for c in ctxs:
            t0 = time.perf_counter_ns()
            e.run(c)
            ts.append((time.perf_counter_ns() - t0) / 1000)
        out[label] = ts
    hard = codec.ctx_encode(HOOK, {"hard_veto": 1})
    ts = []
    for _ in ctxs:
        t0 = time.perf_counter_ns()
        eng.run(hard)
        ts.append((time.perf_counter_ns() - t0) / 1000)
    out["hard veto (no table, no model)"] = ts
    return out


# ---------------------------------------------------------------- main

@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "forced_migration"))
    ap.add_argument("--duration-ms", type=int, default=3000, help="simulated time per workload")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="short workloads, few epochs (a smoke run)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration_ms, args.epochs = 600, 8
    out = Path(args.out)
    for d in ("traces", "models"):
        (out / d).mkdir(parents=True, exist_ok=True)
    state = out / "sim-state"
    if state.exists():
        import shutil
        shutil.rmtree(state)
    t_start = time.time()

    # ---- collect
    log("== collect: compile, verify + insert, zero weights, simulate in shadow mode, trace")
    obj_path = out / "forced_migration.rmtb"
    run([str(BIN / "rmtc"), "compile", str(EXAMPLE), "-o", str(obj_path)])
    obj = obj_path.read_bytes()
    prog = objfile.read(obj)
    pid, verdict = insert(out, state, obj_path)
    for name, blob in zero_blobs(prog).items():
        (out / "models" / f"{name}.zero.bin").write_bytes(blob)
        rmtctl(state, "model", "load", str(pid), name, str(out / "models" / f"{name}.zero.bin"))
    sims: dict[str, dict] = {}
    data: dict[str, dict[str, features.Dataset]] = {}
    for split, specs in SPLITS.items():
        data[split] = {}
        for spec in specs:
            wl = make_wl(spec, args.duration_ms)
            path = out / "traces" / f"{wl.name}.jsonl"
            path.unlink(missing_ok=True)
            s = simulate_into_target(state, pid, wl, path)
            data[split][wl.name] = ds = read_trace(path)
            assert len(ds) == s["soft_calls"], "every soft call is traced once"
            sims[wl.name] = {"split": split, **s}
            log(f"  {split:5s} {wl.name:24s} {s['calls']:6d} calls, {s['soft_calls']:5d} traced,"
                f" {s['forced_calls']:4d} forced  ({s['seconds']} s)")

    # ---- train
    log("== train")
    model, t = train_models(data, args.epochs, args.seed)

    # ---- quantize
    log("== quantize")
    qm = quantize.quantize_mlp(model, in_frac=8, model=prog.models[0])
    tw = quantize.export_tree(t, kind=prog.models[1].kind)
    blobs = {"predictor": W.write_weights(qm.weights), "tree_predictor": W.write_weights(tw)}
    for name, blob in blobs.items():
        (out / "models" / f"{name}.bin").write_bytes(blob)
        W.read_weights(blob, next(m for m in prog.models if m.name == name))   # loader rules
    va = features.Dataset.concat(list(data["val"].values()))
    lg_val = model.logits(va.x / features.FIX)[:, 1]
    th_mlp = tune_threshold(lg_val, va.forced, np.linspace(-6, 6, 49))
    tree_val = quantize.emulate_tree(tw, va.x)[:, 1]
    th_tree = tune_threshold(tree_val, va.forced, np.arange(-1024, 1024, 64))
    th = {"mlp_float": th_mlp, "mlp_int": qm.threshold(th_mlp),
          "tree_int": int(th_tree), "tree_float": (th_tree / 1024 + 1) / 2}
    log(f"  forced-head thresholds from validation F1: MLP logit {th_mlp:+.2f} "
        f"(VM {th['mlp_int']}), tree leaf {int(th_tree)}")
    test = features.Dataset.concat(list(data["test"].values()))
    fixed, sat = quantize.emulate_mlp(qm.weights, test.x, prog.models[0].in_lo,
                                      prog.models[0].in_hi)
    agree_mlp = metrics.agreement(fixed > 0, model.logits(test.x / features.FIX) > 0)
    agree_tree = metrics.agreement(quantize.emulate_tree(tw, test.x) > 0, t.predict(test.x) > 0.5)
    log(f"  exporter: fixed vs float agreement on {len(test)} test inputs: MLP {agree_mlp:.4%}, "
        f"tree {agree_tree:.4%}; {sat} saturations; output scale 2^{qm.out_frac}")

    # ---- verify with the trained weights (proves the accumulators cannot overflow
    # for these weights even where the signature-only proof cannot)
    r = run([str(BIN / "rmtc"), "verify", str(obj_path), "--weights",
             f"predictor={out / 'models' / 'predictor.bin'}", "--weights",
             f"tree_predictor={out / 'models' / 'tree_predictor.bin'}"], check=False)
    verdict_weights = "accepted" if r.returncode == 0 else "rejected"
    (out / "verifier-with-weights.txt").write_text(r.stdout + r.stderr)
    log(f"  rmtc verify --weights: {verdict_weights}")

    # ---- load
    log("== load (rmtctl model load)")
    for name in blobs:
        r = rmtctl(state, "model", "load", str(pid), name, str(out / "models" / f"{name}.bin"))
        for line in r.stderr.splitlines():      # the program's properties, proved at load
            if ": property " in line or " properties proved in " in line:
                log(f"  {line}")

    # ---- evaluate through the VM
    log("== evaluate: test workloads through the VM (shadow mode)")
    rows = []
    for spec in SPLITS["test"]:
        wl = make_wl(spec, args.duration_ms)
        path = out / "traces" / f"{wl.name}.eval.jsonl"
        path.unlink(missing_ok=True)
        simulate_into_target(state, pid, wl, path)
        ds = read_trace(path)
        same = np.array_equal(ds.x, data["test"][wl.name].x)
        rows += eval_rows(wl.name, ds, model, t, th)
        data["test"][wl.name] = ds
        log(f"  {wl.name}: {len(ds)} calls (same contexts as collection: {same})")
    alltest = features.Dataset.concat(list(data["test"].values()))
    rows += eval_rows("ALL (held out)", alltest, model, t, th)
    vm_agree = metrics.agreement(alltest.outputs[:, :2], fixed) if len(fixed) == len(alltest) \
        else float("nan")
    stats = json.loads(rmtctl(state, "--json", "stats", str(pid)).stdout)

    # ---- policy
    log("== policy: veto predicted forced migrations vs stock (enforce mode)")
    enforce = compile_source(EXAMPLE.read_text().replace("mode shadow;", "mode enforce;"),
                             str(EXAMPLE))
    eobj = objfile.write(enforce)
    jobs = [(spec, args.duration_ms, mode, eobj, blobs, th) for spec in SPLITS["test"]
            for mode in ("stock", "veto-mlp", "veto-tree")]
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        policy = list(ex.map(policy_run, jobs))

    # ---- latency
    lat = latency_samples(obj, blobs, make_wl(SPLITS["test"][0], min(args.duration_ms, 1000)))

    # ---- report
    results = {"command": "make forced-migration", "args": vars(args), "verifier": verdict,
               "verifier_with_weights": verdict_weights,
               "simulations": sims, "eval": rows, "policy": policy,
               "exporter_agreement": {"mlp": agree_mlp, "tree": agree_tree,
                                      "saturations": sat, "emulation_vs_vm": vm_agree},
               "vm_stats": stats, "output_frac_bits": qm.out_frac, "thresholds": th,
               "tree": {"nodes": len(t.nodes), "depth": t.depth},
               "latency_us_median": {k: float(np.median(v)) for k, v in lat.items()},
               "seconds": round(time.time() - t_start, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print_report(results)
    write_plots(out, rows, policy, alltest, lat, th)
    return 0


def print_report(r: dict) -> None:
    print("\nCase study 1: forced migrations on the sim target "
          f"(verifier: {r['verifier']} without weights, {r['verifier_with_weights']} with the "
          f"trained weights; {r['seconds']} s)\n")
    print("Held-out test workloads (float = numpy model on the traced features; "
          "VM = fixed-point model's own outputs in the C VM, from the trace)")
    for head, what in (("imitate", "imitate can_migrate_task (label: kernel verdict)"),
                       ("forced", "predict forced migration (label: hot && "
                                  "nr_balance_failed > cache_nice_tries)")):
        print(f"\n  head '{head}': {what}")
        print(f"  {'workload':24s} {'model':11s} {'n':>6s} {'pos':>5s} {'acc':>7s} "
              f"{'prec':>7s} {'recall':>7s} {'F1':>7s}")
        for row in r["eval"]:
            if row["head"] != head:
                continue
            print(f"  {row['workload']:24s} {row['model']:11s} {row['n']:6d} {row['positives']:5d}"
                  f" {row['accuracy']:7.4f} {row['precision']:7.4f} {row['recall']:7.4f}"
                  f" {row['f1']:7.4f}")
    gap = {}
    for row in r["eval"]:
        if row["workload"].startswith("ALL"):
            gap[(row["head"], row["model"])] = row["accuracy"]
    print("\n  float/fixed-point gap (held-out accuracy, float - VM): " + ", ".join(
        f"{h} {m}: {gap[(h, m + ' float')] - gap[(h, m + ' VM')]:+.4f}"
        for h in ("imitate", "forced") for m in ("MLP", "tree")))
    e = r["exporter_agreement"]
    print(f"  exporter: fixed-point vs float decisions agree on {e['mlp']:.4%} (MLP), "
          f"{e['tree']:.4%} (tree) of test inputs; emulation vs VM outputs {e['emulation_vs_vm']:.4%}")
    print("\nPolicy (enforce mode): veto predicted forced migrations, guard max_streak DENY 8 per pid")
    print(f"  {'workload':24s} {'mode':10s} {'forced':>7s} {'vetoed':>7s} {'migr':>6s} "
          f"{'refill ms':>10s} {'imbal':>6s} {'idle-ovl ms':>11s} {'work ms':>9s}")
    for p in r["policy"]:
        print(f"  {p['workload']:24s} {p['mode']:10s} {p['forced_migrations']:7d} "
              f"{p['vetoed_forced']:7d} {p['migrations']:6d} {p['refill_ms']:10.1f} "
              f"{p['mean_imbalance']:6.3f} {p['idle_overload_ms']:11d} {p['work_ms']:9.0f}")
    print("\nLatency per hook call (C VM via cffi, median µs): " + ", ".join(
        f"{k} {v:.2f}" for k, v in r["latency_us_median"].items()))


def write_plots(out: Path, rows: list[dict], policy: list[dict], alltest, lat,
                thresholds: dict) -> None:
    wls = [r["workload"] for r in rows if r["head"] == "imitate" and r["model"] == "MLP VM"]
    for head in ("imitate", "forced"):
        series = {}
        for mname in ("MLP float", "MLP VM", "tree float", "tree VM"):
            series[mname] = [next(r["accuracy"] for r in rows if r["workload"] == w and
                                  r["head"] == head and r["model"] == mname) for w in wls]
        lo = min(min(v) for v in series.values())
        plots.grouped_bars(wls, series, out / f"accuracy_{head}.png",
                           f"Held-out accuracy per workload, head '{head}'", "accuracy",
                           (max(0.0, lo - 0.02), 1.0))
    th = thresholds
    mats = {"imitate, MLP in VM": metrics.confusion(alltest.verdict, alltest.outputs[:, 0] > 0),
            "forced, MLP in VM": metrics.confusion(alltest.forced,
                                                   alltest.outputs[:, 1] > th["mlp_int"]),
            "forced, tree in VM": metrics.confusion(alltest.forced,
                                                    alltest.outputs[:, 3] > th["tree_int"])}
    plots.confusion_matrices(mats, out / "confusion.png", "Held-out test workloads (C VM)")
    plots.histogram(lat, out / "latency.png", "Hook call latency (C VM via cffi)", "µs per call")
    pw = sorted({p["workload"] for p in policy})
    for metric, label in (("refill_ms", "modelled cache refill (ms)"),
                          ("mean_imbalance", "mean max-min nr_running")):
        series = {m: [next(p[metric] for p in policy if p["workload"] == w and p["mode"] == m)
                      for w in pw] for m in ("stock", "veto-mlp", "veto-tree")}
        plots.grouped_bars(pw, series, out / f"policy_{metric}.png",
                           f"Policy vs stock: {label}", label)
    log(f"plots and results.json in {out}")


if __name__ == "__main__":
    sys.exit(main())
