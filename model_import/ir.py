"""What an imported model is before fixed point: float layers or float trees, and its task.

Every source (scikit-learn, ONNX, XGBoost, LightGBM) is translated to one of these, and
`FloatNet.score` / `FloatTrees.score` evaluate it in float64 on the model's own input units.
The *score* is what the program's model outputs carry, in float:

- binary classifier: one value whose sign is the decision (a logit for linear, MLP and
  boosted models; 2p - 1 for decision trees and averaged forests, p the probability of the
  positive class);
- multiclass: one value per class, the decision is the argmax (logits, or probabilities
  for trees and averaged forests);
- multilabel (several binary outputs): one value per output, each as for binary;
- regression: the predicted values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TASKS = ("binary", "multiclass", "multilabel", "regression")


class ModelImportError(ValueError):
    """A model that cannot be imported, with the reason in one line."""


@dataclass
class Task:
    kind: str                   # one of TASKS
    n_out: int                  # score columns
    source: str                 # what was read, e.g. "scikit-learn RandomForestClassifier"

    def decide(self, score: np.ndarray) -> np.ndarray:
        """Decisions from scores [n, n_out]: argmax, signs, or the scores themselves."""
        if self.kind == "multiclass":
            return np.argmax(score, axis=1)[:, None]
        if self.kind in ("binary", "multilabel"):
            return (score > 0).astype(np.int64)
        return score


@dataclass
class FloatLayer:
    """Dense: weight [n_out, n_in]; conv1d: weight [out_ch, in_ch, kernel] over x[t*in_ch+c]."""
    weight: np.ndarray
    bias: np.ndarray
    relu: bool
    conv: bool = False

    def forward(self, h: np.ndarray) -> np.ndarray:
        if self.conv:
            out_ch, in_ch, k = self.weight.shape
            steps = h.shape[1] // in_ch - k + 1
            cols = []
            for s in range(steps):
                win = h[:, s * in_ch:(s + k) * in_ch].reshape(len(h), k, in_ch)
                cols.append(np.einsum("nkc,ock->no", win, self.weight) + self.bias)
            y = np.concatenate(cols, axis=1)
        else:
            y = h @ self.weight.T + self.bias
        return np.maximum(y, 0) if self.relu else y


@dataclass
class FloatNet:
    """A linear model (one dense layer) or a ReLU MLP, optionally starting with conv1d layers.

    Inputs are the program's layout: time-major x[t*in_ch + c] for a conv1d first layer, and
    a conv layer's outputs are time-major too (y[s*out_ch + o]), as the VM computes them.
    `steps` is the input's length T in time steps when the source states it (ONNX [N, C, T])."""
    layers: list[FloatLayer]
    task: Task
    steps: int = 0

    @property
    def n_in(self) -> int:
        """Inputs per row, or -1 when a conv1d first layer does not state its length."""
        w = self.layers[0].weight
        if not self.layers[0].conv:
            return w.shape[1]
        return self.steps * w.shape[1] if self.steps > 0 else -1

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        out, h = [], np.asarray(x, dtype=np.float64)
        for ly in self.layers:
            h = ly.forward(h)
            out.append(h)
        return out

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.activations(x)[-1]


@dataclass
class FloatTree:
    """Per-node arrays; node i is a leaf when left[i] < 0.  An inner node sends x to left
    when x[feature] <= threshold (strict=False) or x[feature] < threshold (strict=True)."""
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray           # [nodes, n_out]: leaf contributions to the score
    strict: bool = False
    root: int = 0

    def leaf_of(self, x: np.ndarray) -> np.ndarray:
        idx = np.full(len(x), self.root, dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(len(self.feature) + 1):
            inner = self.left[idx] >= 0
            if not inner.any():
                break
            f = np.where(inner, self.feature[idx], 0)
            v = x[rows, f]
            t = self.threshold[idx]
            go_left = v < t if self.strict else v <= t
            idx = np.where(inner, np.where(go_left, self.left[idx], self.right[idx]), idx)
        return idx

    def depth(self) -> int:
        best, stack = 0, [(self.root, 0)]
        while stack:
            i, d = stack.pop()
            if d > len(self.feature):
                raise ModelImportError(f"a tree's node {i} is reached by a path longer than "
                                       f"the tree's {len(self.feature)} nodes: not a tree")
            if self.left[i] >= 0:
                stack += [(int(self.left[i]), d + 1), (int(self.right[i]), d + 1)]
            else:
                best = max(best, d)
        return best


@dataclass
class FloatTrees:
    """score = base + the sum over trees of the leaf each reaches."""
    trees: list[FloatTree]
    base: np.ndarray            # [n_out]
    task: Task
    n_in: int
    notes: list[str] = field(default_factory=list)

    def score(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        total = np.tile(self.base.astype(np.float64), (len(x), 1))
        for t in self.trees:
            total += t.value[t.leaf_of(x)]
        return total


FloatModel = FloatNet | FloatTrees
