"""ONNX graphs -> FloatNet / FloatTrees (ir.py).

Read: a chain from the graph's input of `Gemm`, `MatMul` (+ `Add`) and `Relu` (an MLP, or
a linear model when there is one layer), optionally after 1-D `Conv` (+ `Relu`) layers on an
input [N, channels, T] and a `Flatten`/`Reshape` (the VM's conv1d layers: time-major
x[t*in_ch + c], and the Flatten's channel-major columns reordered for the first dense layer), the `ai.onnx.ml` operators `LinearClassifier`,
`LinearRegressor`, `TreeEnsembleClassifier` and `TreeEnsembleRegressor`.  What follows
the model's score and only turns it into probabilities or labels (Sigmoid, Softmax,
ArgMax, ZipMap, Normalizer, Cast, ...) is ignored: the program decides from the score.
Any other operator on the way is refused by name."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rmt.model_import.ir import (FloatLayer, FloatNet, FloatTree, FloatTrees, ModelImportError,
                             Task)

# after the score: monotone or label-only post-processing
_POST = {"Sigmoid", "Softmax", "ArgMax", "ZipMap", "Normalizer", "Cast", "Identity",
         "LabelEncoder", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Sub", "Neg",
         "ArrayFeatureExtractor", "Shape", "Gather", "Where", "Greater", "Less", "Equal",
         "ConstantOfShape", "Constant", "Mul", "Div", "Add", "Exp", "ReduceSum", "Abs",
         "LogSoftmax", "Binarizer"}


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def read_onnx(path: Path) -> FloatNet | FloatTrees:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelImportError("reading ONNX needs the onnx package: pip install 'rmt[ml]'") \
            from None
    try:
        m = onnx.load(str(path))
    except Exception as e:                       # protobuf's DecodeError and friends
        raise ModelImportError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            a = _attrs(n)
            if "value" in a:
                inits[n.output[0]] = numpy_helper.to_array(a["value"]).astype(np.float64)
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelImportError(f"{path}: the graph has {len(inputs)} inputs; one feature "
                               f"vector is supported")
    dims = inputs[0].type.tensor_type.shape.dim
    n_in = dims[-1].dim_value if dims and dims[-1].dim_value else -1
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    cur = inputs[0].name
    layers: list[FloatLayer] = []
    # a layer waiting for its Add / Relu: (weight, bias, conv)
    pending: tuple[np.ndarray, np.ndarray, bool] | None = None
    reshaped = False        # the graph input went through Reshape/Flatten
    flat = False            # conv outputs flattened, for the dense layers that follow

    def close(relu: bool = False) -> None:
        nonlocal pending
        if pending is not None:
            layers.append(FloatLayer(pending[0], pending[1], relu=relu, conv=pending[2]))
            pending = None

    def after_conv() -> bool:
        """Is the last layer read (closed or not) a Conv?"""
        return pending[2] if pending is not None else bool(layers) and layers[-1].conv

    def dense_weight(w: np.ndarray, node: Any) -> np.ndarray:
        """w [n_out, n_in]; after conv layers, reorder its columns to the VM's layout."""
        if not after_conv():
            return w
        if not flat:
            raise ModelImportError(f"{path}: {node.op_type} {node.name!r} follows a Conv "
                                   f"without a Flatten")
        ch = (pending[0] if pending is not None else layers[-1].weight).shape[0]
        return conv_columns(w, ch, f"{path}: {node.op_type} {node.name!r}")

    while True:
        nxt = [n for n in consumers.get(cur, []) if n.op_type not in ("Shape",)]
        if not nxt:
            break
        node = nxt[0]
        op, a = node.op_type, _attrs(node)
        if node.domain in ("ai.onnx.ml",) or op.startswith(("TreeEnsemble", "Linear")):
            if layers or pending is not None:
                raise ModelImportError(f"{path}: {op} after neural layers is not supported")
            return _ml_op(path, node, a, n_in)
        if op in ("Cast", "Identity"):
            cur = node.output[0]
            continue
        if op in ("Reshape", "Flatten") and not layers and pending is None:
            reshaped = True
            cur = node.output[0]
            continue
        if op in ("Reshape", "Flatten") and after_conv() and not flat:
            _check_flatten(path, node, a, inits)
            close()
            flat = True
            cur = node.output[0]
            continue
        if op == "Conv":
            if reshaped:
                raise ModelImportError(f"{path}: Conv {node.name!r} after a Reshape of the "
                                       f"graph input; give the input as [N, channels, T]")
            if (pending is not None and not pending[2]) or any(not ly.conv for ly in layers):
                raise ModelImportError(f"{path}: Conv {node.name!r} after a dense layer; "
                                       f"conv1d layers come first")
            close()
            w, b = _conv(path, node, a, inits)
            pending = (w, b, True)
        elif op == "Gemm":
            close()
            w = inits.get(node.input[1])
            if w is None:
                raise ModelImportError(f"{path}: Gemm {node.name!r} has a non-constant weight")
            w = w * a.get("alpha", 1.0)
            w = w if a.get("transB", 0) else w.T       # -> [n_out, n_in]
            if a.get("transA", 0):
                raise ModelImportError(f"{path}: Gemm {node.name!r} with transA is not "
                                       f"supported")
            b = inits.get(node.input[2], np.zeros(w.shape[0])) if len(node.input) > 2 \
                else np.zeros(w.shape[0])
            w = dense_weight(w, node)
            pending = (w, np.broadcast_to(b * a.get("beta", 1.0), (w.shape[0],)).copy(), False)
        elif op == "MatMul":
            close()
            w = inits.get(node.input[1])
            if w is None or w.ndim != 2:
                raise ModelImportError(f"{path}: MatMul {node.name!r} needs a constant 2-D "
                                       f"weight")
            pending = (dense_weight(w.T.copy(), node), np.zeros(w.shape[1]), False)
        elif op == "Add" and pending is not None and not pending[2]:
            other = node.input[1] if node.input[0] == cur else node.input[0]
            b = inits.get(other)
            if b is None:
                raise ModelImportError(f"{path}: Add {node.name!r} of a non-constant")
            pending = (pending[0], pending[1] + np.broadcast_to(b.reshape(-1),
                                                                pending[1].shape), False)
        elif op == "Relu" and pending is not None:
            close(relu=True)
        elif op in _POST and (pending is not None or layers) and not after_conv():
            break
        else:
            raise ModelImportError(f"{path}: ONNX operator {op} (node {node.name!r}) is not "
                                   f"supported{' here' if op in _POST else ''} (Conv, Gemm, "
                                   f"MatMul, Add, Relu, TreeEnsembleClassifier"
                                   f", TreeEnsembleRegressor, LinearClassifier, "
                                   f"LinearRegressor)")
        cur = node.output[0]
    close()
    if not layers:
        raise ModelImportError(f"{path}: no model layers found after the input")
    if layers[-1].conv:
        raise ModelImportError(f"{path}: the graph ends in a Conv; the score must come from "
                               f"a dense layer")
    if layers[-1].relu:
        raise ModelImportError(f"{path}: the last layer ends in Relu; the score must be the "
                               f"last layer's output")
    k = layers[-1].weight.shape[0]
    kind = _net_task(g, k)
    steps = dims[-1].dim_value if layers[0].conv and len(dims) == 3 else 0
    return FloatNet(layers, Task(kind, k, "ONNX MLP" if len(layers) > 1 else "ONNX linear"),
                    steps=steps)


def _conv(path: Path, node: Any, a: dict[str, Any], inits: dict[str, np.ndarray]
          ) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D Conv's weight [out_ch, in_ch, kernel] and bias; anything but stride 1, no
    padding, dilation 1 and one group is refused naming the attribute."""
    where = f"{path}: Conv {node.name!r}"
    w = inits.get(node.input[1])
    if w is None:
        raise ModelImportError(f"{where} has a non-constant weight")
    ks = list(a.get("kernel_shape", w.shape[2:]))
    if w.ndim != 3 or len(ks) != 1:
        raise ModelImportError(f"{where}: kernel_shape = {ks} is not 1-D; only 1-D "
                               f"convolutions (input [N, channels, T]) are supported")
    bad = [(name, list(a[name])) for name, ok in
           (("strides", [1]), ("dilations", [1]), ("pads", [0, 0])) if
           name in a and list(a[name]) != ok]
    if a.get("group", 1) != 1:
        bad.append(("group", a["group"]))
    auto = _s(a.get("auto_pad", "NOTSET"))
    if auto not in ("NOTSET", "VALID"):
        bad.append(("auto_pad", auto))
    if bad:
        name, val = bad[0]
        raise ModelImportError(f"{where}: {name} = {val} is not supported; the VM's conv1d "
                               f"has stride 1, no padding, dilation 1 and one group")
    if ks[0] != w.shape[2]:
        raise ModelImportError(f"{where}: kernel_shape = {ks} but the weight has kernel "
                               f"{w.shape[2]}")
    b = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and b is None:
        raise ModelImportError(f"{where} has a non-constant bias")
    b = np.zeros(w.shape[0]) if b is None else b.reshape(-1)
    return w.copy(), b.copy()


def _check_flatten(path: Path, node: Any, a: dict[str, Any],
                   inits: dict[str, np.ndarray]) -> None:
    """After a Conv only a flattening to [N, channels * length] is understood."""
    if node.op_type == "Flatten" and a.get("axis", 1) != 1:
        raise ModelImportError(f"{path}: Flatten {node.name!r} with axis = {a['axis']} after "
                               f"a Conv; only axis = 1 (to [N, channels * length]) is supported")
    if node.op_type == "Reshape":
        shape = inits.get(node.input[1]) if len(node.input) > 1 else None
        if shape is None or shape.ndim != 1 or len(shape) != 2:
            raise ModelImportError(f"{path}: Reshape {node.name!r} after a Conv must be a "
                                   f"constant reshape to [N, channels * length]")


def conv_columns(w: np.ndarray, ch: int, where: str) -> np.ndarray:
    """A dense weight [n_out, ch * L] reading ONNX's Flatten of [N, ch, L] (channel-major,
    column o*L + s) -> the same weight reading the VM's conv output (time-major, s*ch + o)."""
    n_out, n_in = w.shape
    if n_in % ch:
        raise ModelImportError(f"{where} takes {n_in} inputs, not a multiple of the Conv's "
                               f"{ch} channels")
    return w.reshape(n_out, ch, n_in // ch).transpose(0, 2, 1).reshape(n_out, n_in)


def _net_task(g: Any, k: int) -> str:
    ops = {n.op_type for n in g.node}
    if "Softmax" in ops:
        return "multiclass"
    if "Sigmoid" in ops:
        return "binary" if k == 1 else "multilabel"
    if "ArgMax" in ops or "ZipMap" in ops:
        return "multiclass" if k > 1 else "binary"
    return "regression"


def _ml_op(path: Path, node: Any, a: dict[str, Any], n_in: int) -> FloatNet | FloatTrees:
    op = node.op_type
    post = _s(a.get("post_transform", "NONE"))
    if op in ("LinearClassifier", "LinearRegressor"):
        coef = np.asarray(a["coefficients"], np.float64)
        icpt = np.asarray(a.get("intercepts", []), np.float64)
        k = len(icpt) if len(icpt) else int(a.get("targets", 1))
        coef = coef.reshape(k, -1)
        icpt = icpt if len(icpt) else np.zeros(k)
        if op == "LinearRegressor":
            task = Task("regression", k, "ONNX LinearRegressor")
        else:
            task = Task("binary" if k <= 2 else "multiclass", k, "ONNX LinearClassifier")
            if k == 2:              # two class scores: the decision is the sign of s1 - s0
                coef, icpt = coef[1:] - coef[:1], icpt[1:] - icpt[:1]
                task.n_out = 1
        return FloatNet([FloatLayer(coef, icpt, relu=False)], task)
    if op not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
        raise ModelImportError(f"{path}: ONNX operator {op} is not supported")
    agg = _s(a.get("aggregate_function", "SUM"))
    if agg not in ("SUM", "AVERAGE"):
        raise ModelImportError(f"{path}: {op} aggregate_function {agg} is not a sum")
    tids = np.asarray(a["nodes_treeids"], np.int64)
    nids = np.asarray(a["nodes_nodeids"], np.int64)
    feats = np.asarray(a["nodes_featureids"], np.int64)
    vals = np.asarray(a.get("nodes_values", a.get("nodes_values_as_tensor", [])), np.float64)
    modes = [_s(x) for x in a["nodes_modes"]]
    tnode = np.asarray(a["nodes_truenodeids"], np.int64)
    fnode = np.asarray(a["nodes_falsenodeids"], np.int64)
    if op == "TreeEnsembleClassifier":
        pre = "class"
        labels = list(a.get("classlabels_int64s") or a.get("classlabels_strings") or [])
        ncls = len(labels)
    else:
        pre = "target"
        ncls = int(a.get("n_targets", 1))
    l_t = np.asarray(a[f"{pre}_treeids"], np.int64)
    l_n = np.asarray(a[f"{pre}_nodeids"], np.int64)
    l_c = np.asarray(a[f"{pre}_ids"], np.int64)
    l_w = np.asarray(a[f"{pre}_weights"], np.float64)
    base = np.asarray(a.get("base_values", []), np.float64)
    used = sorted(set(l_c.tolist()))
    if op == "TreeEnsembleRegressor":
        task = Task("regression", ncls, "ONNX TreeEnsembleRegressor")
        col = {c: c for c in range(ncls)}
        sign = {c: 1.0 for c in range(ncls)}
    elif ncls == 2 and used == [0] or ncls == 2 and used == [1]:
        task = Task("binary", 1, "ONNX TreeEnsembleClassifier")   # one margin column
        col, sign = {used[0]: 0}, {used[0]: 1.0}
    elif ncls == 2:
        task = Task("binary", 1, "ONNX TreeEnsembleClassifier")   # score = class 1 - class 0
        col, sign = {0: 0, 1: 0}, {0: -1.0, 1: 1.0}
    else:
        task = Task("multiclass", ncls, "ONNX TreeEnsembleClassifier")
        col = {c: c for c in range(ncls)}
        sign = {c: 1.0 for c in range(ncls)}
    if ncls == 2 and task.kind == "binary" and len(base) == 2:
        b = np.array([base[1] - base[0]]) if len(used) == 2 else base[used[0]:used[0] + 1]
    elif len(base):
        b = base[:task.n_out].copy()
    else:
        b = np.zeros(task.n_out)
    trees = []
    tree_ids = sorted(set(tids.tolist()))
    for t in tree_ids:
        sel = np.flatnonzero(tids == t)
        size = int(nids[sel].max()) + 1
        feat = np.zeros(size, np.int64)
        thr = np.zeros(size)
        left = np.full(size, -1, np.int64)
        right = np.full(size, -1, np.int64)
        strict_modes = set()
        for i in sel:
            n, mode = int(nids[i]), modes[i]
            if mode == "LEAF":
                continue
            if mode not in ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"):
                raise ModelImportError(f"{path}: {op} tree {t} node {n} uses {mode}; only "
                                       f"threshold comparisons are supported")
            strict_modes.add(mode in ("BRANCH_LT", "BRANCH_GTE"))
            feat[n], thr[n] = feats[i], vals[i]
            # the VM goes left when the comparison "<=" (or "<") holds
            if mode in ("BRANCH_LEQ", "BRANCH_LT"):
                left[n], right[n] = tnode[i], fnode[i]
            else:
                left[n], right[n] = fnode[i], tnode[i]
        if len(strict_modes) > 1:
            raise ModelImportError(f"{path}: {op} tree {t} mixes strict and non-strict "
                                   f"comparisons")
        value = np.zeros((size, task.n_out))
        for i in np.flatnonzero(l_t == t):
            c = int(l_c[i])
            value[int(l_n[i]), col[c]] += sign[c] * l_w[i]
        trees.append(FloatTree(feat, thr, left, right, value,
                               strict=bool(strict_modes and strict_modes.pop())))
    if agg == "AVERAGE":
        for tr in trees:
            tr.value = tr.value / len(trees)
    if task.kind == "binary" and len(used) == 1 and post == "NONE":
        # one column holding the positive class's probability (onnxruntime decides p > 0.5):
        # 2p - 1 puts the decision at the sign, like the trees read from scikit-learn
        for tr in trees:
            tr.value = tr.value * 2
        b = b * 2 - 1
    out = FloatTrees(trees, b, task, n_in)
    if post not in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
        out.notes.append(f"post_transform {post} ignored: the score is the raw sum")
    return out
