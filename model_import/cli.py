"""rmtc model import: a trained model -> a weights blob for `rmtctl model load`.

    rmtc model import SOURCE --program PROG.rmtb --model NAME -o WEIGHTS.bin
                      [--calibration DATA] [--input-frac F] [--out-frac F]
                      [--min-agreement P] [--force] [--trust-pickle] [--json]

Exit codes: 0 written, 1 refused (the reason on stderr, nothing written), 2 usage.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from rmt.model_import.api import DEFAULT_MIN_AGREEMENT, import_model
from rmt.model_import.ir import ModelImportError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        print(f"rmtc model import: error: {message}", file=sys.stderr)
        sys.exit(2)


def _percent(s: str) -> float:
    try:
        v = float(s.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a percentage") from None
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"{s!r} is not in 0..100")
    return v / 100


def main(argv: list[str]) -> int:
    p = _Parser(prog="rmtc model import",
                description="Import a scikit-learn (.skops), ONNX, XGBoost or LightGBM model "
                            "as fixed-point weights for a program's model (docs/models.md).")
    p.add_argument("source", help=".onnx, .skops, XGBoost .json/.ubj, LightGBM .txt")
    p.add_argument("--program", required=True, help="the program (.rmtb or .rmt)")
    p.add_argument("--model", required=True, help="the model's name in the program")
    p.add_argument("-o", "--output", required=True, help="the weights blob to write")
    p.add_argument("--calibration", help="integer model inputs: rmtctl trace file, .npz, .csv")
    p.add_argument("--input-frac", type=int, default=0, metavar="F",
                   help="the model was trained on x / 2^F (default 0: on x itself)")
    p.add_argument("--out-frac", type=int, default=None, metavar="F",
                   help="tree/forest outputs = score * 2^F (default: the most that fits)")
    p.add_argument("--min-agreement", type=_percent, default=DEFAULT_MIN_AGREEMENT,
                   metavar="P", help="percent of calibration decisions that must agree "
                                     f"(default {100 * DEFAULT_MIN_AGREEMENT:g})")
    p.add_argument("--force", action="store_true",
                   help="write the weights even below --min-agreement or without calibration")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow .pkl/.joblib sources (loading a pickle runs its code)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args(argv)
    if not -24 <= a.input_frac <= 24:
        p.error(f"--input-frac {a.input_frac} is not in -24..24")
    try:
        res = import_model(a.source, a.program, a.model, a.calibration, in_frac=a.input_frac,
                           out_frac=a.out_frac, min_agreement=a.min_agreement, force=a.force,
                           trust_pickle=a.trust_pickle)
    except ModelImportError as e:
        print(f"rmtc model import: {e}", file=sys.stderr)
        return 1
    tmp = a.output + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(res.blob)
        os.replace(tmp, a.output)
    except OSError as e:
        print(f"rmtc model import: cannot write {a.output}: {e.strerror}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(res.report.to_dict(), indent=1))
    else:
        print(res.report.summary())
        print(f"wrote {len(res.blob)} bytes to {a.output}")
    return 0
