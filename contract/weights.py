"""The model-weights blob: dataclasses for training code, a writer, a strict reader.

Writing weights for a declared model (docs/models.md, "Writing weights yourself"):
`blob_for(model, layers=[(W, b, shift), ...])` for `mlp`/`linear`, or
`blob_for(model, trees=[tree_from_arrays(...)], shift=s)` for `tree`/`forest`, takes
integer numpy arrays, the kind, sizes and activations from the program's signature
(`compiler.compile_source(...).models`), and returns the bytes `rmtctl model load`
accepts, or a WeightsError naming the model's kind and what does not match.
`mlp`/`forest`/`write_weights` are the lower-level pieces it is built from.

Layout (contract/objformat.py, WHEADER/WLAYER/WTREE/WNODE): a header; for an
MLP or linear model, per layer a WLAYER record, its weights (weight_bits
each, signed, row-major [n_out][n_in], conv1d [out_ch][in_ch][kernel]) padded
with zeros to 4 bytes, then int32 biases (n_out, or out_ch for conv1d); for a
tree or forest, per tree a WTREE record, nnodes WNODE records, then
nleaves * n_out int32 leaf values.

The reader checks a blob against the model's declared signature
(`objfile.Model`) and treats every byte as hostile, like the C loader:
each rejection is a WeightsError (EngineError EINVAL) naming the layer, tree
or node and the reason.  Rules beyond the byte layout (also in
docs/semantics.md, "Models"): header `shift` is 0 except for forests (<= 63);
layer shifts are <= 31 (accumulators are int32); weights fit `weight_bits`
and, when the signature sets it, |w| <= max_abs_weight; a leaf node has
threshold, left and right 0, an inner node has leaf 0; children have larger
indexes than their parent and lie inside the tree; no reachable node is
deeper than the declared depth (the root is at depth 0).
"""
from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

from rmt.contract import objformat as F
from rmt.contract.objfile import Model
from rmt.contract.objformat import Activation, LayerKind, ModelKind
from rmt.contract.engine import EngineError

MAX_LAYER_SHIFT = 31
MAX_FOREST_SHIFT = 63
_WFMT = {8: "b", 16: "h", 32: "i"}


class WeightsError(EngineError):
    """A blob that does not fit its model: `where` names the part, `why` the reason."""

    def __init__(self, where: str, why: str):
        super().__init__(errno.EINVAL, f"weights {where}: {why}")
        self.where = where
        self.why = why


def _ints(a: Any) -> list:
    """Nested int lists from lists or numpy arrays (numpy is optional here)."""
    if hasattr(a, "tolist"):
        a = a.tolist()
    if isinstance(a, (list, tuple)):
        return [_ints(x) for x in a]
    if isinstance(a, float) and not a.is_integer():
        raise ValueError(f"weights must be integers (quantize first), found {a}")
    return int(a)


@dataclass
class DenseLayer:
    """y = act((W x + b) >> shift); weights is [n_out][n_in]."""
    weights: Sequence[Sequence[int]]
    bias: Sequence[int]
    shift: int = 0
    relu: bool = False

    def __post_init__(self) -> None:
        self.weights, self.bias = _ints(self.weights), _ints(self.bias)

    @property
    def n_in(self) -> int:
        return len(self.weights[0]) if self.weights else 0

    @property
    def n_out(self) -> int:
        return len(self.weights)


@dataclass
class Conv1dLayer:
    """1-D convolution over x viewed as [n_in / in_ch][in_ch]; weights [out_ch][in_ch][kernel]."""
    weights: Sequence[Sequence[Sequence[int]]]
    bias: Sequence[int]
    n_in: int
    shift: int = 0
    relu: bool = False

    def __post_init__(self) -> None:
        self.weights, self.bias = _ints(self.weights), _ints(self.bias)

    @property
    def out_ch(self) -> int:
        return len(self.weights)

    @property
    def in_ch(self) -> int:
        return len(self.weights[0])

    @property
    def kernel(self) -> int:
        return len(self.weights[0][0])

    @property
    def n_out(self) -> int:
        return (self.n_in // self.in_ch - self.kernel + 1) * self.out_ch


@dataclass
class Node:
    """feature -1: a leaf whose outputs are leaves[leaf]; else x[feature] <= threshold goes left."""
    feature: int
    threshold: int = 0
    left: int = 0
    right: int = 0
    leaf: int = 0


@dataclass
class Tree:
    nodes: list[Node]
    leaves: Sequence[Sequence[int]]      # [nleaves][n_out]

    def __post_init__(self) -> None:
        self.nodes = [n if isinstance(n, Node) else Node(*_ints(n)) for n in self.nodes]
        self.leaves = _ints(self.leaves)


Layer = DenseLayer | Conv1dLayer


@dataclass
class ModelWeights:
    """Everything a blob carries; `version` 0 lets the engine number loads itself."""
    kind: ModelKind
    n_in: int
    n_out: int
    weight_bits: int = 16
    layers: list[Layer] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    shift: int = 0                       # forests: the sum over trees is shifted right by this
    version: int = 0


def mlp(layers: list[Layer], weight_bits: int = 16, version: int = 0,
        kind: ModelKind = ModelKind.MLP) -> ModelWeights:
    """Weights for an MLP (or, with kind=LINEAR, a linear model) from its layers."""
    return ModelWeights(kind, layers[0].n_in, layers[-1].n_out, weight_bits, list(layers),
                        version=version)


def forest(trees: list[Tree], n_in: int, shift: int = 0, version: int = 0,
           kind: ModelKind = ModelKind.FOREST, weight_bits: int = 16) -> ModelWeights:
    """Weights for a forest (or, with one tree and kind=TREE, a tree)."""
    n_out = len(trees[0].leaves[0])
    return ModelWeights(kind, n_in, n_out, weight_bits, trees=list(trees), shift=shift,
                        version=version)


# ---------------------------------------------------------------- from arrays

def kind_name(kind: int) -> str:
    """`mlp`, `tree`, `forest`, `linear` (the language's names) for a ModelKind value."""
    try:
        return ModelKind(kind).name.lower()
    except ValueError:
        return f"unknown kind {kind}"


def _what(model: Model) -> str:
    return f"{kind_name(model.kind)} model {model.name!r}"


def _shape(a: Any) -> tuple[int, ...]:
    if hasattr(a, "shape"):
        return tuple(int(d) for d in a.shape)
    out, cur = [], a
    while isinstance(cur, (list, tuple)):
        out.append(len(cur))
        if not cur:
            break
        cur = cur[0]
    return tuple(out)


def tree_from_arrays(feature: Sequence[int], threshold: Sequence[int], left: Sequence[int],
                     right: Sequence[int], leaf_values: Any, root: int = 0) -> Tree:
    """A Tree from parallel per-node arrays (scikit-learn's `tree_` layout).

    Node i is a leaf when left[i] < 0 (its outputs are leaf_values[i], one row of n_out
    integers); otherwise x[feature[i]] <= threshold[i] goes to left[i], else right[i].
    Nodes are renumbered in preorder from `root`, so children follow their parent as the
    loader requires, and only leaves reachable from the root are kept.  Thresholds must
    already be the integer comparison the VM makes."""
    vals = _ints(leaf_values)
    nodes: list[Node] = []
    leaves: list[list[int]] = []
    stack: list[tuple[int, int, str]] = [(root, -1, "")]
    while stack:
        i, parent, side = stack.pop()
        me = len(nodes)
        if me >= len(feature):
            raise ValueError(f"node {i} is reached twice from the root: not a tree")
        if parent >= 0:
            setattr(nodes[parent], side, me)
        if int(left[i]) < 0:
            row = vals[i]
            nodes.append(Node(-1, 0, 0, 0, len(leaves)))
            leaves.append(list(row) if isinstance(row, list) else [row])
        else:
            t = threshold[i]
            if not float(t).is_integer():
                raise ValueError(f"node {i}: threshold {t} is not an integer (the VM compares "
                                 f"integers: use floor(t) for x <= t)")
            nodes.append(Node(int(feature[i]), int(t), 0, 0, 0))
            # right pushed first so the left subtree is numbered first
            stack.append((int(right[i]), me, "right"))
            stack.append((int(left[i]), me, "left"))
    return Tree(nodes, leaves)


def _layer_for(model: Model, j: int, item: Any) -> Layer:
    sig = model.layers[j]
    where = f"{_what(model)}: layer {j}"
    relu = sig.act == Activation.RELU
    if isinstance(item, (DenseLayer, Conv1dLayer)):
        w, b, shift = item.weights, item.bias, item.shift
    else:
        if not 2 <= len(item) <= 3:
            raise WeightsError(where, "give (weights, bias) or (weights, bias, shift)")
        w, b, shift = item[0], item[1], (item[2] if len(item) == 3 else 0)
    conv = sig.kind == LayerKind.CONV1D
    want_w = (sig.out_ch, sig.in_ch, sig.kernel) if conv else (sig.n_out, sig.n_in)
    want_b = (sig.out_ch,) if conv else (sig.n_out,)
    lname = f"conv1d(channels = {sig.out_ch}, kernel = {sig.kernel})" if conv \
        else f"dense({sig.n_out})"
    if _shape(w) != want_w:
        raise WeightsError(where, f"weights have shape {_shape(w)}, the signature's {lname} "
                                  f"needs {want_w}")
    if _shape(b) != want_b:
        raise WeightsError(where, f"bias has shape {_shape(b)}, the signature's {lname} "
                                  f"needs {want_b}")
    try:
        if conv:
            return Conv1dLayer(w, b, sig.n_in, int(shift), relu)
        return DenseLayer(w, b, int(shift), relu)
    except ValueError as e:
        raise WeightsError(where, str(e)) from None


def for_model(model: Model, *, layers: Sequence[Any] | None = None,
              trees: Sequence[Tree] | None = None, shift: int = 0,
              version: int = 0) -> ModelWeights:
    """Weights for a declared model from integer arrays, kind and sizes from its signature.

    For `mlp` and `linear`: `layers`, one per declared layer, each a DenseLayer /
    Conv1dLayer or a tuple (weights, bias[, shift]) of integer (numpy) arrays shaped
    [n_out][n_in] (conv1d: [out_ch][in_ch][kernel]) and [n_out] (conv1d: [out_ch]);
    ReLU comes from the signature.  For `tree` and `forest`: `trees` (see
    tree_from_arrays), and for a forest the header `shift`; a forest given fewer trees than
    it declares is padded with one-leaf trees of zeros, which add nothing to the sum.
    Mismatches raise WeightsError naming the model's kind and both sides."""
    what = _what(model)
    if model.kind in (ModelKind.MLP, ModelKind.LINEAR):
        if trees:
            raise WeightsError(what, f"got {len(trees)} trees; a {kind_name(model.kind)} model "
                                     f"takes layers")
        layers = list(layers or [])
        if len(layers) != len(model.layers):
            raise WeightsError(what, f"got {len(layers)} layers, the signature declares "
                                     f"{len(model.layers)}")
        out = [_layer_for(model, j, ly) for j, ly in enumerate(layers)]
        return ModelWeights(model.kind, model.n_in, model.n_out, model.weight_bits, out,
                            version=version)
    if layers:
        raise WeightsError(what, f"got {len(layers)} layers; a {kind_name(model.kind)} model "
                                 f"takes trees")
    trees = [t if isinstance(t, Tree) else Tree(*t) for t in (trees or [])]
    want = 1 if model.kind == ModelKind.TREE else model.trees
    if not trees or len(trees) > want:
        raise WeightsError(what, f"got {len(trees)} trees, the signature declares {want}")
    for j, t in enumerate(trees):
        if any(len(v) != model.n_out for v in t.leaves):
            widths = sorted({len(v) for v in t.leaves})
            raise WeightsError(f"{what}: tree {j}", f"leaves have {widths} outputs, the "
                                                    f"signature declares out = {model.n_out}")
    trees += [Tree([Node(-1)], [[0] * model.n_out]) for _ in range(want - len(trees))]
    return ModelWeights(model.kind, model.n_in, model.n_out, model.weight_bits,
                        trees=trees, shift=shift, version=version)


def blob_for(model: Model, **parts: Any) -> bytes:
    """for_model(model, **parts) serialized and checked by the loader's rules (read_weights):
    the bytes `rmtctl model load` accepts for this model, or a WeightsError."""
    blob = write_weights(for_model(model, **parts))
    try:
        read_weights(blob, model)
    except WeightsError as e:
        raise WeightsError(f"{_what(model)}: {e.where}", e.why) from None
    return blob


# ---------------------------------------------------------------- writer

def _pack_weights(flat: list[int], bits: int) -> bytes:
    raw = struct.pack(f"<{len(flat)}{_WFMT[bits]}", *flat)
    return raw + b"\0" * (-len(raw) % 4)


def write_weights(w: ModelWeights) -> bytes:
    """Serialize weights to a blob (no checks beyond what struct enforces; blob_for checks)."""
    body = bytearray()
    for ly in w.layers:
        act = Activation.RELU if ly.relu else Activation.NONE
        if isinstance(ly, Conv1dLayer):
            body += F.WLAYER.pack(kind=LayerKind.CONV1D, act=act, shift=ly.shift, n_in=ly.n_in,
                                  n_out=ly.n_out, in_ch=ly.in_ch, out_ch=ly.out_ch,
                                  kernel=ly.kernel)
            flat = [v for o in ly.weights for c in o for v in c]
        else:
            body += F.WLAYER.pack(kind=LayerKind.DENSE, act=act, shift=ly.shift, n_in=ly.n_in,
                                  n_out=ly.n_out, in_ch=1, out_ch=1, kernel=1)
            flat = [v for row in ly.weights for v in row]
        body += _pack_weights(flat, w.weight_bits)
        body += struct.pack(f"<{len(ly.bias)}i", *ly.bias)
    for t in w.trees:
        body += F.WTREE.pack(nnodes=len(t.nodes), nleaves=len(t.leaves))
        for n in t.nodes:
            body += F.WNODE.pack(feature=n.feature, threshold=n.threshold, left=n.left,
                                 right=n.right, leaf=n.leaf)
        flat = [v for leaf in t.leaves for v in leaf]
        body += struct.pack(f"<{len(flat)}i", *flat)
    total = F.WHEADER.size + len(body)
    head = F.WHEADER.pack(magic=F.WEIGHTS_MAGIC, version=F.WEIGHTS_VERSION, kind=w.kind,
                          weight_bits=w.weight_bits, n_in=w.n_in, n_out=w.n_out,
                          nlayers=len(w.layers), ntrees=len(w.trees),
                          model_version=w.version, total_size=total, shift=w.shift)
    return head + bytes(body)


# ---------------------------------------------------------------- reader

class _Cursor:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, n: int, where: str, what: str) -> bytes:
        if self.pos + n > len(self.buf):
            raise WeightsError(where, f"blob ends inside the {what} (needs {n} bytes at "
                                      f"offset {self.pos}, has {len(self.buf) - self.pos})")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def record(self, rec: F.Record, where: str) -> dict[str, int]:
        return rec.unpack(self.take(rec.size, where, rec.name + " record"))

    def ints(self, n: int, fmt: str, size: int, where: str, what: str) -> list[int]:
        return list(struct.unpack(f"<{n}{fmt}", self.take(n * size, where, what)))


def _pads_zero(where: str, rec: dict[str, int]) -> None:
    if any(v for k, v in rec.items() if k.startswith("pad")):
        raise WeightsError(where, "padding bytes are not zero")


def read_weights(blob: bytes, model: Model) -> ModelWeights:
    """Parse a blob and check it against the model's signature; raise WeightsError."""
    blob = bytes(blob)
    if len(blob) > F.LIMITS["MAX_WEIGHTS_SIZE"]:
        raise WeightsError("header", f"blob is {len(blob)} bytes, over the "
                                     f"{F.LIMITS['MAX_WEIGHTS_SIZE']} limit")
    cur = _Cursor(blob)
    h = cur.record(F.WHEADER, "header")
    if h["magic"] != F.WEIGHTS_MAGIC:
        raise WeightsError("header", f"bad magic 0x{h['magic']:08x} (not a weights blob)")
    if h["version"] != F.WEIGHTS_VERSION:
        raise WeightsError("header", f"blob format version {h['version']} is not "
                                     f"{F.WEIGHTS_VERSION}")
    if h["total_size"] != len(blob):
        raise WeightsError("header", f"total_size says {h['total_size']} bytes, blob has "
                                     f"{len(blob)}")
    _pads_zero("header", h)
    if h["kind"] != int(model.kind):
        raise WeightsError("header", f"kind is {kind_name(h['kind'])}, model {model.name!r} "
                                     f"declares {kind_name(model.kind)}")
    for name, want in (("weight_bits", model.weight_bits),
                       ("n_in", model.n_in), ("n_out", model.n_out)):
        if h[name] != want:
            raise WeightsError("header", f"{name} is {h[name]}, model {model.name!r} "
                                         f"declares {want}")
    w = ModelWeights(model.kind, model.n_in, model.n_out, model.weight_bits,
                     shift=h["shift"], version=h["model_version"])
    if model.kind in (ModelKind.MLP, ModelKind.LINEAR):
        if h["nlayers"] != len(model.layers) or h["ntrees"] != 0:
            raise WeightsError("header", f"{h['nlayers']} layers and {h['ntrees']} trees, "
                                         f"model {model.name!r} declares {len(model.layers)} "
                                         f"layers")
        if h["shift"] != 0:
            raise WeightsError("header", "shift must be 0 for an MLP or linear model "
                                         "(layers carry their own)")
        for j, sig in enumerate(model.layers):
            w.layers.append(_read_layer(cur, j, sig, model))
    else:
        ntrees = 1 if model.kind == ModelKind.TREE else model.trees
        if h["nlayers"] != 0 or h["ntrees"] != ntrees:
            raise WeightsError("header", f"{h['nlayers']} layers and {h['ntrees']} trees, "
                                         f"model {model.name!r} declares {ntrees} trees")
        limit = MAX_FOREST_SHIFT if model.kind == ModelKind.FOREST else 0
        if h["shift"] > limit:
            raise WeightsError("header", f"shift {h['shift']} is over {limit}")
        for j in range(ntrees):
            w.trees.append(_read_tree(cur, j, model))
    if cur.pos != len(blob):
        raise WeightsError("end", f"{len(blob) - cur.pos} bytes left after the last "
                                  f"{'layer' if w.layers else 'tree'}")
    return w


def _read_layer(cur: _Cursor, j: int, sig: Any, model: Model) -> Layer:
    where = f"layer {j}"
    r = cur.record(F.WLAYER, where)
    _pads_zero(where, r)
    want = {"kind": int(sig.kind), "act": int(sig.act), "n_in": sig.n_in, "n_out": sig.n_out,
            "in_ch": sig.in_ch, "out_ch": sig.out_ch, "kernel": sig.kernel}
    for name, v in want.items():
        if r[name] != v:
            raise WeightsError(where, f"{name} is {r[name]}, the signature declares {v}")
    if r["shift"] > MAX_LAYER_SHIFT:
        raise WeightsError(where, f"shift {r['shift']} is over {MAX_LAYER_SHIFT}")
    bits = model.weight_bits
    conv = sig.kind == LayerKind.CONV1D
    n = sig.out_ch * sig.in_ch * sig.kernel if conv else sig.n_out * sig.n_in
    flat = cur.ints(n, _WFMT[bits], bits // 8, where, "weights")
    pad = cur.take(-(n * bits // 8) % 4, where, "weight padding")
    if any(pad):
        raise WeightsError(where, "weight padding bytes are not zero")
    if model.max_abs_weight:
        for i, v in enumerate(flat):
            if abs(v) > model.max_abs_weight:
                raise WeightsError(where, f"weight {i} is {v}, over the declared bound "
                                          f"|w| <= {model.max_abs_weight}")
    nb = sig.out_ch if conv else sig.n_out
    bias = cur.ints(nb, "i", 4, where, "biases")
    if bits < 32:                # the verifier's overflow proof assumes this bound
        bmax = 1 << (bits + 8)
        for i, v in enumerate(bias):
            if abs(v) > bmax:
                raise WeightsError(where, f"bias {i} is {v}, over the bound |b| <= {bmax}")
    relu = sig.act == Activation.RELU
    if conv:
        k, c = sig.kernel, sig.in_ch
        ws = [[flat[(o * c + ci) * k:(o * c + ci + 1) * k] for ci in range(c)]
              for o in range(sig.out_ch)]
        return Conv1dLayer(ws, bias, sig.n_in, r["shift"], relu)
    rows = [flat[o * sig.n_in:(o + 1) * sig.n_in] for o in range(sig.n_out)]
    return DenseLayer(rows, bias, r["shift"], relu)


def _read_tree(cur: _Cursor, j: int, model: Model) -> Tree:
    where = f"tree {j}"
    r = cur.record(F.WTREE, where)
    nnodes, nleaves = r["nnodes"], r["nleaves"]
    if nnodes < 1 or nleaves < 1:
        raise WeightsError(where, f"{nnodes} nodes and {nleaves} leaves; a tree needs at "
                                  f"least one of each")
    # Check the sizes against what is left before reading, so a hostile count cannot
    # make us allocate much.
    need = nnodes * F.WNODE.size + nleaves * model.n_out * 4
    if need > len(cur.buf) - cur.pos:
        raise WeightsError(where, f"{nnodes} nodes and {nleaves} leaves need {need} bytes, "
                                  f"the blob has {len(cur.buf) - cur.pos} left")
    nodes = []
    depth = [-1] * nnodes
    depth[0] = 0
    for i in range(nnodes):
        nw = f"tree {j} node {i}"
        n = cur.record(F.WNODE, nw)
        if n["feature"] == -1:
            if n["threshold"] or n["left"] or n["right"]:
                raise WeightsError(nw, "a leaf has nonzero threshold, left or right")
            if n["leaf"] >= nleaves:
                raise WeightsError(nw, f"leaf index {n['leaf']} is outside 0..{nleaves - 1}")
        else:
            if not 0 <= n["feature"] < model.n_in:
                raise WeightsError(nw, f"feature {n['feature']} is outside 0..{model.n_in - 1}")
            if n["leaf"]:
                raise WeightsError(nw, "an inner node has a nonzero leaf index")
            for side in ("left", "right"):
                c = n[side]
                if not i < c < nnodes:
                    raise WeightsError(nw, f"{side} child {c} is not after the node and "
                                           f"inside 0..{nnodes - 1}")
                if depth[i] >= 0:
                    depth[c] = max(depth[c], depth[i] + 1)
            if depth[i] >= 0 and depth[i] + 1 > model.depth:
                raise WeightsError(nw, f"its children are at depth {depth[i] + 1}, deeper "
                                       f"than the declared {model.depth}")
        nodes.append(Node(n["feature"], n["threshold"], n["left"], n["right"], n["leaf"]))
    flat = cur.ints(nleaves * model.n_out, "i", 4, where, "leaf values")
    leaves = [flat[k * model.n_out:(k + 1) * model.n_out] for k in range(nleaves)]
    return Tree(nodes, leaves)
