"""Fixed-point model inference (docs/semantics.md, "Models (CALLM)").

Python integers are exact, so accumulators are computed exactly and then
saturated to int32 (counting each saturation), shifted arithmetically (floor)
and passed through ReLU where the layer says so.  Trees compare signed int32
inputs with `<=`; a forest sums the trees' outputs exactly, shifts, and
saturates.  A single tree is a forest of one with shift 0.
"""
from __future__ import annotations

from rmt.contract.objformat import ModelKind
from rmt.contract.weights import Conv1dLayer, DenseLayer, ModelWeights, Tree

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class Overflows:
    """Counts accumulator saturations during one inference."""

    def __init__(self) -> None:
        self.count = 0

    def saturate(self, acc: int) -> int:
        if acc > INT32_MAX:
            self.count += 1
            return INT32_MAX
        if acc < INT32_MIN:
            self.count += 1
            return INT32_MIN
        return acc


def _finish(acc: int, shift: int, relu: bool, ov: Overflows) -> int:
    y = ov.saturate(acc) >> shift
    return max(0, y) if relu else y


def dense(ly: DenseLayer, x: list[int], ov: Overflows) -> list[int]:
    return [_finish(b + sum(wi * xi for wi, xi in zip(row, x)), ly.shift, ly.relu, ov)
            for row, b in zip(ly.weights, ly.bias)]


def conv1d(ly: Conv1dLayer, x: list[int], ov: Overflows) -> list[int]:
    c_in, k = ly.in_ch, ly.kernel
    steps = len(x) // c_in - k + 1
    out = []
    for s in range(steps):
        for o in range(ly.out_ch):
            acc = ly.bias[o]
            for kk in range(k):
                for c in range(c_in):
                    acc += ly.weights[o][c][kk] * x[(s + kk) * c_in + c]
            out.append(_finish(acc, ly.shift, ly.relu, ov))
    return out


def tree_walk(t: Tree, x: list[int]) -> list[int]:
    """The leaf values the walk from node 0 reaches."""
    i = 0
    node = t.nodes[0]
    while node.feature != -1:
        i = node.left if x[node.feature] <= node.threshold else node.right
        node = t.nodes[i]
    return list(t.leaves[node.leaf])


def infer(w: ModelWeights, x: list[int],
          clamp: tuple[int, int] = (-(1 << 31), (1 << 31) - 1)) -> tuple[list[int], int]:
    """Run a model on int32 inputs; return (int32 outputs, number of saturations).

    `clamp` is the signature's declared input range: hidden layers' outputs are
    clamped to it (not counted as saturations), so every layer's inputs lie in it."""
    ov = Overflows()
    if w.kind in (ModelKind.MLP, ModelKind.LINEAR):
        lo, hi = clamp
        for i, ly in enumerate(w.layers):
            x = conv1d(ly, x, ov) if isinstance(ly, Conv1dLayer) else dense(ly, x, ov)
            if i < len(w.layers) - 1:
                x = [min(max(v, lo), hi) for v in x]
        return x, ov.count
    sums = [0] * w.n_out
    for t in w.trees:
        for j, v in enumerate(tree_walk(t, x)):
            sums[j] += v
    return [ov.saturate(s >> w.shift) for s in sums], ov.count
