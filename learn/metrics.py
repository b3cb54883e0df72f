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


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95% for z = 1.96); (0, 1) when n = 0.
    Unlike the normal approximation it stays inside [0, 1] and is usable for small n and
    for k = 0 or k = n, which is where the forced head's counts are."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def scores_ci(y_true: np.ndarray, y_pred: np.ndarray, z: float = 1.96) -> dict[str, float]:
    """scores() plus the confusion counts and Wilson intervals of precision and recall."""
    (tn, fp), (fn, tp) = confusion(y_true, y_pred)
    out: dict = scores(y_true, y_pred)
    out.update({"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
                "precision_ci": wilson(int(tp), int(tp + fp), z),
                "recall_ci": wilson(int(tp), int(tp + fn), z)})
    return out
