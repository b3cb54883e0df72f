"""Concrete model weights as Z3 bitvector terms: the VM's integer inference, exactly.

The same arithmetic as the reference semantics (rmt.semantics.models): an MLP
or linear layer accumulates b + sum(w * x) exactly, saturates to int32, shifts
arithmetically and applies ReLU; hidden layers' outputs are clamped to the
signature's input range.  A tree compares signed int32 inputs with `<=` and
yields its leaf's values; a forest sums its trees exactly, shifts, saturates.
Accumulators are as wide as the weights can make them (computed from the
concrete weights and the input bounds), so no term wraps where the VM would
not.  Zero weights are skipped: the terms stay the size of the live network.
"""
from __future__ import annotations

import z3

from rmt.contract.objformat import ModelKind
from rmt.contract.weights import Conv1dLayer, DenseLayer, ModelWeights, Tree

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _sext(e: z3.BitVecRef, bits: int) -> z3.BitVecRef:
    return e if e.size() == bits else z3.SignExt(bits - e.size(), e)


def _saturate32(acc: z3.BitVecRef, bound: int) -> z3.BitVecRef:
    """acc (signed, any width >= 32) saturated to int32, as a 32-bit term."""
    if bound > INT32_MAX:
        w = acc.size()
        acc = z3.If(acc > z3.BitVecVal(INT32_MAX, w), z3.BitVecVal(INT32_MAX, w),
                    z3.If(acc < z3.BitVecVal(INT32_MIN, w), z3.BitVecVal(INT32_MIN, w), acc))
    return z3.Extract(31, 0, acc)


def _neuron(bias: int, terms: list[tuple[int, z3.BitVecRef]], in_bound: int, shift: int,
            relu: bool) -> z3.BitVecRef:
    bound = abs(bias) + in_bound * sum(abs(w) for w, _ in terms)
    bits = max(34, bound.bit_length() + 2)
    acc = z3.BitVecVal(bias, bits)
    for w, x in terms:
        acc = acc + z3.BitVecVal(w, bits) * _sext(x, bits)
    y = _saturate32(acc, bound)
    if shift:
        y = y >> shift
    if relu:
        y = z3.If(y < 0, z3.BitVecVal(0, 32), y)
    return y


def _layer(ly: DenseLayer | Conv1dLayer, x: list[z3.BitVecRef],
           in_bound: int) -> list[z3.BitVecRef]:
    if isinstance(ly, DenseLayer):
        return [_neuron(b, [(w, xi) for w, xi in zip(row, x) if w], in_bound, ly.shift, ly.relu)
                for row, b in zip(ly.weights, ly.bias)]
    c_in, k = ly.in_ch, ly.kernel
    out = []
    for s in range(len(x) // c_in - k + 1):
        for o in range(ly.out_ch):
            terms = [(ly.weights[o][c][kk], x[(s + kk) * c_in + c])
                     for kk in range(k) for c in range(c_in) if ly.weights[o][c][kk]]
            out.append(_neuron(ly.bias[o], terms, in_bound, ly.shift, ly.relu))
    return out


def _tree(t: Tree, x: list[z3.BitVecRef], n_out: int) -> list[z3.BitVecRef]:
    """One term per output: nested If over the tree's comparisons (64-bit leaf values)."""
    memo: dict[int, list[z3.BitVecRef]] = {}

    def node(i: int, depth: int) -> list[z3.BitVecRef]:
        got = memo.get(i)
        if got is not None:
            return got
        nd = t.nodes[i]
        if nd.feature == -1 or depth > 64:
            vals = [z3.BitVecVal(v, 64) for v in t.leaves[nd.leaf]] if nd.feature == -1 \
                else [z3.BitVecVal(0, 64)] * n_out
        else:
            c = x[nd.feature] <= z3.BitVecVal(nd.threshold, 32)
            left, right = node(nd.left, depth + 1), node(nd.right, depth + 1)
            vals = [l if l.eq(r) else z3.If(c, l, r) for l, r in zip(left, right)]
        memo[i] = vals
        return vals
    return node(0, 0)


def infer_terms(w: ModelWeights, x: list[z3.BitVecRef],
                clamp: tuple[int, int]) -> list[z3.BitVecRef]:
    """The model's int32 outputs for the int32 input terms x."""
    if w.kind in (ModelKind.MLP, ModelKind.LINEAR):
        lo, hi = clamp
        bound = 1 << 31
        for i, ly in enumerate(w.layers):
            x = _layer(ly, x, bound)
            if i < len(w.layers) - 1:
                x = [z3.If(v < lo, z3.BitVecVal(lo, 32), z3.If(v > hi, z3.BitVecVal(hi, 32), v))
                     for v in x]
                bound = max(abs(lo), abs(hi))
        return x
    sums = [z3.BitVecVal(0, 80) for _ in range(w.n_out)]
    for t in w.trees:
        for j, v in enumerate(_tree(t, x, w.n_out)):
            sums[j] = sums[j] + z3.SignExt(16, v)
    return [_saturate32(s >> w.shift if w.shift else s, 1 << 80) for s in sums]


def tree_regions(t: Tree, x: list[z3.BitVecRef]) -> list[tuple[z3.BoolRef, list[int]]]:
    """The tree's input space as regions, one per distinct leaf vector: (the disjunction of
    the root-to-leaf paths reaching that vector, the vector).  The regions partition the
    inputs (every x reaches exactly one leaf)."""
    groups: dict[tuple[int, ...], list[z3.BoolRef]] = {}
    stack: list[tuple[int, list[z3.BoolRef]]] = [(0, [])]
    while stack:
        i, conds = stack.pop()
        nd = t.nodes[i]
        if nd.feature == -1:
            groups.setdefault(tuple(t.leaves[nd.leaf]), []).append(
                z3.And(*conds) if conds else z3.BoolVal(True))
            continue
        c = x[nd.feature] <= z3.BitVecVal(nd.threshold, 32)
        stack.append((nd.right, conds + [z3.Not(c)]))
        stack.append((nd.left, conds + [c]))
    return [(z3.Or(*paths) if len(paths) > 1 else paths[0], list(vec))
            for vec, paths in groups.items()]
