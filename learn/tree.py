"""CART decision trees over integer features, with several outputs at once.

Splits minimise the weighted within-node variance summed over outputs, each
output with its own sample weights (so every head can balance its classes);
on 0/1 targets variance is p(1-p), i.e. Gini impurity, and on real targets
it is the usual regression criterion, so one trainer serves classifiers and
regressors.  Split rules are `x[f] <= t` with integer `t` (the midpoint of
two neighbouring integer values, floored): exactly the VM's tree rule on
the same integers, so exporting a tree loses nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TreeNode:
    feature: int = -1                    # -1: leaf
    threshold: int = 0
    left: int = 0
    right: int = 0
    value: np.ndarray = field(default_factory=lambda: np.zeros(0))   # leaf (and node) means


@dataclass
class TreeModel:
    nodes: list[TreeNode]
    n_in: int

    @property
    def depth(self) -> int:
        def d(i: int) -> int:
            n = self.nodes[i]
            return 0 if n.feature < 0 else 1 + max(d(n.left), d(n.right))
        return d(0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Leaf values for each row of x (integers, as the VM sees them)."""
        x = np.asarray(x)
        out = np.zeros((len(x), len(self.nodes[0].value)))
        idx = np.zeros(len(x), dtype=int)
        active = np.ones(len(x), dtype=bool)
        while active.any():
            for i in np.unique(idx[active]):
                n = self.nodes[i]
                rows = active & (idx == i)
                if n.feature < 0:
                    out[rows] = n.value
                    active &= ~rows
                else:
                    go_left = x[:, n.feature] <= n.threshold
                    idx[rows & go_left] = n.left
                    idx[rows & ~go_left] = n.right
        return out


def _best_split(x: np.ndarray, y: np.ndarray, w: np.ndarray, min_leaf: float
                ) -> tuple[float, int, int]:
    """(impurity decrease, feature, threshold) of the best split; feature -1 if none."""
    wy, wyy = w * y, w * y * y
    tot_w, tot_wy, tot_wyy = w.sum(0), wy.sum(0), wyy.sum(0)
    parent = np.sum(tot_wyy - tot_wy ** 2 / np.maximum(tot_w, 1e-12))
    best = (0.0, -1, 0)
    for f in range(x.shape[1]):
        order = np.argsort(x[:, f], kind="stable")
        xs = x[order, f]
        cut = np.nonzero(xs[1:] != xs[:-1])[0]          # split after position cut
        if len(cut) == 0:
            continue
        cw, cwy, cwyy = (np.cumsum(a[order], axis=0)[cut] for a in (w, wy, wyy))
        rw, rwy, rwyy = tot_w - cw, tot_wy - cwy, tot_wyy - cwyy
        imp = (np.sum(cwyy - cwy ** 2 / np.maximum(cw, 1e-12), axis=1)
               + np.sum(rwyy - rwy ** 2 / np.maximum(rw, 1e-12), axis=1))
        ok = (cw.sum(1) >= min_leaf) & (rw.sum(1) >= min_leaf)
        if not ok.any():
            continue
        imp = np.where(ok, imp, np.inf)
        k = int(np.argmin(imp))
        gain = parent - imp[k]
        if gain > best[0] + 1e-12:
            thr = (int(xs[cut[k]]) + int(xs[cut[k] + 1])) // 2      # floor of the midpoint
            best = (float(gain), f, thr)
    return best


def fit(x: np.ndarray, y: np.ndarray, *, max_depth: int = 8, min_leaf_weight: float = 1.0,
        sample_weight: np.ndarray | None = None, min_gain: float = 1e-9) -> TreeModel:
    """Grow a tree on integer features x [n, f] and targets y [n, k] (or [n]).

    sample_weight is [n] or [n, k] (per output); min_leaf_weight bounds the
    total weight (summed over outputs) on each side of a split."""
    x = np.asarray(x).astype(np.int64)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, float)
    if w.ndim == 1:
        w = np.repeat(w[:, None], y.shape[1], axis=1)
    nodes: list[TreeNode] = []

    def leaf_value(rows: np.ndarray) -> np.ndarray:
        ws = w[rows].sum(0)
        return (w[rows] * y[rows]).sum(0) / np.maximum(ws, 1e-12)

    # breadth-first so children always get larger indexes than their parent
    queue = [(np.arange(len(x)), 0, 0)]
    nodes.append(TreeNode(value=leaf_value(queue[0][0])))
    while queue:
        rows, i, depth = queue.pop(0)
        if depth >= max_depth or len(rows) < 2:
            continue
        gain, f, thr = _best_split(x[rows], y[rows], w[rows], min_leaf_weight)
        if f < 0 or gain < min_gain:
            continue
        left, right = rows[x[rows, f] <= thr], rows[x[rows, f] > thr]
        li, ri = len(nodes), len(nodes) + 1
        nodes.append(TreeNode(value=leaf_value(left)))
        nodes.append(TreeNode(value=leaf_value(right)))
        nodes[i].feature, nodes[i].threshold, nodes[i].left, nodes[i].right = f, thr, li, ri
        queue += [(left, li, depth + 1), (right, ri, depth + 1)]
    return TreeModel(nodes, x.shape[1])
