"""Binary classification metrics (numpy), as plain dicts for tables and JSON."""
from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[[tn, fp], [fn, tp]]."""
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    return np.array([[np.sum(~t & ~p), np.sum(~t & p)], [np.sum(t & ~p), np.sum(t & p)]])


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class (0 when undefined)."""
    (tn, fp), (fn, tp) = confusion(y_true, y_pred)
    n = tn + fp + fn + tp
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"n": int(n), "positives": int(tp + fn), "accuracy": (tp + tn) / n if n else 0.0,
            "precision": float(prec), "recall": float(rec), "f1": float(f1)}


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.mean(a == b)) if len(a) else 1.0
