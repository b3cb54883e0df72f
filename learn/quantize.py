"""Float models -> the VM's fixed-point weight blobs, and the VM's integer inference.

MLP (docs/semantics.md, "Models"): the inputs are integers with `in_frac`
fractional bits.  Per layer, weights get the largest power-of-two scale
2^a that keeps |w| <= max_weight; the accumulator then has scale
2^(a + s_in), biases are quantized at that scale (plus half an output LSB,
so the VM's flooring shift rounds to nearest) and checked against the
loader's |b| <= 2^(weight_bits + 8); hidden layers shift back to `in_frac`
fractional bits (the VM then clamps them to the declared input range, which
is why the float model is trained with the same clamp); the last layer keeps
shift 0, so outputs are logits at scale 2^(a + in_frac) and their sign is
the float model's decision.

Trees are trained on the integer features themselves (learn.tree), so
thresholds carry over exactly; leaf values are mapped to integers by a
function of the caller's (for classifiers: sign-preserving (2p - 1) * 1024).

`emulate_mlp` / `emulate_tree` compute what the VM computes, bit for bit,
for tests and for float-vs-fixed comparisons without an engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rmt.contract.objfile import Model
from rmt.contract.objformat import ModelKind
from rmt.learn.mlp import MLP
from rmt.learn.tree import TreeModel
from rmt.contract import weights as W

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


class QuantError(ValueError):
    """The float model cannot be represented under the declared bounds."""


@dataclass
class QuantizedMLP:
    weights: W.ModelWeights
    out_frac: int                    # outputs are float logits * 2^out_frac

    def threshold(self, t: float) -> int:
        return int(math.floor(t * (1 << self.out_frac)))


def quantize_mlp(m: MLP, *, in_frac: int = 8, max_weight: int | None = None,
                 weight_bits: int | None = None, model: Model | None = None,
                 kind: ModelKind | None = None) -> QuantizedMLP:
    """Quantize `m` for the declared `model` (its signature: kind, weight type and
    max_weight come from it, and the result is checked by the loader's rules); without
    one, for an `mlp` (or `kind`) with the given bounds (defaults 2048 and i16)."""
    if model is not None:
        if model.kind not in (ModelKind.MLP, ModelKind.LINEAR):
            raise QuantError(f"model {model.name!r} is a {W.kind_name(model.kind)}; "
                             f"quantize_mlp writes mlp or linear weights")
        if kind is not None and kind != model.kind:
            raise QuantError(f"kind {W.kind_name(kind)} given, model {model.name!r} is "
                             f"{W.kind_name(model.kind)}")
        kind = model.kind
        weight_bits = weight_bits or model.weight_bits
        max_weight = max_weight or model.max_abs_weight or (1 << (weight_bits - 1)) - 1
    kind = kind or ModelKind.MLP
    weight_bits = weight_bits or 16
    max_weight = max_weight or 2048
    if kind == ModelKind.LINEAR and len(m.weights) != 1:
        raise QuantError(f"a linear model is one dense layer; this network has "
                         f"{len(m.weights)}")
    layers: list[W.DenseLayer] = []
    s_in = in_frac
    bias_max = 1 << (weight_bits + 8)
    out_frac = 0
    for j, (w, b) in enumerate(zip(m.weights, m.biases)):
        last = j + 1 == len(m.weights)
        wmax = float(np.max(np.abs(w))) or 1.0
        a = math.floor(math.log2(max_weight / wmax))
        while True:
            shift = 0 if last else a + s_in - in_frac
            if shift < 0:
                raise QuantError(f"layer {j}: weights up to {wmax:.3g} need a scale below "
                                 f"2^{-s_in + in_frac}; retrain with smaller weights")
            wq = np.clip(np.round(w * 2.0 ** a), -max_weight, max_weight).astype(np.int64)
            bq = np.round(b * 2.0 ** (a + s_in)).astype(np.int64)
            if shift:
                bq += 1 << (shift - 1)           # the VM floors; this makes it round
            if np.all(np.abs(bq) <= bias_max):
                break
            a -= 1                               # biases too large at this scale
        layers.append(W.DenseLayer(wq.tolist(), bq.tolist(), shift, relu=not last))
        if last:
            out_frac = a + s_in
        s_in = in_frac if not last else s_in
    w = W.mlp(layers, weight_bits, kind=kind)
    if model is not None:
        try:
            w = W.for_model(model, layers=layers)
            W.read_weights(W.write_weights(w), model)
        except W.WeightsError as e:
            raise QuantError(str(e)) from None
    return QuantizedMLP(w, out_frac)


def emulate_mlp(w: W.ModelWeights, x: np.ndarray, in_lo: int, in_hi: int
                ) -> tuple[np.ndarray, int]:
    """The VM's layer inference (dense and conv1d) on integer inputs; (outputs, saturations).

    Accumulators are exact (int64 holds every sum the loader admits), then saturated to
    int32, shifted (floor) and ReLU'd; hidden outputs are clamped to the input range."""
    h = np.asarray(x, dtype=np.int64)
    sat = 0
    for j, ly in enumerate(w.layers):
        if isinstance(ly, W.Conv1dLayer):
            acc = _conv1d_acc(ly, h)
        else:
            acc = h @ np.asarray(ly.weights, dtype=np.int64).T + \
                np.asarray(ly.bias, dtype=np.int64)
        sat += int(np.sum((acc < I32_MIN) | (acc > I32_MAX)))
        acc = np.clip(acc, I32_MIN, I32_MAX) >> ly.shift
        if ly.relu:
            acc = np.maximum(acc, 0)
        if j + 1 < len(w.layers):
            acc = np.clip(acc, in_lo, in_hi)
        h = acc
    return h, sat


def _conv1d_acc(ly: W.Conv1dLayer, h: np.ndarray) -> np.ndarray:
    """conv1d accumulators over h [n, T * in_ch] (time-major), time-major [n, steps * out_ch]:
    acc[s * out_ch + o] = bias[o] + sum over kk, c of w[o][c][kk] * h[(s + kk) * in_ch + c]."""
    wt = np.asarray(ly.weights, dtype=np.int64)            # [out_ch, in_ch, kernel]
    out_ch, in_ch, k = wt.shape
    steps = h.shape[1] // in_ch - k + 1
    bias = np.asarray(ly.bias, dtype=np.int64)
    cols = []
    for s in range(steps):
        win = h[:, s * in_ch:(s + k) * in_ch].reshape(len(h), k, in_ch)
        cols.append(np.einsum("nkc,ock->no", win, wt) + bias)
    return np.concatenate(cols, axis=1)


def class_leaf(v: np.ndarray, scale: int = 1024) -> list[int]:
    """Leaf probabilities -> integers whose sign is (p > 0.5)."""
    out = []
    for p in np.atleast_1d(v):
        q = int(round((2 * p - 1) * scale))
        out.append(q if (q > 0) == (p > 0.5) else (1 if p > 0.5 else 0))
    return out


def export_tree(t: TreeModel, leaf: Callable[[np.ndarray], list[int]] = class_leaf,
                kind: ModelKind = ModelKind.TREE) -> W.ModelWeights:
    """A learn.tree model as a weights blob (a TREE, or a one-tree FOREST)."""
    nodes, leaves = [], []
    for n in t.nodes:
        if n.feature < 0:
            nodes.append(W.Node(-1, 0, 0, 0, len(leaves)))
            leaves.append(leaf(n.value))
        else:
            nodes.append(W.Node(n.feature, int(n.threshold), n.left, n.right, 0))
    return W.forest([W.Tree(nodes, leaves)], t.n_in, kind=kind)


def emulate_tree(w: W.ModelWeights, x: np.ndarray) -> np.ndarray:
    """The VM's forest inference (sum of leaves, >> shift) on integer inputs."""
    x = np.asarray(x, dtype=np.int64)
    total = np.zeros((len(x), w.n_out), dtype=np.int64)
    for t in w.trees:
        for r in range(len(x)):
            i = 0
            while t.nodes[i].feature != -1:
                n = t.nodes[i]
                i = n.left if x[r, n.feature] <= n.threshold else n.right
            total[r] += t.leaves[t.nodes[i].leaf]
    return np.clip(total >> w.shift, I32_MIN, I32_MAX)
