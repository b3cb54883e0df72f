"""The weights writer for people who build arrays themselves (rmt.contract.weights.blob_for),
and learn.quantize writing the kind the program declares (a `linear` model took only MLP
blobs before).  Blobs are loaded into the C VM, which applies the loader's rules."""
from __future__ import annotations

import numpy as np
import pytest

import model_import_vm as V
from rmt.contract.objformat import ModelKind
from rmt.learn import mlp, quantize
from rmt.contract import weights as W
from rmt.contract.engine import EngineError


def test_linear_blob_from_numpy_arrays_runs_in_the_vm() -> None:
    prog = V.program("linear(weight = i8);", 2)
    w = np.array([[1, -2, 3, 0], [0, 0, 0, 5]], dtype=np.int8)
    blob = W.blob_for(prog.models[0], layers=[(w, np.array([7, -9]), 1)])
    x = np.array([[10, 20, 30, 40], [-5, 0, 5, 1000]])
    want = (x @ w.T.astype(np.int64) + [7, -9]) >> 1
    assert np.array_equal(V.run(prog, blob, x), want)


def test_mlp_and_forest_blobs_from_arrays() -> None:
    prog = V.program("mlp() { dense(3, relu); dense(1); }", 1)
    blob = W.blob_for(prog.models[0], layers=[(np.eye(3, 4, dtype=int), np.zeros(3, int)),
                                              (np.array([[1, 1, -1]]), np.array([2]))])
    assert np.array_equal(V.run(prog, blob, np.array([[1, 2, 3, 4], [-1, 5, 0, 0]])),
                          [[1 + 2 - 3 + 2], [0 + 5 - 0 + 2]])
    # scikit-learn's layout: node 0 splits to 1 (leaf) and 2 (leaf)
    t = W.tree_from_arrays([0, -2, -2], [4, 0, 0], [1, -1, -1], [2, -1, -1], [[0], [7], [9]])
    prog = V.program("forest(trees = 3, depth = 1);", 1)
    blob = W.blob_for(prog.models[0], trees=[t, t])          # padded with a zero tree
    assert np.array_equal(V.run(prog, blob, np.array([[4, 0, 0, 0], [5, 0, 0, 0]])),
                          [[14], [18]])


def test_tree_from_arrays_puts_children_after_parents() -> None:
    """Node ids in any order (here the root is last) become the loader's preorder."""
    t = W.tree_from_arrays(feature=[-2, -2, 1], threshold=[0, 0, -3], left=[-1, -1, 1],
                           right=[-1, -1, 0], leaf_values=[[10], [20], [0]], root=2)
    assert [n.feature for n in t.nodes] == [1, -1, -1]
    assert all(n.left > i and n.right > i for i, n in enumerate(t.nodes) if n.feature >= 0)
    prog = V.program("tree(depth = 1);", 1)
    out = V.run(prog, W.blob_for(prog.models[0], trees=[t]), np.array([[0, -3, 0, 0],
                                                                          [0, -2, 0, 0]]))
    assert out[:, 0].tolist() == [20, 10]
    with pytest.raises(ValueError, match="not an integer"):
        W.tree_from_arrays([0, -2, -2], [2.5, 0, 0], [1, -1, -1], [2, -1, -1], [[0]] * 3)


def test_writer_errors_name_the_kind_and_both_sides() -> None:
    m = V.program("linear(weight = i8);", 1).models[0]
    with pytest.raises(W.WeightsError, match=r"linear model 'm'.*\(2, 4\).*needs \(1, 4\)"):
        W.blob_for(m, layers=[(np.zeros((2, 4), int), np.zeros(1, int))])
    with pytest.raises(W.WeightsError, match="linear model 'm'.*takes layers"):
        W.blob_for(m, trees=[W.Tree([W.Node(-1)], [[0]])])
    with pytest.raises(W.WeightsError, match="max_weight|over the declared bound|bound"):
        W.blob_for(V.program("linear(weight = i8, max_weight = 10);", 1).models[0],
                   layers=[(np.full((1, 4), 11), np.zeros(1, int))])
    f = V.program("forest(trees = 2, depth = 2);", 1).models[0]
    with pytest.raises(W.WeightsError, match="forest model 'm'.*3 trees.*declares 2"):
        W.blob_for(f, trees=[W.Tree([W.Node(-1)], [[0]])] * 3)
    # the reader names kinds, not numbers
    blob = W.write_weights(W.mlp([W.DenseLayer([[1, 1, 1, 1]], [0])], 8))
    with pytest.raises(W.WeightsError, match="kind is mlp, model 'm' declares linear"):
        W.read_weights(blob, m)


def test_quantize_mlp_writes_the_declared_kind() -> None:
    """A one-layer network for a `linear` model: the blob's kind is linear and the VM loads
    it (before, quantize_mlp always wrote mlp and the load was refused)."""
    prog = V.program("linear(weight = i16, max_weight = 2048);", 1)
    m = mlp.MLP([np.array([[0.5, -0.25, 1.0, 0.0]])], [np.array([0.125])])
    q = quantize.quantize_mlp(m, in_frac=0, model=prog.models[0])
    assert q.weights.kind == ModelKind.LINEAR
    x = np.array([[100, 40, -8, 3], [0, 0, 0, 0]])
    out = V.run(prog, W.write_weights(q.weights), x)
    assert np.allclose(out[:, 0] / 2.0 ** q.out_frac, m.logits(x)[:, 0])
    with pytest.raises(EngineError, match="kind is 1, the model declares 4"):   # the old default
        V.run(prog, W.write_weights(quantize.quantize_mlp(m, in_frac=0).weights), x)
    two = mlp.MLP([np.ones((2, 4)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(quantize.QuantError, match="one dense layer"):
        quantize.quantize_mlp(two, model=prog.models[0])
    tree = V.program("tree(depth = 2);", 1).models[0]
    with pytest.raises(quantize.QuantError, match="is a tree"):
        quantize.quantize_mlp(m, model=tree)
