#!/usr/bin/env python3
"""Case study 1 on real-kernel traces: how well do the forced-migration models do
on can_migrate_task calls of Debian's 6.1 kernel (traces from casestudies/kernel_traces.py)?

Two questions, per workload:
  (a) transfer  the models trained in the simulator (results/forced_migration/models/)
                on the kernel's calls.  When the collection loaded them into rmt.ko, the
                trace holds the kernel VM's own fixed-point outputs ("kernel VM"); they
                are re-computed on the host from the traced features with the fixed-point
                emulation of learn/quantize.py ("emulation") as a cross-check.  The sim
                loop keeps no float model, so (a) is fixed point only.
  (b) kernel-trained  an MLP and a tree trained on kernel traces, leave one workload out
                (train on all the others, test on the held-out one), float and fixed
                point (learn.quantize emulation of the exported blobs).

Labels.  Head "imitate": the kernel's own verdict (ctx.kernel_verdict, what
can_migrate_task returned).  Head "forced": the kernel does not say whether a
migration was forced, so it is derived from the trace as the simulator does
(learn/features.py): allowed, task_hot, nr_balance_failed > cache_nice_tries and
not active balancing.  The hook recomputes task_hot() (docs/kernel-hooks.md), so
this is the definition applied to real contexts, not an observation of the kernel.
Only soft calls are traced (hard vetoes - affinity, running, throttled - never reach
the table), as in the simulator.

    .venv/bin/rmt-kernel-loop [--traces DIR] [--out DIR]   (`make kernel-traces`)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rmt.contract import project

import numpy as np

ROOT = project.guess()          # the source checkout (rmt.contract.project)

from rmt.compiler import compile_source  # noqa: E402
from rmt.learn import features, metrics, mlp, quantize, tree  # noqa: E402
from rmt.contract import weights as W  # noqa: E402

EXAMPLE = ROOT / "examples" / "forced_migration.rmt"
SIM_RESULTS = ROOT / "results" / "forced_migration"
HIDDEN = 12
TREE_DEPTH = 10
CLAMP = features.FEAT_MAX / features.FIX


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_trace(path: Path) -> features.Dataset:
    return features.from_records([json.loads(ln) for ln in path.read_text().splitlines() if ln])


def load_traces(d: Path) -> dict[str, features.Dataset]:
    order = json.loads((d / "collect.json").read_text())["workloads"] \
        if (d / "collect.json").exists() else None
    paths = {p.stem: p for p in sorted((d / "traces").glob("*.jsonl"))
             if not p.stem.startswith("_")}
    names = [w for w in (order or sorted(paths)) if w in paths]
    return {w: read_trace(paths[w]) for w in names}


def rows_for(name: str, ds: features.Dataset, preds: dict[str, np.ndarray], kind: str
             ) -> list[dict]:
    """preds: model -> [n, 2] bool (head 0 imitate, head 1 forced)."""
    out = []
    for head, label in ((0, ds.verdict), (1, ds.forced)):
        for mname, p in preds.items():
            out.append({"workload": name, "kind": kind, "head": ("imitate", "forced")[head],
                        "model": mname, **metrics.scores_ci(label, p[:, head])})
    return out


# ---------------------------------------------------------------- (a) transfer

def transfer(data: dict[str, features.Dataset], traced_weights: Path, sim_models: Path,
             weights_kind: str, sim_results: Path = SIM_RESULTS) -> tuple[list[dict], dict]:
    """Sim-trained models on the kernel's calls.  Head-1 thresholds: the sim loop's
    (tuned on its validation workloads), so this is the model as it would be deployed.
    When the collection loaded other weights than ``sim_models`` holds (a newer sim run),
    the models of ``sim_models`` are evaluated by the host emulation alone."""
    prog = compile_source(EXAMPLE.read_text(), str(EXAMPLE))
    mm, tm = prog.models[0], prog.models[1]
    names = ("predictor", "tree_predictor")
    if weights_kind == "sim-trained" and all((sim_models / f"{m}.bin").exists() for m in names) \
            and any((sim_models / f"{m}.bin").read_bytes()
                    != (traced_weights / f"{m}.bin").read_bytes() for m in names):
        log(f"  {sim_models} differs from the weights loaded in the kernel: host emulation only")
        weights_kind = "other"
    src = traced_weights if weights_kind == "sim-trained" else sim_models
    if not all((src / f"{m}.bin").exists() for m in ("predictor", "tree_predictor")):
        return [], {"note": "no sim-trained models: run `make forced-migration` first"}
    mw = W.read_weights((src / "predictor.bin").read_bytes(), mm)
    tw = W.read_weights((src / "tree_predictor.bin").read_bytes(), tm)
    th = {"mlp_int": 0, "tree_int": 0}
    rj = sim_results / "results.json"
    if rj.exists():
        th.update({k: v for k, v in json.loads(rj.read_text())["thresholds"].items()
                   if k in th})
    rows, check = [], {"thresholds": th, "emulation_vs_kernel": {}}
    for name, ds in [*data.items(), ("ALL", features.Dataset.concat(list(data.values())))]:
        ym, sat = quantize.emulate_mlp(mw, ds.x, mm.in_lo, mm.in_hi)
        yt = quantize.emulate_tree(tw, ds.x)
        preds = {"sim MLP emulation": np.stack([ym[:, 0] > 0, ym[:, 1] > th["mlp_int"]], 1),
                 "sim tree emulation": np.stack([yt[:, 0] > 0, yt[:, 1] > th["tree_int"]], 1)}
        if weights_kind == "sim-trained":
            o = ds.outputs
            preds = {"sim MLP kernel VM": np.stack([o[:, 0] > 0, o[:, 1] > th["mlp_int"]], 1),
                     "sim tree kernel VM": np.stack([o[:, 2] > 0, o[:, 3] > th["tree_int"]], 1),
                     **preds}
            check["emulation_vs_kernel"][name] = {
                "n": len(ds), "mlp_outputs_equal": float(np.mean(np.all(ym == o[:, :2], 1)))
                if len(ds) else 1.0,
                "tree_outputs_equal": float(np.mean(np.all(yt == o[:, 2:], 1)))
                if len(ds) else 1.0, "saturations": sat}
        rows += rows_for(name, ds, preds, "transfer")
    return rows, check


# ---------------------------------------------------------------- (b) kernel-trained

def fit_models(tr: features.Dataset, epochs: int, seed: int):
    model = mlp.train(tr.x / features.FIX, tr.labels, [HIDDEN],
                      mlp.TrainConfig(epochs=epochs, seed=seed, log=lambda s: None), clamp=CLAMP)
    w = np.stack([np.where(tr.labels[:, k] > 0, mlp.pos_weights(tr.labels, 50.0)[k], 1.0)
                  for k in range(2)], axis=1)
    t = tree.fit(tr.x, tr.labels, max_depth=TREE_DEPTH, sample_weight=w, min_leaf_weight=10.0)
    return model, t


def leave_one_out(data: dict[str, features.Dataset], epochs: int, seed: int
                  ) -> tuple[list[dict], dict]:
    prog = compile_source(EXAMPLE.read_text(), str(EXAMPLE))
    mm, tm = prog.models[0], prog.models[1]
    rows, info = [], {}
    held_all: dict[str, list] = {}
    for held, te in data.items():
        tr = features.Dataset.concat([d for w, d in data.items() if w != held])
        if not len(tr) or not len(te):
            continue
        model, t = fit_models(tr, epochs, seed)
        qm = quantize.quantize_mlp(model, in_frac=8, model=mm)
        tw = quantize.export_tree(t, kind=tm.kind)
        W.read_weights(W.write_weights(qm.weights), mm)          # the loader's rules hold
        W.read_weights(W.write_weights(tw), tm)
        lg, tp = model.logits(te.x / features.FIX), t.predict(te.x)
        fx, sat = quantize.emulate_mlp(qm.weights, te.x, mm.in_lo, mm.in_hi)
        ft = quantize.emulate_tree(tw, te.x)
        # majority class of the training workloads, per head: the bar to clear
        maj = np.broadcast_to(tr.labels.mean(0) > 0.5, (len(te), 2))
        preds = {"majority": maj, "MLP float": lg > 0, "MLP fixed": fx > 0,
                 "tree float": tp > 0.5, "tree fixed": ft > 0}
        rows += rows_for(held, te, preds, "kernel-trained")
        for k, p in preds.items():
            held_all.setdefault(k, []).append(p)
        info[held] = {"train": len(tr), "test": len(te), "saturations": sat,
                      "float_fixed_agree_mlp": metrics.agreement(fx > 0, lg > 0),
                      "float_fixed_agree_tree": metrics.agreement(ft > 0, tp > 0.5),
                      "tree_nodes": len(t.nodes)}
        log(f"  held out {held}: train {len(tr)}, test {len(te)}, MLP float acc "
            f"{np.mean((lg[:, 0] > 0) == te.verdict):.4f}")
    if held_all:
        alltest = features.Dataset.concat([d for d in data.values() if len(d)])
        rows += rows_for("ALL", alltest, {k: np.concatenate(v) for k, v in held_all.items()},
                         "kernel-trained")
    return rows, info


# ---------------------------------------------------------------- buddy-hot rates

def buddy_rates(ds: features.Dataset) -> dict:
    """How often a soft call's task is a CFS buddy (task_hot()'s buddy test: the task is
    its cfs_rq's next/last and dst has tasks), overall, among calls with a busy dst (the
    only ones where the test can hold) and the part the exec age alone would call cold."""
    x = ds.x
    buddy, busy, cold = x[:, 14] > 0, x[:, 9] > 0, x[:, 1] == 0
    n, nb = len(ds), int(busy.sum())
    return {"calls": n, "buddy_hot": int(buddy.sum()), "rate": float(buddy.mean()) if n else 0.0,
            "busy_dst_calls": nb,
            "rate_busy_dst": float(buddy[busy].mean()) if nb else 0.0,
            "buddy_hot_not_delta_hot": int((buddy & cold).sum())}


def locality_gap(paths: list[Path]) -> dict:
    """How many forced labels the hook's task_hot (no migrate_degrades_locality(), see
    docs/kernel-hooks.md) could get wrong on a multi-node guest. Recomputes 6.1's
    migrate_degrades_locality() from the traced features where it can have an opinion
    (cross-node call, the task has NUMA faults, not an SMT domain): leaving the preferred
    node with non-preferred tasks there -> hot; leaving it otherwise -> no opinion; moving
    to it -> not hot; CPU_IDLE -> no opinion; else hot iff dst has fewer faults than src
    (task weights, no numa_group). An estimate: the trace has no numa_group and only
    has_numa_faults for "p->numa_faults is allocated"."""
    n = opinion = flips = forced = forced_alt = 0
    for path in paths:
        for ln in path.read_text().splitlines():
            if not ln:
                continue
            f = json.loads(ln)["fields"]
            flags = f["flags"]
            bit = {i: (flags >> b) & 1 for i, b in features.FLAG_BITS.items()}
            n += 1
            hot = f["hot"]
            alt = hot
            if not bit[5] and bit[16] and not bit[15]:
                if bit[6]:
                    mdl = 1 if bit[0] else -1
                elif bit[7]:
                    mdl = 0
                elif bit[2]:
                    mdl = -1
                else:
                    mdl = int(f["x_12"] < 0)
                if mdl >= 0:
                    opinion += 1
                    alt = mdl
            flips += alt != hot
            base = f["verdict"] == 1 and bit[13] and f["active"] == 0
            forced += bool(base and hot)
            forced_alt += bool(base and alt)
    return {"calls": n, "locality_has_opinion": opinion, "hot_differs": flips,
            "forced_traced": forced, "forced_with_locality": forced_alt}


def sim_traces(d: Path) -> dict[str, features.Dataset]:
    """The sim loop's collection traces (results/forced_migration/traces/WORKLOAD.jsonl; not
    the WORKLOAD.eval.jsonl re-runs of the test workloads, the same contexts again)."""
    return {p.stem: read_trace(p) for p in sorted(d.glob("*.jsonl")) if "." not in p.stem}


# ---------------------------------------------------------------- report

def print_table(rows: list[dict], kind: str, title: str) -> None:
    print(f"\n{title}")
    for head, what in (("imitate", "label: kernel_verdict"),
                       ("forced", "label: allowed & task_hot & nr_balance_failed > "
                                  "cache_nice_tries & !active (derived)")):
        print(f"\n  head '{head}' ({what})")
        print(f"  {'workload':13s} {'model':19s} {'n':>6s} {'pos':>5s} {'acc':>7s} "
              f"{'prec':>7s} {'recall':>7s} {'F1':>7s}")
        for r in rows:
            if r["kind"] == kind and r["head"] == head:
                ci = ""
                if head == "forced":
                    (pl, ph), (rl, rh) = r["precision_ci"], r["recall_ci"]
                    ci = (f"  P 95% [{pl:.2f}, {ph:.2f}] ({r['tp']}/{r['tp'] + r['fp']})"
                          f"  R 95% [{rl:.2f}, {rh:.2f}] ({r['tp']}/{r['tp'] + r['fn']})")
                print(f"  {r['workload']:13s} {r['model']:19s} {r['n']:6d} {r['positives']:5d}"
                      f" {r['accuracy']:7.4f} {r['precision']:7.4f} {r['recall']:7.4f}"
                      f" {r['f1']:7.4f}{ci}")


def workload_summary(d: Path, data: dict[str, features.Dataset]) -> dict:
    out = {}
    for w, ds in data.items():
        s = {"records": len(ds), "allowed": int(ds.verdict.sum()), "forced": int(ds.forced.sum())}
        sp = d / "stats" / f"{w}.json"
        if sp.exists():
            st = json.loads(sp.read_text())
            # one (before, after) pair per run of the workload (several with --until-forced)
            runs = st.get("runs") or [{"before": st["before"], "after": st["after"]}]
            s.update({"seconds": st["seconds"], "runs": len(runs), "hook_hits": 0,
                      "hard_veto": 0, "trace_drops": 0, "nmissed": 0})
            for run in runs:
                a, b = run["after"], run["before"]
                ha, hb = a.get("hook", {}), b.get("hook", {})
                s["hook_hits"] += ha.get("hits", 0) - hb.get("hits", 0)
                s["hard_veto"] += ha.get("hard_veto", 0) - hb.get("hard_veto", 0)
                s["trace_drops"] += a["trace_drops"] - b["trace_drops"]
                s["nmissed"] += ha.get("nmissed", 0) - hb.get("nmissed", 0)
        out[w] = s
    return out


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", default=str(ROOT / "results" / "kernel_traces"),
                    help="output directory of casestudies/kernel_traces.py")
    ap.add_argument("--out", help="results.json goes here (default: --traces)")
    ap.add_argument("--sim", default=str(SIM_RESULTS),
                    help="output directory of `make forced-migration` (models, thresholds, "
                         "traces for the buddy-hot rate)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    d = Path(args.traces)
    out = Path(args.out or d)
    out.mkdir(parents=True, exist_ok=True)
    data = load_traces(d)
    if not data:
        raise SystemExit(f"{d}/traces/*.jsonl: no traces (run casestudies/kernel_traces.py)")
    meta = json.loads((d / "collect.json").read_text()) if (d / "collect.json").exists() else {}
    kind = meta.get("weights", "zero")
    summ = workload_summary(d, data)
    print(f"Kernel traces from {d} ({meta.get('kernel', '?')}, weights in the kernel: {kind})")
    print(f"  {'workload':13s} {'records':>7s} {'allowed':>7s} {'forced':>6s} {'hits':>6s} "
          f"{'hard':>6s} {'drops':>5s} {'s':>5s}")
    for w, s in summ.items():
        print(f"  {w:13s} {s['records']:7d} {s['allowed']:7d} {s['forced']:6d} "
              f"{s.get('hook_hits', 0):6d} {s.get('hard_veto', 0):6d} "
              f"{s.get('trace_drops', 0):5d} {s.get('seconds', 0):5.0f}")
    kb = buddy_rates(features.Dataset.concat(list(data.values())))
    sim_dir = Path(args.sim)
    sd = sim_traces(sim_dir / "traces")
    sb = buddy_rates(features.Dataset.concat(list(sd.values()))) if sd else None
    print("\nbuddy-hot soft calls (task_hot()'s buddy test): rate of all / of busy-dst calls"
          " / not delta_hot")
    for name, b in (("kernel", kb), ("simulator", sb)):
        if b is not None:
            print(f"  {name:10s} {b['buddy_hot']:6d} of {b['calls']:6d} = {b['rate']:.4f}   "
                  f"{b['rate_busy_dst']:.4f} of {b['busy_dst_calls']}   "
                  f"{b['buddy_hot_not_delta_hot']}")
    if sb is None:
        print("  simulator: no traces in results/forced_migration/traces "
              "(run `make forced-migration`)")
    lg = locality_gap([d / "traces" / f"{w}.jsonl" for w in data])
    print(f"\nmigrate_degrades_locality() estimate: has an opinion on "
          f"{lg['locality_has_opinion']} of {lg['calls']} calls, differs from the traced hot "
          f"bit on {lg['hot_differs']}; forced {lg['forced_traced']} as traced, "
          f"{lg['forced_with_locality']} with it")
    log("== (a) sim-trained models on the kernel's calls")
    ta, check = transfer(data, d / "files", sim_dir / "models", kind, sim_dir)
    log("== (b) kernel-trained, leave one workload out")
    tb, info = leave_one_out(data, args.epochs, args.seed)
    print_table(ta, "transfer", "(a) sim-trained models (fixed point) on kernel traces")
    for w, c in check.get("emulation_vs_kernel", {}).items():
        if w == "ALL":
            print(f"\n  host emulation == kernel VM outputs on {c['n']} records: MLP "
                  f"{c['mlp_outputs_equal']:.4%}, tree {c['tree_outputs_equal']:.4%}")
    print_table(tb, "kernel-trained",
                "(b) trained on kernel traces, leave one workload out (test = held-out workload)")
    res = {"command": "make kernel-traces", "collect": meta, "workloads": summ,
           "locality_gap": lg,
           "buddy_hot": {"kernel": kb, "simulator": sb,
                         "kernel_by_workload": {w: buddy_rates(d) for w, d in data.items()}},
           "transfer": ta, "transfer_check": check, "kernel_trained": tb,
           "kernel_trained_info": info, "args": vars(args)}
    (out / "results.json").write_text(json.dumps(res, indent=1, default=float))
    log(f"results in {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
