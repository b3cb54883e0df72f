#!/usr/bin/env python3
"""Case study 2: every swap prefetcher on every workload, one table and its plots.

    make prefetch-eval          # = .venv/bin/rmt-prefetch-eval

Steps: load the real traces (`traces/*.npz`, from tools/swap_traces/capture.py)
and generate the synthetic ones; pick the program's stability threshold
`min_stable` on the training parts alone (`pick_min_stable`); record each
workload's training faults (its first `--train-frac` of accesses); train one
tree over all of them (learn/swap_tree.py); compile
examples/swap_prefetch.rmt, `rmtctl insert` it into a sim-target state
directory, route cgroup 0 to the learned action with `rmtctl table add` and
load the tree with `rmtctl model load`; then replay
every workload with no prefetching, Linux 6.1 cluster and VMA readahead,
Leap, and the program in the C VM, measuring the held-out part.  Prints the
table, checks the case study's claims, and writes results.json, table.md
and PNG plots to --out.

Programs the model was not trained on (swap_sim/generalisation.py):

    casestudies/prefetch_eval.py --loo                  # + leave-one-program-out, loo.md
    casestudies/prefetch_eval.py --eval-traces DIR      # DIR/*.npz against the project's model
    ... --mem-frac 0.25 --json FILE               # every figure of the tables in FILE

`--loo` trains, for each workload, a tree on all the others' training faults
(threshold picked on the others' selection rows) and measures the workload's
held-out part with it (`rmt-loo`), next to the time split's `rmt`.
`--eval-traces DIR` trains on the project's traces only (the same model as the
time split) and measures every trace in DIR (held-out part, same split and
memory rule) instead of the project's.  Both check the targets for unseen
programs (`unseen_targets`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from rmt.contract import project

ROOT = project.guess()          # the source checkout (rmt.contract.project)

from rmt.contract.objformat import ModelKind  # noqa: E402
from rmt.learn.swap_tree import train  # noqa: E402
from rmt.contract import weights as W  # noqa: E402
from rmt.swap_sim.experiment import (PROGRAM, Result, Split, baselines, evaluate,  # noqa: E402
                                 load_program, reload_copy, training_faults)
from rmt.swap_sim.generalisation import fold_choice, targets_table, unseen_targets  # noqa: E402
from rmt.swap_sim.rmt_prefetcher import RmtPrefetcher  # noqa: E402
from rmt.swap_sim.trace import Trace, load_dir, synthetic_traces  # noqa: E402

ORDER = ["none", "ra-cluster", "ra-vma", "leap", "rmt", "rmt-tree", "rmt-map"]
# ablations of the one program: the tree alone (table entry min_chain = 17), and the
# online successor map alone (a copy of the state directory, tree replaced by one empty leaf)
ABLATIONS = {"rmt-tree": 1, "rmt-map": 0}
TREE_CHECK = 2                 # cgroup routed to the tree alone with the gate off
NON_SEQUENTIAL = ["strided", "imagemagick-resize", "ffmpeg-scale", "numpy-convolve2d"]
# candidate stability thresholds (percent of relearned links that repeat); 0 = gate off
MIN_STABLE_GRID = [0, 10, 20, 30, 40, 50]
SELECT_CGROUP = 100            # candidate k is routed from cgroup SELECT_CGROUP + k


def _evaluate_one(args: tuple) -> list[Result]:
    """One workload in a worker process; the worker builds its own C VM from the state.
    `map_only` is the state directory of the map-only copy (the same program with an
    empty tree); without it (None) the ablations are left out."""
    tr, split, state, prog_id, map_only = args
    from rmt.swap_sim.experiment import RmtLoaded
    eng, prog = RmtLoaded(Path(state), prog_id).engine_and_program()
    pfs = dict(baselines())
    pfs["rmt"] = lambda: RmtPrefetcher(eng, prog)
    if map_only is not None:
        eng1, _ = RmtLoaded(Path(state), prog_id).engine_and_program()
        eng2, _ = RmtLoaded(Path(map_only), prog_id).engine_and_program()
        pfs["rmt-tree"] = lambda: RmtPrefetcher(eng1, prog, cgroup_id=ABLATIONS["rmt-tree"])
        pfs["rmt-map"] = lambda: RmtPrefetcher(eng2, prog)
    return evaluate(tr, split, pfs)


def _loo_one(args: tuple) -> tuple[list[Result], dict]:
    """One leave-one-program-out fold in a worker: train on the other workloads' training
    faults, load with the fold's threshold, measure the held-out workload (`rmt-loo`)."""
    tr, split, others, min_stable, depth, min_freq, template, state = args
    from rmt.swap_sim.experiment import reload_copy
    tree = train(others, max_depth=depth, min_freq=min_freq, log=lambda s: None)
    loaded = reload_copy(template, Path(state), tree.blob(), {0: (1, min_stable)})
    eng, prog = loaded.engine_and_program()
    res = evaluate(tr, split, {"rmt-loo": lambda: RmtPrefetcher(eng, prog)})
    return [r for r in res if r.prefetcher == "rmt-loo"], {
        "workload": tr.name, "min_stable": min_stable, "tree_nodes": len(tree.model.nodes),
        "trained_on_faults": int(sum(len(s) for s in others))}


def _select_one(args: tuple) -> list[Result]:
    """One training-part workload: the baselines and the program at every candidate."""
    tr, split, state, prog_id = args
    from rmt.swap_sim.experiment import RmtLoaded
    pfs = dict(baselines())
    for k, t in enumerate(MIN_STABLE_GRID):
        eng, prog = RmtLoaded(Path(state), prog_id).engine_and_program()
        pfs[f"rmt@{t}"] = (lambda e=eng, p=prog, k=k:
                           RmtPrefetcher(e, p, cgroup_id=SELECT_CGROUP + k))
    return evaluate(tr, split, pfs)


def training_part(tr: Trace, split: Split) -> Trace:
    """The accesses a workload's tree and threshold may learn from: its first train_frac."""
    n = int(split.train_frac * len(tr))
    return Trace(tr.name, tr.pages[:n], int(tr.instrs * n / len(tr)) if tr.instrs else 0,
                 tr.source, tr.synthetic)


def choose_min_stable(checks: dict[int, list[tuple[str, bool, str]]],
                      run_time: dict[int, float] | None = None) -> int:
    """The threshold meeting the most targets against readahead, then against Leap, then
    with the least modelled run time (`run_time`: threshold -> the program's run time
    relative to no prefetching, summed over workloads), then the smallest (`checks`:
    threshold -> `claims` of the program run with it)."""
    def score(t: int) -> tuple[int, int, float, int]:
        c = checks[t]
        return (sum(ok for n, ok, _ in c if "leap" not in n),
                sum(ok for n, ok, _ in c if "leap" in n),
                -round((run_time or {}).get(t, 0.0), 3), -t)
    return max(checks, key=score)


def pick_min_stable(traces: list[Trace], split: Split, args, out: Path
                    ) -> tuple[int, list[dict], list[tuple[int, Result]]]:
    """The stability threshold, chosen without the held-out accesses.

    The training part of every workload is split again the same way (its first
    train_frac trains a tree, the rest is measured), and the program runs at
    every candidate threshold next to the baselines.  Rule
    (`choose_min_stable`): the threshold that meets the most targets against
    Linux readahead (the kernel's default: `claims` against ra-cluster and
    ra-vma), ties broken by the targets against Leap, then by the modelled run
    time summed over all workloads (so pollution where nothing is predictable
    counts), then the smallest threshold.  Returns the threshold, a summary per
    threshold, and the rows (threshold, Result) the choice was made from."""
    parts = [training_part(t, split) for t in traces]
    with ProcessPoolExecutor(args.jobs) as ex:
        streams = list(ex.map(_faults, [(t, split) for t in parts]))
    tree = train(streams, max_depth=args.depth, min_freq=args.min_freq, log=lambda s: None)
    state = out / "select-state"
    if state.exists():
        import shutil
        shutil.rmtree(state)
    loaded = load_program(tree.blob(), state, program=args.program, routes={
        SELECT_CGROUP + k: (1, t) for k, t in enumerate(MIN_STABLE_GRID)})
    with ProcessPoolExecutor(args.jobs) as ex:
        per = list(ex.map(_select_one, [(t, split, str(state), loaded.prog_id) for t in parts]))
    rows = []
    for t in MIN_STABLE_GRID:
        res = [r for rs in per for r in rs if r.prefetcher in ("none", "ra-cluster", "ra-vma",
                                                               "leap", f"rmt@{t}")]
        for r in res:
            if r.prefetcher == f"rmt@{t}":
                r = Result(r.workload, "rmt", r.mem_pages, r.counters, r.figures, r.extra)
            rows.append((t, r))
    none_ms = {r.workload: r.figures.run_ms for tt, r in rows if r.prefetcher == "none"}
    run_time = {t: sum(r.figures.run_ms / none_ms[r.workload] for tt, r in rows
                       if tt == t and r.prefetcher == "rmt" and none_ms[r.workload])
                for t in MIN_STABLE_GRID}
    best = choose_min_stable({t: claims([r for tt, r in rows if tt == t])
                              for t in MIN_STABLE_GRID}, run_time)
    base = {f"{r.workload}/{r.prefetcher}": [round(r.figures.coverage, 3),
                                             round(r.figures.accuracy, 3)]
            for tt, r in rows if tt == MIN_STABLE_GRID[0] and r.prefetcher != "rmt"}
    table_rows = [{"baselines": base}]
    for t in MIN_STABLE_GRID:
        sel = [r for tt, r in rows if tt == t]
        checks = claims(sel)
        by = {(r.workload, r.prefetcher): r.figures for r in sel}
        table_rows.append({
            "min_stable": t,
            "met_vs_readahead": sum(ok for n, ok, _ in checks if "leap" not in n),
            "met_vs_leap": sum(ok for n, ok, _ in checks if "leap" in n),
            "of": [sum(1 for n, _, _ in checks if "leap" not in n),
                   sum(1 for n, _, _ in checks if "leap" in n)],
            "missed": [n for n, ok, _ in checks if not ok],
            "run_time_vs_none": round(run_time[t], 3),
            "rmt": {w: [round(f.coverage, 3), round(f.accuracy, 3)]
                    for (w, p), f in by.items() if p == "rmt"}})
    return best, table_rows, rows


def _faults(args: tuple):
    tr, split = args
    return training_faults(tr, split)


def vm_agreement(tree, state: Path, prog_id: int, streams, per: int = 300) -> tuple[int, int]:
    """The tree as the C VM runs it (tree-only route, gate off) against the trained tree
    computed in Python, on fault histories of every workload: (agreeing, total)."""
    import numpy as np
    from rmt.learn.swap_tree import features
    from rmt.contract import codec
    from rmt.swap_sim.experiment import RmtLoaded
    from rmt.swap_sim.rmt_prefetcher import HOOK
    eng, _ = RmtLoaded(state, prog_id).engine_and_program()
    rng = np.random.default_rng(1)
    ok = total = 0
    for s in streams:
        x = features(s)
        if len(x) == 0:
            continue
        x = x[rng.choice(len(x), min(per, len(x)), replace=False)]
        want = tree.predict(x)
        for row, y in zip(x, want):
            r = eng.run(codec.ctx_encode(HOOK, {"cgroup_id": TREE_CHECK,
                                                "page": 1 << 34, "hist_len": 8,
                                                "hist": row.tolist()}))
            pf = codec.ctx_decode(HOOK, r.ctx, ["pf"])["pf"][:max(r.decision, 0)]
            n = min(int(y[0]), 16)
            ok += r.decision == n and pf == y[1:1 + n].tolist()
            total += 1
    return ok, total


def table(results: list[Result]) -> str:
    head = (f"| {'workload':20s} | {'prefetcher':10s} | {'coverage':>8s} | {'accuracy':>8s} | "
            f"{'pollution':>9s} | {'major':>7s} | {'minor':>7s} | {'issued':>7s} | "
            f"{'run ms':>8s} | {'vs none':>7s} |")
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    none_ms = {r.workload: r.figures.run_ms for r in results if r.prefetcher == "none"}
    for r in results:
        f = r.figures
        rel = f.run_ms / none_ms[r.workload] if none_ms[r.workload] else 0
        lines.append(f"| {r.workload:20s} | {r.prefetcher:10s} | {f.coverage:8.3f} | "
                     f"{f.accuracy:8.3f} | {f.pollution:9.3f} | {f.major:7d} | {f.minor:7d} | "
                     f"{f.issued:7d} | {f.run_ms:8.1f} | {rel:7.3f} |")
    return "\n".join(lines)


def claims(results: list[Result]) -> list[tuple[str, bool, str]]:
    """The case study's targets, each with the figures that decide it."""
    by = {(r.workload, r.prefetcher): r.figures for r in results}
    names = {r.workload for r in results}
    out = []
    for w in [w for w in NON_SEQUENTIAL if w in names]:
        rmt = by[(w, "rmt")]
        for b in ("leap", "ra-cluster", "ra-vma"):
            o = by[(w, b)]
            ok = rmt.coverage > o.coverage and rmt.accuracy >= o.accuracy - 1e-9
            out.append((f"{w}: rmt coverage > {b} at >= accuracy", ok,
                        f"coverage {rmt.coverage:.3f} vs {o.coverage:.3f}, "
                        f"accuracy {rmt.accuracy:.3f} vs {o.accuracy:.3f}"))
    if "seq" in names:
        rmt = by[("seq", "rmt")]
        for b in ("ra-cluster", "ra-vma"):
            o = by[("seq", b)]
            ok = rmt.coverage >= o.coverage - 0.05 and rmt.run_ms <= 1.05 * o.run_ms
            out.append((f"seq: rmt within 5% of {b}", ok,
                        f"coverage {rmt.coverage:.3f} vs {o.coverage:.3f}, "
                        f"run {rmt.run_ms:.1f} vs {o.run_ms:.1f} ms"))
    return out


def plots(results: list[Result], out: Path) -> list[Path]:
    from rmt.learn.plots import grouped_bars
    workloads = list(dict.fromkeys(r.workload for r in results))
    by = {(r.workload, r.prefetcher): r.figures for r in results}
    pfs = [p for p in ORDER if p not in ("none", "rmt-tree", "rmt-map")]
    made = []
    for metric, label, ylim in (("coverage", "coverage (faults avoided)", (-0.2, 1.0)),
                                ("accuracy", "accuracy (used / issued)", (0, 1.05))):
        made.append(grouped_bars(workloads, {p: [getattr(by[(w, p)], metric) for w in workloads]
                                             for p in pfs}, out / f"swap_{metric}.png",
                                 f"Swap prefetchers: {metric} on held-out accesses", label, ylim))
    made.append(grouped_bars(
        workloads, {p: [by[(w, p)].run_ms / by[(w, "none")].run_ms for w in workloads]
                    for p in pfs}, out / "swap_runtime.png",
        "Modelled run time relative to no prefetching (lower is better)", "run time / none",
        (0, 1.3)))
    return made


def leave_one_out(traces: list[Trace], streams: list, split: Split, args,
                  sel_rows: list[tuple[int, Result]], template) -> tuple[list[Result],
                                                                       list[dict]]:
    """A fold per workload (in worker processes): the tree from the other workloads'
    training faults, the threshold from their selection rows (or --min-stable), loaded
    into a copy of `template` (the time split's verified program)."""
    jobs = []
    for i, tr in enumerate(traces):
        others = [s for j, s in enumerate(streams) if j != i]
        ms = (fold_choice(sel_rows, tr.name, choose_min_stable, claims) if sel_rows
              else args.min_stable)
        jobs.append((tr, split, others, ms, args.depth, args.min_freq, template,
                     str(args.out / "loo-state" / tr.name)))
    with ProcessPoolExecutor(args.jobs) as ex:
        done = list(ex.map(_loo_one, jobs))
    for _, info in done:
        print(f"  fold {info['workload']}: min_stable {info['min_stable']}, tree "
              f"{info['tree_nodes']} nodes from {info['trained_on_faults']} faults", flush=True)
    return [r for rs, _ in done for r in rs], [info for _, info in done]


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=Path, default=ROOT / "traces")
    ap.add_argument("--program", type=Path, default=PROGRAM,
                    help="the learned program (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "swap_prefetch")
    ap.add_argument("--mem-frac", type=float, default=0.5,
                    help="memory limit as a fraction of each workload's working set")
    ap.add_argument("--train-frac", type=float, default=0.6)
    ap.add_argument("--min-freq", type=float, default=0.5,
                    help="a leaf prefetches the deltas seen after at least this share of "
                         "its training histories")
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--min-stable", type=int, default=None,
                    help="the stability threshold (percent); default: picked on the "
                         "training parts (pick_min_stable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="workload names")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true",
                    help="leave out the synthetic workloads (seq, strided, random)")
    ap.add_argument("--loo", action="store_true",
                    help="also evaluate leave-one-program-out (a tree per held-out workload)")
    ap.add_argument("--eval-traces", type=Path, metavar="DIR",
                    help="measure every trace in DIR (project trace format) against the "
                         "model trained on the project's traces, instead of the project's")
    ap.add_argument("--no-ablations", action="store_true",
                    help="leave out the tree-only and map-only runs (rmt-tree, rmt-map)")
    ap.add_argument("--json", type=Path, metavar="FILE",
                    help="also write every figure (results.json's content) to FILE")
    args = ap.parse_args(argv)
    if not 0 < args.mem_frac <= 1:
        ap.error(f"--mem-frac {args.mem_frac}: must be in (0, 1]")
    if not 0 < args.train_frac < 1:
        ap.error(f"--train-frac {args.train_frac}: must be in (0, 1)")
    if args.eval_traces is not None and not args.eval_traces.is_dir():
        ap.error(f"--eval-traces {args.eval_traces}: not a directory")
    if not args.program.is_file():
        ap.error(f"--program {args.program}: no such file")
    if args.loo and args.eval_traces is not None:
        ap.error("--loo and --eval-traces: one at a time")
    t0 = time.time()
    split = Split(args.mem_frac, args.train_frac)
    try:
        traces: list[Trace] = ([] if args.no_synthetic else synthetic_traces()) + (
            load_dir(args.traces) if args.traces.is_dir() else [])
        extra: list[Trace] = load_dir(args.eval_traces) if args.eval_traces else []
    except (ValueError, OSError) as e:
        print(f"prefetch-eval: {e}", file=sys.stderr)
        return 1
    if args.only:
        traces = [t for t in traces if t.name in args.only]
    if not traces:
        print("prefetch-eval: no workloads", file=sys.stderr)
        return 1
    if args.eval_traces is not None and not extra:
        print(f"prefetch-eval: --eval-traces {args.eval_traces}: no *.npz traces there",
              file=sys.stderr)
        return 1
    if args.loo and len(traces) < 2:
        print("prefetch-eval: --loo needs at least 2 workloads", file=sys.stderr)
        return 1
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"prefetch-eval: {e}", file=sys.stderr)
        return 1
    for t in traces + extra:
        print(f"{'evaluated' if any(t is e for e in extra) else 'workload'} {t.name}: "
              f"{len(t)} accesses, "
              f"working set {t.working_set} pages, "
              f"memory {split.config(t).mem_pages} pages", flush=True)
    selection: list[dict] = []
    sel_rows: list[tuple[int, Result]] = []
    if args.min_stable is None:
        args.min_stable, selection, sel_rows = pick_min_stable(traces, split, args, args.out)
        print(f"min_stable picked on the training parts: {args.min_stable} "
              f"({time.time() - t0:.0f}s)", flush=True)
        for row in selection[1:]:
            print(f"  min_stable {row['min_stable']:3d}: targets met vs readahead "
                  f"{row['met_vs_readahead']}/{row['of'][0]}, vs Leap "
                  f"{row['met_vs_leap']}/{row['of'][1]}, run time {row['run_time_vs_none']} "
                  f"(sum of x none); missed {row['missed']}", flush=True)
    with ProcessPoolExecutor(args.jobs) as ex:
        streams = list(ex.map(_faults, [(t, split) for t in traces]))
    print(f"training faults: {sum(len(s) for s in streams)} "
          f"({time.time() - t0:.0f}s)", flush=True)
    tree = train(streams, max_depth=args.depth, min_freq=args.min_freq)
    (args.out / "next.bin").write_bytes(tree.blob())
    state = args.out / "sim-state"
    if state.exists():
        import shutil
        shutil.rmtree(state)
    ms = args.min_stable
    loaded = load_program(tree.blob(), state, program=args.program, routes={0: (1, ms), ABLATIONS["rmt-tree"]: (17, ms),
                                                      TREE_CHECK: (17, 0)})
    empty = W.write_weights(W.ModelWeights(ModelKind.TREE, 8, 17, 16,
                                           trees=[W.Tree([[-1, 0, 0, 0, 0]], [[0] * 17])]))
    map_only = None
    if not (extra or args.no_ablations):
        map_only = reload_copy(loaded, args.out / "map-only-state", empty, {0: (1, ms)})
    print(f"loaded into the sim target: rmtctl --state {state} model show {loaded.prog_id} "
          f"({time.time() - t0:.0f}s)", flush=True)
    agree, total = vm_agreement(tree, state, loaded.prog_id, streams)
    print(f"tree in the C VM vs the trained tree: {agree}/{total} fault histories agree",
          flush=True)
    measured = extra or traces
    with ProcessPoolExecutor(args.jobs) as ex:
        per = list(ex.map(_evaluate_one, [(t, split, str(state), loaded.prog_id,
                                           None if map_only is None else str(map_only.state))
                                          for t in measured]))
    results = [r for rs in per for r in sorted(rs, key=lambda r: ORDER.index(r.prefetcher))]
    text = table(results)
    print(text)
    checks = claims(results)
    for name, ok, why in checks:
        print(f"{'MET ' if ok else 'MISS'} {name}: {why}")
    (args.out / "table.md").write_text(text + "\n\n" + "\n".join(
        f"- {'met' if ok else 'NOT met'}: {n} ({w})" for n, ok, w in checks) + "\n")
    unseen: dict = {}
    if extra:
        tg = unseen_targets(results, "rmt")
        unseen = {"prefetcher": "rmt", "eval_traces": str(args.eval_traces),
                  "targets": [t.as_dict() for t in tg]}
        print(f"targets for programs not trained on ({args.eval_traces}, memory "
              f"{args.mem_frac}):\n{targets_table(tg)}")
    loo: list[Result] = []
    folds: list[dict] = []
    if args.loo:
        loo, folds = leave_one_out(traces, streams, split, args, sel_rows, loaded)
        rows = [r for r in results if r.prefetcher in ("none", "ra-cluster", "ra-vma",
                                                       "leap", "rmt")] + loo
        order = ORDER + ["rmt-loo"]
        rows.sort(key=lambda r: ([t.name for t in traces].index(r.workload),
                                 order.index(r.prefetcher)))
        tg = unseen_targets(rows, "rmt-loo")
        unseen = {"prefetcher": "rmt-loo", "folds": folds,
                  "targets": [t.as_dict() for t in tg]}
        loo_text = table(rows)
        print(f"leave-one-program-out (memory {args.mem_frac}):\n{loo_text}\n"
              f"{targets_table(tg)}")
        (args.out / "loo.md").write_text(loo_text + "\n\n" + targets_table(tg) + "\n")
    payload = json.dumps({
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "min_stable_selection": selection,
        "tree": {"nodes": len(tree.model.nodes), "depth": tree.model.depth,
                 "vocab": tree.vocab.tolist(), "vm_agreement": [agree, total]},
        "results": [{"workload": r.workload, "prefetcher": r.prefetcher,
                     "mem_pages": r.mem_pages, **r.figures.as_row,
                     "counters": r.counters.as_dict(), **r.extra} for r in results + loo],
        "claims": [{"claim": n, "met": ok, "figures": w} for n, ok, w in checks],
        "unseen_targets": unseen},
        indent=1, default=lambda o: asdict(o))
    (args.out / "results.json").write_text(payload)
    if args.json is not None:
        args.json.write_text(payload)
        print(f"wrote {args.json}")
    if not args.no_plots and not extra:
        for p in plots(results, args.out):
            print(f"wrote {p}")
    print(f"done in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
