#!/usr/bin/env python3
"""Case study 1 the way people will bring models: scikit-learn -> ONNX -> rmtc model import.

    collect   the same traces as casestudies/forced_migration_loop.py (same program, workloads and
              seeds), or reuse them with --traces DIR
    train     scikit-learn on the training workloads: MLPClassifier 17-12-2 (ReLU) on the Q8
              features / 256, and a DecisionTreeRegressor (depth <= 10) on +-1 labels with the
              numpy tree's class weights, so a leaf's sign is its decision
    export    skl2onnx -> OUT/models/{predictor,tree_predictor}.onnx
    import    `rmtc model import` each, calibrated on the validation traces (an `rmtctl
              trace` file), refused below 99.5% decision agreement
    load      `rmtctl model load` both into the sim target
    evaluate  the held-out test workloads through the C VM in shadow mode: the VM's own
              outputs come back in the trace; they must equal the importer's integer
              emulation bit for bit, and their decisions are compared with onnxruntime's
              float model on the same inputs; accuracy and F1 per head
    kernel    with --kernel N: N contexts of each test workload through rmt.ko in one QEMU
              boot of Debian's 6.1 kernel (tools/model_import_kernel/), the same contexts
              through the userspace C VM: the trace records (both models' raw outputs among
              them) must be equal

Usage: .venv/bin/rmt-forced-migration-sklearn [--out DIR] [--quick] [--traces DIR]
                                                         [--kernel N]
(`make forced-migration-sklearn`).  Seeded: the same command gives the same numbers.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

from rmt.contract import project

import numpy as np

ROOT = project.guess()          # the source checkout (rmt.contract.project)

from rmt.casestudies import forced_migration_loop as fml  # noqa: E402
from rmt.contract import objfile  # noqa: E402
from rmt.learn import features, metrics, mlp  # noqa: E402
from rmt.model_import import fixed  # noqa: E402
from rmt.contract import weights as W  # noqa: E402

HIDDEN = 12
TREE_DEPTH = 10


def collect(out: Path, obj_path: Path, state: Path, duration_ms: int
            ) -> tuple[int, dict[str, dict[str, Path]]]:
    pid, _ = fml.insert(out, state, obj_path)
    prog = objfile.read(obj_path.read_bytes())
    for name, blob in fml.zero_blobs(prog).items():
        p = out / "models" / f"{name}.zero.bin"
        p.write_bytes(blob)
        fml.rmtctl(state, "model", "load", str(pid), name, str(p))
    paths: dict[str, dict[str, Path]] = {}
    for split, specs in fml.SPLITS.items():
        paths[split] = {}
        for spec in specs:
            wl = fml.make_wl(spec, duration_ms)
            path = out / "traces" / f"{wl.name}.jsonl"
            path.unlink(missing_ok=True)
            s = fml.simulate_into_target(state, pid, wl, path)
            paths[split][wl.name] = path
            fml.log(f"  {split:5s} {wl.name:24s} {s['soft_calls']:5d} traced")
    return pid, paths


def existing(traces: Path, duration_ms: int) -> dict[str, dict[str, Path]]:
    paths: dict[str, dict[str, Path]] = {}
    for split, specs in fml.SPLITS.items():
        paths[split] = {}
        for spec in specs:
            name = fml.make_wl(spec, duration_ms).name
            p = traces / f"{name}.jsonl"
            if not p.is_file():
                raise SystemExit(f"--traces {traces}: no {p.name} (collect with the same "
                                 f"--duration-ms as the run that wrote them)")
            paths[split][name] = p
    return paths


def train(tr: features.Dataset, seed: int, quick: bool):
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = MLPClassifier((HIDDEN,), activation="relu", max_iter=60 if quick else 300,
                            random_state=seed).fit(tr.x / features.FIX, tr.labels)
    pos = mlp.pos_weights(tr.labels, 50.0)
    w = np.where(tr.labels[:, 1] > 0, pos[1], 1.0)      # forced migrations are rare
    tree = DecisionTreeRegressor(max_depth=TREE_DEPTH, min_samples_leaf=5,
                                 random_state=seed).fit(tr.x, 2.0 * tr.labels - 1,
                                                        sample_weight=w)
    return net, tree


def export(est, x: np.ndarray, path: Path) -> None:
    from skl2onnx import to_onnx
    opts = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
    path.write_bytes(to_onnx(est, x[:1].astype(np.float32), options=opts,
                             target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())


def ort_scores(path: Path, x: np.ndarray) -> np.ndarray:
    """onnxruntime's first output: the labels [n, 2] (MLP) or the regressor's +-1 scores
    (tree)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3          # skl2onnx's multilabel shapes draw warnings
    sess = ort.InferenceSession(str(path), opts)
    outs = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})
    return np.asarray(outs[0], dtype=np.float64)


def contexts(spec, duration_ms: int, n: int) -> list[bytes]:
    """The first n contexts a workload's soft can_migrate_task calls give the program."""
    from rmt.sched_sim.hook import HOOK, Hook, ctx_fields
    from rmt.sched_sim.simulator import Simulator
    from rmt.contract import codec
    got: list[bytes] = []

    class Grab(Hook):
        def decide(self, p, env, v):
            if len(got) < n and not v.hard_veto:
                got.append(codec.ctx_encode(HOOK, ctx_fields(p, env, v)))
            return v.migrate

    Simulator(fml.make_wl(spec, duration_ms), Grab(None), keep_calls=False).run()
    return got


def kernel_step(out: Path, obj: bytes, per_workload: int, duration_ms: int) -> dict:
    """The imported weights in rmt.ko: the same contexts as the C VM, equal trace records."""
    from model_import_kernel import host
    blobs = {n: (out / "models" / f"{n}.bin").read_bytes()
             for n in ("predictor", "tree_predictor")}
    ctxs = [c for spec in fml.SPLITS["test"] for c in contexts(spec, duration_ms,
                                                               per_workload)]
    fml.log(f"== rmt.ko: {len(ctxs)} test contexts in one QEMU boot of Debian's 6.1 kernel")
    c_vm = host.c_vm_records(obj, blobs, ctxs)
    k = host.run_in_kernel(out / "kernel", obj, blobs, ctxs)
    if "error" in k:
        fml.log(f"  not run: {k['error']}")
        return {"contexts": len(ctxs), "error": k["error"]}
    equal = k["records"] == c_vm
    fml.log(f"  {k['runs']} runs, {len(k['records'])} trace records; rmt.ko == C VM: {equal};"
            f" kernel log problems: {len(k['kernel_problems'])}")
    return {"contexts": len(ctxs), "records": len(k["records"]), "kernel_equals_c_vm": equal,
            "kernel_problems": k["kernel_problems"]}


@project.cli
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "forced_migration_sklearn"))
    ap.add_argument("--duration-ms", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--traces", help="reuse the traces of a forced_migration_loop run")
    ap.add_argument("--quick", action="store_true", help="short workloads (a smoke run)")
    ap.add_argument("--kernel", type=int, default=0, metavar="N",
                    help="also run N contexts per test workload in rmt.ko (QEMU guest; "
                         "RMT_QEMU_CACHE as for the kernel tests)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration_ms = 600
    out = Path(args.out)
    for d in ("traces", "models"):
        (out / d).mkdir(parents=True, exist_ok=True)
    state = out / "sim-state"
    shutil.rmtree(state, ignore_errors=True)
    t0 = time.time()
    obj_path = out / "forced_migration.rmtb"
    fml.run([str(fml.BIN / "rmtc"), "compile", str(fml.EXAMPLE), "-o", str(obj_path)])
    prog = objfile.read(obj_path.read_bytes())
    sig = {m.name: m for m in prog.models}

    fml.log("== collect" if not args.traces else f"== traces from {args.traces}")
    if args.traces:
        paths = existing(Path(args.traces), args.duration_ms)
        pid, _ = fml.insert(out, state, obj_path)
    else:
        pid, paths = collect(out, obj_path, state, args.duration_ms)
    data = {s: {n: fml.read_trace(p) for n, p in d.items()} for s, d in paths.items()}
    tr = features.Dataset.concat(list(data["train"].values()))

    fml.log(f"== train (scikit-learn) on {len(tr)} calls")
    net, tree = train(tr, args.seed, args.quick)
    onnx_paths = {"predictor": out / "models" / "predictor.onnx",
                  "tree_predictor": out / "models" / "tree_predictor.onnx"}
    export(net, tr.x / features.FIX, onnx_paths["predictor"])
    export(tree, tr.x.astype(np.float64), onnx_paths["tree_predictor"])

    fml.log("== rmtc model import (calibration: the validation traces)")
    cal = out / "calibration.jsonl"
    cal.write_text("".join(p.read_text() for p in paths["val"].values()))
    reports = {}
    for name, frac in (("predictor", 8), ("tree_predictor", 0)):
        blob = out / "models" / f"{name}.bin"
        r = fml.run([str(fml.BIN / "rmtc"), "model", "import", str(onnx_paths[name]),
                     "--program", str(obj_path), "--model", name, "-o", str(blob),
                     "--calibration", str(cal), "--input-frac", str(frac), "--json"])
        reports[name] = json.loads(r.stdout)
        rep = reports[name]
        fml.log(f"  {name}: {rep['task']}, outputs = score * 2^{rep['out_frac']}, "
                f"calibration agreement {100 * rep['agreement']:.2f}% on {rep['rows']} rows")
        fml.rmtctl(state, "model", "load", str(pid), name, str(blob))
    weights = {n: W.read_weights((out / "models" / f"{n}.bin").read_bytes(), sig[n])
               for n in sig}

    fml.log("== evaluate: test workloads through the C VM (shadow mode)")
    rows, vm_equal, n_calls = [], True, 0
    per_model: dict[str, list] = {"predictor": [], "tree_predictor": []}
    for spec in fml.SPLITS["test"]:
        wl = fml.make_wl(spec, args.duration_ms)
        path = out / "traces" / f"{wl.name}.sklearn.jsonl"
        path.unlink(missing_ok=True)
        fml.simulate_into_target(state, pid, wl, path)
        ds = fml.read_trace(path)
        n_calls += len(ds)
        for name, cols, frac in (("predictor", slice(0, 2), 8),
                                 ("tree_predictor", slice(2, 4), 0)):
            emu, _ = fixed.emulate(weights[name], ds.x, sig[name])
            vm = ds.outputs[:, cols]
            vm_equal &= bool(np.array_equal(vm, emu))
            flt = ort_scores(onnx_paths[name], ds.x / 2.0 ** frac)
            flt_dec = flt > (0.5 if name == "predictor" else 0.0)
            per_model[name].append((ds, vm > 0, flt_dec))
    label = {"predictor": "MLP (sklearn)", "tree_predictor": "tree (sklearn)"}
    agree = {}
    for name, parts in per_model.items():
        vm_d = np.concatenate([p[1] for p in parts])
        fl_d = np.concatenate([p[2] for p in parts])
        agree[name] = float(np.mean(np.all(vm_d == fl_d, axis=1)))
        for wname, (ds, vmd, fld) in zip([fml.make_wl(s, args.duration_ms).name
                                          for s in fml.SPLITS["test"]], parts):
            for head, lab in ((0, ds.verdict), (1, ds.forced)):
                for kind, d in (("float (onnxruntime)", fld), ("VM", vmd)):
                    rows.append({"workload": wname, "head": ("imitate", "forced")[head],
                                 "model": f"{label[name]} {kind}",
                                 **metrics.scores(lab, d[:, head])})
        alld = features.Dataset.concat([p[0] for p in parts])
        for head, lab in ((0, alld.verdict), (1, alld.forced)):
            for kind, d in (("float (onnxruntime)", fl_d), ("VM", vm_d)):
                rows.append({"workload": "ALL (held out)", "head": ("imitate", "forced")[head],
                             "model": f"{label[name]} {kind}",
                             **metrics.scores(lab, d[:, head])})

    kernel = kernel_step(out, obj_path.read_bytes(), args.kernel, args.duration_ms) \
        if args.kernel else None
    results = {"command": "make forced-migration-sklearn", "args": vars(args),
               "kernel": kernel,
               "import_reports": reports, "test_calls": n_calls,
               "vm_equals_importer_emulation": vm_equal,
               "vm_vs_onnxruntime_decision_agreement": agree, "eval": rows,
               "seconds": round(time.time() - t0, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nCase study 1 with scikit-learn -> ONNX -> rmtc model import "
          f"({results['seconds']} s)\n")
    print(f"  C VM outputs == importer emulation, bit for bit, on {n_calls} test calls: "
          f"{vm_equal}")
    for name in per_model:
        print(f"  {label[name]}: VM decisions agree with onnxruntime on "
              f"{100 * agree[name]:.2f}% of test calls (both heads)")
    if kernel:
        print(f"  rmt.ko (Debian 6.1, QEMU): {kernel.get('records', 0)} trace records from "
              f"{kernel['contexts']} test contexts equal the C VM's: "
              f"{kernel.get('kernel_equals_c_vm', kernel.get('error'))}")
    print(f"\n  {'head':8s} {'model':34s} {'n':>6s} {'pos':>5s} {'acc':>7s} {'prec':>7s} "
          f"{'recall':>7s} {'F1':>7s}   (ALL held-out test workloads)")
    for r in rows:
        if r["workload"] == "ALL (held out)":
            print(f"  {r['head']:8s} {r['model']:34s} {r['n']:6d} {r['positives']:5d} "
                  f"{r['accuracy']:7.4f} {r['precision']:7.4f} {r['recall']:7.4f} "
                  f"{r['f1']:7.4f}")
    ok_kernel = kernel is None or kernel.get("kernel_equals_c_vm", False)
    return 0 if vm_equal and ok_kernel else 1


if __name__ == "__main__":
    sys.exit(main())
