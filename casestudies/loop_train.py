"""A trainer for `rmtctl model refresh --train`: case study 1's MLP on the latest records.

    rmt-loop-train TRACES OUT --obj PROG.rmtb [--model predictor] [--recent N]
                   [--epochs E] [--seed S]

Reads the training file the loop appends to (`rmtctl trace` JSON lines of
examples/forced_migration.rmt), keeps the latest N records (a sliding window:
after a workload change the model follows the new workload), trains the
17-12-2 MLP of forced_migration_loop.py on both heads (the kernel's verdict,
forced migrations), quantizes it for the model's declared signature and writes
the weights blob to OUT.  Errors are one line on stderr, exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np

from rmt.casestudies.forced_migration_loop import CLAMP, HIDDEN
from rmt.contract import objfile
from rmt.contract import weights as W
from rmt.learn import features, mlp, quantize


def train_blob(ds: features.Dataset, model: objfile.Model, epochs: int, seed: int) -> bytes:
    cfg = mlp.TrainConfig(epochs=epochs, seed=seed, log=lambda s: None)
    m = mlp.train(ds.x / features.FIX, ds.labels, [HIDDEN], cfg, clamp=CLAMP)
    qm = quantize.quantize_mlp(m, in_frac=8, model=model)
    blob = W.write_weights(qm.weights)
    W.read_weights(blob, model)                       # the loader's rules
    return blob


_BAD_RECORD = (ValueError, KeyError, TypeError, AttributeError)


def _dataset(path: str, recent: deque[tuple[int, dict]]) -> features.Dataset:
    """The records decoded once; when one is not a forced_migration record, its line."""
    try:
        return features.from_records([r for _, r in recent])
    except _BAD_RECORD:
        for n, r in recent:
            try:
                features.from_records([r])
            except _BAD_RECORD as e:
                raise ValueError(f"{path}:{n}: not a forced_migration trace record "
                                 f"({e})") from None
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rmt-loop-train", description=__doc__.split("\n")[0])
    ap.add_argument("traces")
    ap.add_argument("out")
    ap.add_argument("--obj", required=True, help="the program's object (.rmtb)")
    ap.add_argument("--model", default="predictor")
    ap.add_argument("--recent", type=int, default=3000, help="records to train on, the latest")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        if a.recent < 1 or a.epochs < 1:
            raise ValueError("--recent and --epochs must be >= 1")
        try:
            prog = objfile.read(Path(a.obj).read_bytes())
        except objfile.ObjError as e:
            raise ValueError(f"{a.obj}: {e}") from None
        model = next((m for m in prog.models if m.name == a.model), None)
        if model is None:
            raise ValueError(f"{a.obj}: no model {a.model!r}")
        recent: deque[tuple[int, dict]] = deque(maxlen=a.recent)   # (line, record)
        with open(a.traces) as fh:
            for n, line in enumerate(fh, 1):
                try:
                    r = json.loads(line)
                except ValueError as e:
                    raise ValueError(f"{a.traces}:{n}: not JSON ({e})") from None
                # `rmtctl trace -o` files also hold a staged candidate's disagreement records
                if not isinstance(r, dict) or r.get("fmt") != "candidate":
                    recent.append((n, r))
        if len(recent) < 50:
            raise ValueError(f"{a.traces}: {len(recent)} records, too few to train on (50)")
        Path(a.out).write_bytes(train_blob(_dataset(a.traces, recent), model, a.epochs,
                                           a.seed))
    except (OSError, ValueError, objfile.ObjError, W.WeightsError) as e:
        print(f"rmt-loop-train: {e}", file=sys.stderr)
        return 1
    print(f"trained on {len(recent)} records -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
