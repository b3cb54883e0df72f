"""The weights blob: round trips, and each rejection naming where and why."""
from __future__ import annotations

import errno
import struct

import numpy as np
import pytest

from rmt.contract import objformat as F
from rmt.contract.objfile import Layer, Model
from rmt.contract.objformat import Activation, LayerKind, ModelKind
from rmt.contract.weights import (Conv1dLayer, DenseLayer, ModelWeights, Node, Tree, WeightsError,
                               forest, mlp, read_weights, write_weights)

MLP_SIG = Model("m", ModelKind.MLP, 2, 1, 8, [Layer(LayerKind.DENSE, Activation.RELU, 2, 3),
                                              Layer(LayerKind.DENSE, Activation.NONE, 3, 1)])
CONV_SIG = Model("c", ModelKind.MLP, 8, 6, 16,
                 [Layer(LayerKind.CONV1D, Activation.NONE, 8, 6, 2, 2, 2)])
TREE_SIG = Model("t", ModelKind.TREE, 2, 1, depth=2)
FOREST_SIG = Model("f", ModelKind.FOREST, 2, 2, trees=2, depth=1)


def mlp_w(**kw) -> ModelWeights:
    return mlp([DenseLayer([[1, -2], [3, 4], [-128, 127]], [0, 1, -2], relu=True),
                DenseLayer([[1, 1, 1]], [10], shift=1)], weight_bits=8, **kw)


def tree_w() -> ModelWeights:
    t = Tree([Node(0, 10, 1, 2), Node(1, -5, 3, 4), Node(-1, leaf=2), Node(-1, leaf=0),
              Node(-1, leaf=1)], [[100], [200], [300]])
    return forest([t], 2, kind=ModelKind.TREE)


def forest_w(shift: int = 1) -> ModelWeights:
    a = Tree([Node(1, 0, 1, 2), Node(-1, leaf=0), Node(-1, leaf=1)], [[1, 2], [3, 4]])
    b = Tree([Node(-1)], [[5, 6]])
    return forest([a, b], 2, shift=shift)


def test_round_trip_mlp() -> None:
    w = mlp_w(version=9)
    back = read_weights(write_weights(w), MLP_SIG)
    assert back == w


def test_blob_layout_pads_weights_to_4_bytes() -> None:
    blob = write_weights(mlp_w())
    # header, layer 0: record + 6 int8 weights padded to 8 + 3 biases; layer 1: record + 3
    # weights padded to 4 + 1 bias
    assert len(blob) == F.WHEADER.size + F.WLAYER.size + 8 + 12 + F.WLAYER.size + 4 + 4
    assert F.WHEADER.unpack(blob)["total_size"] == len(blob)


def test_round_trip_conv_tree_forest_and_numpy() -> None:
    ly = Conv1dLayer(np.arange(8).reshape(2, 2, 2) - 4, np.array([7, -7]), n_in=8, shift=3)
    w = mlp([ly])
    assert w.n_out == 6
    assert read_weights(write_weights(w), CONV_SIG) == w
    assert read_weights(write_weights(tree_w()), TREE_SIG) == tree_w()
    assert read_weights(write_weights(forest_w()), FOREST_SIG) == forest_w()


def test_non_integer_weights_refused_at_export() -> None:
    with pytest.raises(ValueError, match="quantize"):
        DenseLayer([[0.5]], [0])


def patch(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<" + fmt, b, offset, value)
    return bytes(b)


H = F.WHEADER.size
L0 = H                              # first WLAYER record
HOFF = {n: struct.calcsize("<" + "".join(F._CTYPES[t][0] for _, t in F.WHEADER.fields[:i]))
        for i, (n, _) in enumerate(F.WHEADER.fields)}
LOFF = {n: struct.calcsize("<" + "".join(F._CTYPES[t][0] for _, t in F.WLAYER.fields[:i]))
        for i, (n, _) in enumerate(F.WLAYER.fields)}

MLP_BAD = [
    ("magic", lambda b: patch(b, 0, "I", 0), "header", "magic"),
    ("version", lambda b: patch(b, HOFF["version"], "H", 2), "header", "version"),
    ("total", lambda b: patch(b, HOFF["total_size"], "I", 5), "header", "total_size"),
    ("pad", lambda b: patch(b, HOFF["pad2"], "H", 1), "header", "padding"),
    ("kind", lambda b: patch(b, HOFF["kind"], "B", int(ModelKind.LINEAR)), "header", "kind"),
    ("bits", lambda b: patch(b, HOFF["weight_bits"], "B", 16), "header", "weight_bits"),
    ("n_in", lambda b: patch(b, HOFF["n_in"], "I", 3), "header", "n_in"),
    ("nlayers", lambda b: patch(b, HOFF["nlayers"], "H", 1), "header", "layers"),
    ("hshift", lambda b: patch(b, HOFF["shift"], "B", 1), "header", "shift"),
    ("lkind", lambda b: patch(b, L0 + LOFF["kind"], "B", 2), "layer 0", "kind"),
    ("lact", lambda b: patch(b, L0 + LOFF["act"], "B", 0), "layer 0", "act"),
    ("lnout", lambda b: patch(b, L0 + LOFF["n_out"], "I", 4), "layer 0", "n_out"),
    ("lshift", lambda b: patch(b, L0 + LOFF["shift"], "B", 32), "layer 0", "shift"),
    ("lpad", lambda b: patch(b, L0 + LOFF["pad2"], "H", 1), "layer 0", "padding"),
    ("wpad", lambda b: patch(b, L0 + F.WLAYER.size + 6, "B", 1), "layer 0", "padding"),
    ("short", lambda b: patch(b[:-3], HOFF["total_size"], "I", len(b) - 3), "layer 1", "ends"),
    ("long", lambda b: patch(b + b"\0" * 4, HOFF["total_size"], "I", len(b) + 4), "end", "left"),
    ("tiny", lambda b: b[:10], "header", "ends"),
]


@pytest.mark.parametrize("name, mutate, where, why", MLP_BAD, ids=[m[0] for m in MLP_BAD])
def test_mlp_rejections(name, mutate, where: str, why: str) -> None:
    blob = mutate(write_weights(mlp_w()))
    with pytest.raises(WeightsError) as ei:
        read_weights(blob, MLP_SIG)
    assert ei.value.code == errno.EINVAL
    assert ei.value.where == where, str(ei.value)
    assert why in ei.value.why, str(ei.value)


def test_max_abs_weight_bound() -> None:
    sig = Model("m", ModelKind.MLP, 2, 1, 8, MLP_SIG.layers, max_abs_weight=100)
    with pytest.raises(WeightsError) as ei:
        read_weights(write_weights(mlp_w()), sig)
    assert ei.value.where == "layer 0" and "weight 4 is -128" in ei.value.why


def _tree_blob(nodes, leaves, sig=TREE_SIG, shift=0) -> bytes:
    return write_weights(ModelWeights(sig.kind, sig.n_in, sig.n_out, sig.weight_bits,
                                      trees=[Tree(nodes, leaves)], shift=shift))


TREE_BAD = [
    ("leaf_fields", [Node(-1, 3)], [[1]], "tree 0 node 0", "nonzero threshold"),
    ("leaf_index", [Node(-1, leaf=1)], [[1]], "tree 0 node 0", "leaf index 1"),
    ("feature", [Node(2, 0, 1, 2), Node(-1), Node(-1)], [[1]], "tree 0 node 0", "feature 2"),
    ("feature_neg", [Node(-2, 0, 1, 2), Node(-1), Node(-1)], [[1]], "tree 0 node 0", "feature -2"),
    ("inner_leaf", [Node(0, 0, 1, 2, 1), Node(-1), Node(-1)], [[1], [2]], "tree 0 node 0", "inner node"),
    ("child_self", [Node(0, 0, 0, 1), Node(-1)], [[1]], "tree 0 node 0", "left child 0"),
    ("child_past", [Node(0, 0, 1, 5), Node(-1)], [[1]], "tree 0 node 0", "right child 5"),
    ("depth", [Node(0, 0, 1, 2), Node(0, 0, 3, 4), Node(-1), Node(1, 0, 5, 6), Node(-1),
               Node(-1), Node(-1)], [[1]], "tree 0 node 3", "depth 3"),
    ("empty", [], [[1]], "tree 0", "at least one"),
]


@pytest.mark.parametrize("name, nodes, leaves, where, why", TREE_BAD, ids=[t[0] for t in TREE_BAD])
def test_tree_rejections(name, nodes, leaves, where: str, why: str) -> None:
    with pytest.raises(WeightsError) as ei:
        read_weights(_tree_blob(nodes, leaves), TREE_SIG)
    assert ei.value.where == where, str(ei.value)
    assert why in ei.value.why, str(ei.value)


def test_unreachable_nodes_do_not_count_for_depth() -> None:
    sig = Model("t", ModelKind.TREE, 1, 1, depth=1)
    nodes = [Node(0, 0, 1, 2), Node(-1), Node(-1), Node(0, 0, 4, 5), Node(-1), Node(-1)]
    assert len(read_weights(_tree_blob(nodes, [[1]], sig), sig).trees[0].nodes) == 6


def test_hostile_counts_do_not_allocate() -> None:
    blob = bytearray(_tree_blob([Node(-1)], [[1]]))
    struct.pack_into("<I", blob, H, 0xFFFFFFFF)        # nnodes
    with pytest.raises(WeightsError, match="need"):
        read_weights(bytes(blob), TREE_SIG)


def test_tree_shift_and_forest_rules() -> None:
    with pytest.raises(WeightsError, match="shift 1 is over 0"):
        read_weights(_tree_blob([Node(-1)], [[1]], shift=1), TREE_SIG)
    with pytest.raises(WeightsError, match="shift 64 is over 63"):
        read_weights(write_weights(forest_w(shift=64)), FOREST_SIG)
    one = forest([forest_w().trees[0]], 2)
    with pytest.raises(WeightsError, match="declares 2 trees"):
        read_weights(write_weights(one), FOREST_SIG)
    with pytest.raises(WeightsError) as ei:
        read_weights(write_weights(forest_w()), TREE_SIG)
    assert "kind" in ei.value.why


def test_bias_over_the_width_bound_is_refused():
    from rmt.contract.objfile import Layer, Model
    from rmt.contract.objformat import Activation, LayerKind, ModelKind
    from rmt.contract import weights as W
    m = Model("m", ModelKind.LINEAR, 1, 1, 8, [Layer(LayerKind.DENSE, Activation.NONE, 1, 1)])
    ok = W.write_weights(W.mlp([W.DenseLayer([[1]], [1 << 16], 0)], 8, kind=ModelKind.LINEAR))
    assert W.read_weights(ok, m).layers[0].bias == [1 << 16]
    bad = W.write_weights(W.mlp([W.DenseLayer([[1]], [(1 << 16) + 1], 0)], 8,
                                kind=ModelKind.LINEAR))
    with pytest.raises(W.WeightsError, match="bias 0 is 65537, over the bound"):
        W.read_weights(bad, m)
