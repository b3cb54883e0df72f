"""Float models (ir.py) -> the VM's fixed-point weights for a declared model, and the VM's
integer inference on them (numpy, bit for bit what semantics/models.py and the C VM do).

Inputs: the program feeds the model integers x; the float model was trained on
x / 2^in_frac.  Trees: a split `v <= t` becomes `x <= floor(t * 2^in_frac)` and `v < t`
becomes `x <= ceil(t * 2^in_frac) - 1`, exact for every integer x.  Leaf values (with the
base score folded into the first tree) are scaled by 2^(out_frac + shift) and rounded; a
forest's exact sum is shifted back by `shift` (with half an LSB added so the floor rounds).
Linear and MLP layers (conv1d layers alike, time-major as the VM computes them): per layer a power-of-two weight scale 2^a, the largest that keeps
every |w| <= max_weight (and the biases within the loader's bound); hidden activations get
the largest power-of-two scale whose calibration maximum fits the declared input range
(the VM clamps hidden outputs to it) with 4x headroom; the last layer keeps shift 0, so the outputs are the
score times 2^out_frac."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rmt.contract.objfile import Model
from rmt.contract.objformat import Activation, LayerKind, ModelKind
from rmt.learn.quantize import emulate_mlp
from rmt.model_import.ir import FloatLayer, FloatNet, FloatTrees, ModelImportError
from rmt.contract import weights as W

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
LEAF_BOUND = 1 << 30          # a forest's |score| * 2^out_frac stays under this
MAX_OUT_FRAC = 16
# Hidden scales leave room for activations this many times the calibration maximum: inputs
# the calibration never saw would otherwise be clamped (the forced-migration test workloads
# reach twice their validation maximum).
HEADROOM = 4


@dataclass
class Fixed:
    weights: W.ModelWeights
    out_frac: int                # the outputs are the float score * 2^out_frac
    notes: list[str] = field(default_factory=list)


def _what(m: Model) -> str:
    return f"{W.kind_name(m.kind)} model {m.name!r}"


def check_signature(fm: FloatNet | FloatTrees, m: Model) -> None:
    """Refuse a model that does not fit the declared signature, naming both sides."""
    src, what = fm.task.source, _what(m)
    if isinstance(fm, FloatTrees):
        if m.kind not in (ModelKind.TREE, ModelKind.FOREST):
            raise ModelImportError(f"{src} is a tree model, {what} is declared "
                                   f"{W.kind_name(m.kind)}: declare tree(...) or forest(...)")
        want = 1 if m.kind == ModelKind.TREE else m.trees
        if len(fm.trees) > want:
            raise ModelImportError(f"{src} has {len(fm.trees)} trees, {what} declares {want}"
                                   f"{'' if m.kind == ModelKind.FOREST else ' (a tree)'}: "
                                   f"declare forest(trees = {len(fm.trees)}, ...) or train "
                                   f"fewer trees (at most 64)")
        depth = max(t.depth() for t in fm.trees)
        if depth > m.depth:
            raise ModelImportError(f"{src} has depth {depth}, {what} declares depth = "
                                   f"{m.depth}")
        n_in = fm.n_in
    else:
        if m.kind not in (ModelKind.MLP, ModelKind.LINEAR):
            raise ModelImportError(f"{src} is a {'linear model' if len(fm.layers) == 1 else 'neural network'}, "
                                   f"{what} is declared {W.kind_name(m.kind)}: declare "
                                   f"linear(...) or mlp(...)")
        _check_layers(fm, m, src, what)
        n_in = fm.n_in
    if n_in >= 0 and n_in != m.n_in:
        raise ModelImportError(f"{src} takes {n_in} inputs, {what} declares in = {m.n_in}")
    if fm.task.n_out != m.n_out:
        raise ModelImportError(f"{src} gives {fm.task.n_out} outputs ({fm.task.kind}), {what} "
                               f"declares out = {m.n_out}")


def _lname(conv: bool, shape: tuple[int, ...]) -> str:
    return f"conv1d(channels = {shape[0]}, kernel = {shape[2]})" if conv else \
        f"dense({shape[0]})"


def _check_layers(fm: FloatNet, m: Model, src: str, what: str) -> None:
    """Layer by layer against the declaration: conv1d channels and kernel, dense sizes,
    ReLU; the conv layers first, so a Conv in a dense-only program is named as such."""
    convs = [ly for ly in fm.layers if ly.conv]
    sig_convs = [s for s in m.layers if s.kind == LayerKind.CONV1D]
    if len(convs) != len(sig_convs):
        have = ", ".join(_lname(True, ly.weight.shape) for ly in convs) or "none"
        want = ", ".join(f"conv1d(channels = {s.out_ch}, kernel = {s.kernel})"
                         for s in sig_convs) or "none"
        raise ModelImportError(f"{src} has {len(convs)} 1-D convolution layer(s) ({have}), "
                               f"{what} declares {len(sig_convs)} ({want})")
    if len(fm.layers) != len(m.layers):
        raise ModelImportError(f"{src} has {len(fm.layers)} layers, {what} declares "
                               f"{len(m.layers)}")
    for j, (ly, sig) in enumerate(zip(fm.layers, m.layers)):
        conv = sig.kind == LayerKind.CONV1D
        if conv != ly.conv:
            raise ModelImportError(f"{src} layer {j} is {'conv1d' if ly.conv else 'dense'}"
                                   f", {what} layer {j} is {'conv1d' if conv else 'dense'}")
        if conv:
            have = tuple(ly.weight.shape)
            want = (sig.out_ch, sig.in_ch, sig.kernel)
            if have != want:
                raise ModelImportError(
                    f"{src} layer {j} is a convolution with {have[0]} channels, kernel "
                    f"{have[2]} over {have[1]} input channel(s), {what} layer {j} is "
                    f"conv1d(channels = {sig.out_ch}, kernel = {sig.kernel}) over "
                    f"{sig.in_ch} input channel(s)")
        else:
            n_out, n_in_l = ly.weight.shape
            if (n_out, n_in_l) != (sig.n_out, sig.n_in):
                raise ModelImportError(f"{src} layer {j} is {n_in_l} -> {n_out}, {what} "
                                       f"layer {j} is {sig.n_in} -> {sig.n_out}")
        if ly.relu != (sig.act == Activation.RELU):
            raise ModelImportError(f"{src} layer {j} has {'ReLU' if ly.relu else 'no activation'}"
                                   f", {what} layer {j} has "
                                   f"{'relu' if sig.act == Activation.RELU else 'none'}")


# ---------------------------------------------------------------- trees

def _int_threshold(t: float, strict: bool, in_frac: int) -> int:
    v = t * 2.0 ** in_frac
    q = math.ceil(v) - 1 if strict else math.floor(v)
    return int(min(max(q, I32_MIN), I32_MAX))


def quantize_trees(fm: FloatTrees, m: Model, in_frac: int, out_frac: int | None) -> Fixed:
    notes = list(fm.notes)
    per_out = np.abs(fm.base) + sum(np.abs(t.value).max(axis=0) for t in fm.trees)
    bound = float(np.max(per_out)) or 1.0
    if out_frac is None:
        out_frac = min(MAX_OUT_FRAC, math.floor(math.log2(LEAF_BOUND / bound)))
    elif bound * 2.0 ** out_frac > LEAF_BOUND:
        raise ModelImportError(f"{fm.task.source}: scores up to {bound:.4g} at out_frac "
                               f"{out_frac} exceed 2^30; use out_frac <= "
                               f"{math.floor(math.log2(LEAF_BOUND / bound))}")
    shift = 0
    if m.kind == ModelKind.FOREST:       # extra leaf precision, removed by the header shift
        leafmax = max(float(np.abs(t.value).max()) for t in fm.trees) + float(
            np.abs(fm.base).max())
        while shift < 8 and (leafmax or 1.0) * 2.0 ** (out_frac + shift + 1) <= LEAF_BOUND:
            shift += 1
    scale = 2.0 ** (out_frac + shift)
    trees = []
    for j, t in enumerate(fm.trees):
        vals = t.value + (fm.base if j == 0 else 0.0)
        ints = np.round(vals * scale).astype(np.int64)
        if j == 0 and shift:
            ints += 1 << (shift - 1)          # the VM floors the shifted sum: round instead
        thr = [_int_threshold(float(v), t.strict, in_frac) if t.left[i] >= 0 else 0
               for i, v in enumerate(t.threshold)]
        trees.append(W.tree_from_arrays(t.feature, thr, t.left, t.right, ints, root=t.root))
    if fm.trees and any(t.strict for t in fm.trees):
        notes.append("splits x < t became x <= ceil(t * 2^in_frac) - 1 (exact on integers)")
    w = W.for_model(m, trees=trees, shift=shift)
    return Fixed(w, out_frac, notes)


# ---------------------------------------------------------------- layers

def _bound_from_range(fm: FloatNet, m: Model, in_frac: int) -> list[float]:
    """Per-layer max |activation| by interval arithmetic over the declared input range."""
    lo = np.full(m.n_in, m.in_lo / 2.0 ** in_frac)
    hi = np.full(m.n_in, m.in_hi / 2.0 ** in_frac)
    out = []
    for ly in fm.layers:
        wp, wn = np.maximum(ly.weight, 0), np.minimum(ly.weight, 0)
        zero = np.zeros_like(ly.bias)

        def lin(w: np.ndarray, v: np.ndarray) -> np.ndarray:
            return FloatLayer(w, zero, relu=False, conv=ly.conv).forward(v[None, :])[0]
        lo, hi = lin(wp, lo) + lin(wn, hi), lin(wp, hi) + lin(wn, lo)
        if ly.conv:
            steps = len(lo) // ly.weight.shape[0]
            lo, hi = lo + np.tile(ly.bias, steps), hi + np.tile(ly.bias, steps)
        else:
            lo, hi = lo + ly.bias, hi + ly.bias
        if ly.relu:
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
        out.append(float(max(np.abs(lo).max(), np.abs(hi).max())))
    return out


def quantize_net(fm: FloatNet, m: Model, in_frac: int, calib: np.ndarray | None,
                 out_frac: int | None) -> Fixed:
    notes: list[str] = []
    bits = m.weight_bits
    maxw = m.max_abs_weight or (1 << (bits - 1)) - 1
    bias_max = 1 << (bits + 8) if bits < 32 else None
    if len(fm.layers) == 1:
        acts = [0.0]
    elif calib is not None and len(calib):
        acts = [float(np.abs(a).max()) for a in fm.activations(calib / 2.0 ** in_frac)]
        notes.append("hidden scales from the calibration maxima")
    else:
        acts = _bound_from_range(fm, m, in_frac)
        notes.append("hidden scales from the declared input range (no calibration data)")
    f = in_frac
    layers = []
    for j, ly in enumerate(fm.layers):
        last = j + 1 == len(fm.layers)
        absw = np.abs(ly.weight)
        wmax = float(absw.max()) or 1.0
        a = math.floor(math.log2(maxw / wmax))
        if not last:
            cap = m.in_hi if ly.relu else min(m.in_hi, -m.in_lo)
            room = HEADROOM if calib is not None and len(calib) else 1
            f_cal = math.floor(math.log2(cap / (room * acts[j]))) \
                if acts[j] > 0 and cap > 0 else None
        while True:
            if a + f < 0:
                at = np.unravel_index(int(np.argmax(absw)), absw.shape)
                raise ModelImportError(
                    f"{fm.task.source} layer {j}: weight "
                    f"{''.join(f'[{int(i)}]' for i in at)} = {ly.weight[at]:.6g} "
                    f"cannot fit max_weight {maxw} at any scale: it needs 2^{a}, and with "
                    f"inputs at 2^{f} the accumulator would resolve only multiples of "
                    f"{2.0 ** -(a + f):g}; retrain with smaller weights (weight decay, "
                    f"scaled features) or declare a larger max_weight / weight type")
            if last:
                f_out = a + f if out_frac is None else out_frac
                if f_out > a + f:
                    raise ModelImportError(f"{fm.task.source}: out_frac {out_frac} is finer "
                                           f"than the last layer's accumulator (2^{a + f})")
            else:
                f_out = a + f if f_cal is None else min(f_cal, a + f)
            shift = a + f - f_out
            if shift > W.MAX_LAYER_SHIFT:
                a -= shift - W.MAX_LAYER_SHIFT
                continue
            bq = np.round(ly.bias * 2.0 ** (a + f)).astype(np.int64)
            if shift:
                bq += 1 << (shift - 1)            # the VM floors; this makes it round
            if bias_max is None or np.all(np.abs(bq) <= bias_max):
                break
            a -= 1                                # biases too large at this scale
        wq = np.clip(np.round(ly.weight * 2.0 ** a), -maxw, maxw).astype(np.int64)
        layers.append((wq, bq, shift))
        f = f_out
    w = W.for_model(m, layers=layers)
    return Fixed(w, f, notes)


def quantize(fm: FloatNet | FloatTrees, m: Model, in_frac: int, calib: np.ndarray | None,
             out_frac: int | None = None) -> Fixed:
    check_signature(fm, m)
    try:
        if isinstance(fm, FloatTrees):
            fx = quantize_trees(fm, m, in_frac, out_frac)
        else:
            fx = quantize_net(fm, m, in_frac, calib, out_frac)
        W.read_weights(W.write_weights(fx.weights), m)       # the loader's rules
    except (W.WeightsError, ValueError) as e:
        if isinstance(e, ModelImportError):
            raise
        raise ModelImportError(f"{fm.task.source}: {e}") from None
    return fx


# ---------------------------------------------------------------- the VM's arithmetic

def emulate(w: W.ModelWeights, x: np.ndarray, m: Model) -> tuple[np.ndarray, int]:
    """The VM's outputs on integer inputs x [n, n_in]; (outputs [n, n_out], saturations)."""
    x = np.asarray(x, dtype=np.int64)
    if w.kind in (ModelKind.MLP, ModelKind.LINEAR):
        return emulate_mlp(w, x, m.in_lo, m.in_hi)
    total = np.zeros((len(x), w.n_out), dtype=np.int64)
    rows = np.arange(len(x))
    for t in w.trees:
        feat = np.array([n.feature for n in t.nodes], np.int64)
        thr = np.array([n.threshold for n in t.nodes], np.int64)
        left = np.array([n.left for n in t.nodes], np.int64)
        right = np.array([n.right for n in t.nodes], np.int64)
        leaf = np.array([n.leaf for n in t.nodes], np.int64)
        idx = np.zeros(len(x), np.int64)
        for _ in range(len(t.nodes)):
            inner = feat[idx] != -1
            if not inner.any():
                break
            go = x[rows, np.maximum(feat[idx], 0)] <= thr[idx]
            idx = np.where(inner, np.where(go, left[idx], right[idx]), idx)
        total += np.asarray(t.leaves, np.int64)[leaf[idx]]
    shifted = total >> w.shift
    sat = int(np.sum((shifted < I32_MIN) | (shifted > I32_MAX)))
    return np.clip(shifted, I32_MIN, I32_MAX), sat
