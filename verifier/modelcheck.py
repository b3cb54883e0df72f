"""Fixed-point model obligations: signatures, int32 accumulator overflow, output bounds.

The proof is interval arithmetic, exact for the worst case (no solver
needed): for a dense layer, |acc_j| <= |b_j| + sum_i |W_ji| * max|x_i|; for
conv1d the sum runs over in_ch * kernel terms.  Without weights the bounds
come from the signature:

* |w| <= max_abs_weight when the model declares one, else 2^(weight_bits-1);
* |b| <= 2^(weight_bits + 8), capped at 2^31 (enforced by both weights
  loaders, contract/weights.py and vm_kernel/core/rmt_model*.c);
* layer 0's inputs lie in the declared [in_lo, in_hi] (the CALLM obligation
  ModelInputInRange proves the program keeps them there);
* the per-layer shift comes with the weights, so without them it is taken
  as 0 (the worst case): a layer's outputs are bounded by its accumulator
  bound, or [0, bound] after ReLU;
* every hidden layer's outputs are clamped to [in_lo, in_hi] by the engines
  (docs/semantics.md), so each later layer's inputs lie in the declared range
  too.

With actual weights (`--weights m=FILE`) each output gets its own interval
from the real weights, biases and shifts.  The last layer's bounds also
bound the model's outputs, which the symbolic execution then assumes.
Trees return leaf values: bounded only when weights are given.  A forest's
sum is exact and saturated at run time; it is checked only with weights.
"""
from __future__ import annotations

from rmt.compiler.cost import model_cost
from rmt.contract.objfile import Model, Program
from rmt.contract.objformat import Activation, LayerKind, ModelKind
from rmt.verifier import obligations as O
from rmt.verifier.obligations import Counterexample, Proved, Result

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def weight_bound(m: Model) -> int:
    return m.max_abs_weight or 1 << (m.weight_bits - 1)


def bias_bound(m: Model) -> int:
    return min(1 << (m.weight_bits + 8), 1 << 31)


def check_models(prog: Program, budget: int,
                 weights: dict[int, object] | None = None
                 ) -> tuple[list[Result], dict[int, tuple[int, int]]]:
    """Results for every model, and proven output bounds per model index."""
    results: list[Result] = []
    bounds: dict[int, tuple[int, int]] = {}
    weights = weights or {}
    for idx, m in enumerate(prog.models):
        results += _signature(m, budget)
        w = weights.get(idx)
        if m.kind in (ModelKind.MLP, ModelKind.LINEAR):
            res, b = (_mlp_weights(m, w) if w is not None else _mlp_signature(m))
        else:
            res, b = _trees(m, w)
        results += res
        if b is not None:
            bounds[idx] = (max(b[0], I32_MIN), min(b[1], I32_MAX))
    return results, bounds


def _signature(m: Model, budget: int) -> list[Result]:
    out = []
    wmax = 1 << (m.weight_bits - 1)
    ok = 0 <= m.max_abs_weight <= wmax
    out.append(Result(O.ModelSignature(-1, m.name, "max_abs_weight may not fit the weight type"),
                      Proved() if ok else Counterexample(
                          {"max_abs_weight": m.max_abs_weight, "weight_bits": m.weight_bits},
                          f"|w| bound {m.max_abs_weight} does not fit i{m.weight_bits}")))
    cost = model_cost(m)
    out.append(Result(O.ModelSignature(-1, m.name,
                                       "oversized: one inference may exceed the hook budget"),
                      Proved() if cost <= budget else Counterexample(
                          {"inference cost": cost, "budget": budget},
                          f"oversized: one inference costs {cost}, over the budget {budget}")))
    return out


def _terms(ly) -> int:
    return ly.in_ch * ly.kernel if ly.kind == LayerKind.CONV1D else ly.n_in


def _mlp_signature(m: Model) -> tuple[list[Result], tuple[int, int] | None]:
    out = []
    W, B = weight_bound(m), bias_bound(m)
    lo, hi = m.in_lo, m.in_hi
    for j, ly in enumerate(m.layers):
        X = max(abs(lo), abs(hi))
        worst = B + _terms(ly) * W * X
        ob = O.NoAccumulatorOverflow(-1, m.name, j)
        if worst > I32_MAX:
            x = hi if abs(hi) >= abs(lo) else lo
            out.append(Result(ob, Counterexample(
                {"terms": _terms(ly), "every weight": W if x >= 0 else -W, "every input": x,
                 "bias": B, "accumulator": worst},
                f"{_terms(ly)} x {W} x {X} + {B} = {worst} > {I32_MAX}"
                + ("; later layers not checked" if j + 1 < len(m.layers) else ""))))
            return out, None
        out.append(Result(ob, Proved(f"|acc| <= {worst}")))
        lo, hi = (0 if ly.act == Activation.RELU else -worst), worst
        if j + 1 < len(m.layers):            # hidden outputs are clamped to the input range
            lo, hi = max(lo, m.in_lo), min(hi, m.in_hi)
    return out, (lo, hi)


def _mlp_weights(m: Model, w) -> tuple[list[Result], tuple[int, int] | None]:
    out = []
    iv = [(m.in_lo, m.in_hi)] * m.n_in
    for j, (ly, wl) in enumerate(zip(m.layers, w.layers)):
        accs = _layer_acc(ly, wl, iv)
        ob = O.NoAccumulatorOverflow(-1, m.name, j)
        bad = [(k, a) for k, a in enumerate(accs) if a[0] < I32_MIN or a[1] > I32_MAX]
        if bad:
            k, (alo, ahi) = bad[0]
            out.append(Result(ob, Counterexample(
                {"output": k, "accumulator range": f"[{alo}, {ahi}]"},
                f"with the given weights, output {k} accumulates to [{alo}, {ahi}]")))
            return out, None
        out.append(Result(ob, Proved("with the given weights")))
        sh, relu = wl.shift, wl.relu
        iv = [((a >> sh) if not relu else max(0, a >> sh), (b >> sh) if not relu else
               max(0, b >> sh)) for a, b in accs]
        if j + 1 < len(m.layers):            # hidden outputs are clamped to the input range
            iv = [(min(max(a, m.in_lo), m.in_hi), min(max(b, m.in_lo), m.in_hi)) for a, b in iv]
    return out, (min(a for a, _ in iv), max(b for _, b in iv))


def _layer_acc(ly, wl, iv: list[tuple[int, int]]) -> list[tuple[int, int]]:
    def term(wv: int, x: tuple[int, int]) -> tuple[int, int]:
        a, b = wv * x[0], wv * x[1]
        return min(a, b), max(a, b)

    accs = []
    if ly.kind == LayerKind.CONV1D:
        cin, k = wl.in_ch, wl.kernel
        steps = ly.n_in // cin - k + 1
        for s in range(steps):
            for o in range(wl.out_ch):
                lo = hi = wl.bias[o]
                for kk in range(k):
                    for c in range(cin):
                        t = term(wl.weights[o][c][kk], iv[(s + kk) * cin + c])
                        lo, hi = lo + t[0], hi + t[1]
                accs.append((lo, hi))
    else:
        for row, b in zip(wl.weights, wl.bias):
            lo = hi = b
            for wv, x in zip(row, iv):
                t = term(wv, x)
                lo, hi = lo + t[0], hi + t[1]
            accs.append((lo, hi))
    return accs


def _trees(m: Model, w) -> tuple[list[Result], tuple[int, int] | None]:
    if w is None:
        return [], None
    los, his = [], []
    for t in w.trees:
        vals = [v for leaf in t.leaves for v in leaf]
        los.append(min(vals))
        his.append(max(vals))
    if m.kind == ModelKind.TREE:
        return [], (los[0], his[0])
    lo, hi = sum(los) >> w.shift, sum(his) >> w.shift
    ob = O.NoAccumulatorOverflow(-1, m.name, 0)
    if lo < I32_MIN or hi > I32_MAX:
        return [Result(ob, Counterexample({"sum range": f"[{lo}, {hi}]"},
                                          "the forest's shifted sum leaves int32"))], None
    return [Result(ob, Proved("with the given weights"))], (lo, hi)
