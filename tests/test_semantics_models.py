"""Fixed-point inference against hand-computed values."""
from __future__ import annotations

from rmt.contract.objformat import ModelKind
from rmt.semantics.models import INT32_MAX, INT32_MIN, infer
from rmt.contract.weights import Conv1dLayer, DenseLayer, Node, Tree, forest, mlp


def test_dense_relu_then_dense_with_shift() -> None:
    w = mlp([DenseLayer([[1, 2], [-3, 4], [5, -6]], [0, 1, -2], relu=True),
             DenseLayer([[1, 1, 1]], [10], shift=1)])
    # h = relu(3+8, -9+16+1, 15-24-2) = (11, 8, 0); y = (10 + 19) >> 1 = 14
    assert infer(w, [3, 4]) == ([14], 0)
    assert infer(w, [-5, 2]) == ([17], 0)


def test_shift_is_floor_and_relu_after_shift() -> None:
    w = mlp([DenseLayer([[1]], [0], shift=1)])
    assert [infer(w, [v])[0][0] for v in (-7, -1, 7, 1)] == [-4, -1, 3, 0]
    r = mlp([DenseLayer([[1]], [0], shift=2, relu=True)])
    assert infer(r, [-1])[0] == [0] and infer(r, [9])[0] == [2]


def test_saturation_counted_per_output() -> None:
    w = mlp([DenseLayer([[30000, 30000], [-30000, -30000], [1, 0]], [0, 0, 0], shift=4)])
    out, ovf = infer(w, [100000, 100000])
    assert out == [INT32_MAX >> 4, INT32_MIN >> 4, 100000 >> 4]
    assert ovf == 2


def test_accumulation_is_exact_before_saturation() -> None:
    # Partial sums leave int32, the total does not: no saturation.
    w = mlp([DenseLayer([[1 << 15, -(1 << 15)]], [5])], weight_bits=32)
    assert infer(w, [1 << 20, 1 << 20]) == ([5], 0)


def test_conv1d() -> None:
    ly = Conv1dLayer([[[1, 0], [0, 1]], [[1, 1], [-1, -1]]], [0, 5], n_in=8)
    assert ly.n_out == 6
    w = mlp([ly], weight_bits=8)
    assert infer(w, [1, 2, 3, 4, 5, 6, 7, -8]) == ([5, 3, 9, 3, -3, 19], 0)


def test_conv1d_kernel_3_one_channel_relu_shift() -> None:
    ly = Conv1dLayer([[[1, 2, 1]]], [-1], n_in=5, shift=1, relu=True)
    # windows (0,1,2): 0+2+2-1 = 3 >> 1 = 1; (1,2,3): 1+4+3-1 = 7 >> 1 = 3; (2,3,4): 2+6-4-1 = 3 -> 1
    assert infer(mlp([ly]), [0, 1, 2, 3, -4]) == ([1, 3, 1], 0)


def _tree() -> Tree:
    return Tree([Node(0, 10, 1, 2), Node(1, -5, 3, 4), Node(-1, leaf=2), Node(-1, leaf=0),
                 Node(-1, leaf=1)], [[100], [200], [300]])


def test_tree_signed_thresholds() -> None:
    w = forest([_tree()], n_in=2, kind=ModelKind.TREE)
    assert infer(w, [10, -5])[0] == [100]
    assert infer(w, [10, -4])[0] == [200]
    assert infer(w, [11, -100])[0] == [300]
    assert infer(w, [INT32_MIN, INT32_MIN])[0] == [100]


def test_forest_sum_shift_saturate() -> None:
    big = Tree([Node(-1)], [[INT32_MAX, -7]])
    w = forest([big, big, big], n_in=1, shift=1)
    # 3 * INT32_MAX >> 1 is over int32: saturated and counted; -21 >> 1 = -11 (floor)
    assert infer(w, [0]) == ([INT32_MAX, -11], 1)
    w2 = forest([_tree(), Tree([Node(-1)], [[1]])], n_in=2, shift=1)
    assert infer(w2, [0, 0])[0] == [100]      # (200 + 1) >> 1


def test_hidden_layers_are_clamped_to_the_declared_input_range():
    # h = relu(100 x) would be 700 for x = 7; clamped to the input range [-50, 50] first
    w = mlp([DenseLayer([[100]], [0], 0, True), DenseLayer([[2]], [1], 0, False)])
    assert infer(w, [7], (-50, 50)) == ([101], 0)
    assert infer(w, [7]) == ([1401], 0)                 # no declared range: no clamp
    # the last layer's output is not clamped
    assert infer(mlp([DenseLayer([[100]], [0], 0, False)]), [7], (-50, 50)) == ([700], 0)
