"""Calibration inputs: the integer vectors the program feeds the model, from a file.

- an `rmtctl trace` file (JSON lines): each record's fields `x_0 .. x_{n-1}` (a traced
  local array `x`), or, for the forced_migration program, its trace decoded by
  learn/features.py;
- an `.npz`: the array named `x` (else the only array), shape [n, n_in];
- a CSV: n_in numeric columns, one row per input, an optional header line.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from rmt.model_import.ir import ModelImportError


def _from_trace(path: Path, n_in: int) -> np.ndarray:
    records = []
    with open(path, encoding="utf-8") as f:
        for k, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ModelImportError(f"{path}:{k}: not a trace record ({e.msg})") from None
    if not records:
        raise ModelImportError(f"{path}: no trace records")
    rows = []
    for k, r in enumerate(records, 1):
        f = r.get("fields", r) if isinstance(r, dict) else {}
        if all(f"x_{i}" in f for i in range(n_in)):
            rows.append([f[f"x_{i}"] for i in range(n_in)])
        elif r.get("prog") == "forced_migration" or "flags" in f:
            from rmt.learn import features
            try:
                return features.from_records(records).x
            except (KeyError, TypeError) as e:
                raise ModelImportError(f"{path}: forced_migration trace record lacks {e}") \
                    from None
        else:
            raise ModelImportError(f"{path}: record {k} has no fields x_0..x_{n_in - 1} "
                                   f"(trace the model's input array x, or give an .npz/CSV)")
    return np.asarray(rows, dtype=np.float64)


def _from_csv(path: Path) -> np.ndarray:
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for k, row in enumerate(csv.reader(f), 1):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                rows.append([float(c) for c in row])
            except ValueError:
                if k == 1 and not rows:
                    continue                     # a header line
                raise ModelImportError(f"{path}:{k}: a non-numeric value") from None
    if not rows:
        raise ModelImportError(f"{path}: no data rows")
    if len({len(r) for r in rows}) != 1:
        raise ModelImportError(f"{path}: rows have different numbers of columns")
    return np.asarray(rows, dtype=np.float64)


def load(path: str | Path, n_in: int) -> np.ndarray:
    """Float array [n, n_in] of what the file holds; shape checked against n_in."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                names = list(z.keys())
                if "x" in names:
                    x = z["x"]
                elif len(names) == 1:
                    x = z[names[0]]
                else:
                    raise ModelImportError(f"{path}: several arrays ({', '.join(names)}) and "
                                           f"none named 'x'")
            x = np.asarray(x, dtype=np.float64)
        elif path.suffix == ".csv":
            x = _from_csv(path)
        else:
            x = _from_trace(path, n_in)
    except OSError as e:
        raise ModelImportError(f"cannot read calibration data {path}: {e.strerror}") from None
    except ValueError as e:
        if isinstance(e, ModelImportError):
            raise
        raise ModelImportError(f"{path}: not calibration data ({e})") from None
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ModelImportError(f"{path}: calibration data has shape {x.shape}, the model "
                               f"takes {n_in} inputs per row")
    if not np.all(np.isfinite(x)):
        raise ModelImportError(f"{path}: calibration data has NaN or infinite values")
    return x


def check_integers(x: np.ndarray, lo: int, hi: int, where: str, is_tree: bool) -> np.ndarray:
    """The program's model inputs are integers in the declared range: refuse anything else."""
    frac = np.abs(x - np.round(x))
    if np.any(frac > 0):
        r, c = np.argwhere(frac > 0)[0]
        why = ("a tree compares integers, so its split x <= t acts as x <= floor(t): "
               "exact on the integer inputs the program gives, but not the model that was "
               "trained on these values" if is_tree else
               "the model was trained on values the program never computes")
        raise ModelImportError(
            f"{where}: feature {c} is not an integer (row {r}: {x[r, c]:g}), but the "
            f"program's model inputs are integers; {why}. Train on the integer features the "
            f"program computes (for fixed point with F fractional bits, train on x / 2^F and "
            f"import with --input-frac F)")
    if x.size and (x.min() < lo or x.max() > hi):
        r, c = np.argwhere((x < lo) | (x > hi))[0]
        raise ModelImportError(f"{where}: row {r} feature {c} is {x[r, c]:g}, outside the "
                               f"declared input range {lo}..{hi}")
    return x.astype(np.int64)
