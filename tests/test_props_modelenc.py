"""The Z3 terms of concrete weights (verifier/modelenc.py) compute what the reference
semantics computes (rmt.semantics.models.infer), on random weights and inputs chosen to
hit int32 saturation, ReLU, hidden-layer clamping, forest shifts and tree thresholds."""
from __future__ import annotations

import random

import z3

from rmt.contract.objformat import ModelKind
from rmt.contract.weights import Conv1dLayer, DenseLayer, Node, Tree, forest, mlp
from rmt.semantics.models import infer
from rmt.verifier.modelenc import infer_terms

CLAMP = (-8192, 8192)


def _eval(w, x, clamp=CLAMP) -> list[int]:
    terms = infer_terms(w, [z3.BitVecVal(v & 0xFFFFFFFF, 32) for v in x], clamp)
    return [z3.simplify(t).as_signed_long() for t in terms]


def _random_tree(rng: random.Random, n_in: int, n_out: int, depth: int) -> Tree:
    nodes: list[Node] = []
    leaves: list[list[int]] = []

    def build(d: int) -> int:
        me = len(nodes)
        if d == depth or rng.random() < 0.2:
            nodes.append(Node(-1, 0, 0, 0, len(leaves)))
            leaves.append([rng.randint(-(1 << 31), (1 << 31) - 1) for _ in range(n_out)])
            return me
        nodes.append(Node(rng.randrange(n_in), rng.randint(-100, 100)))
        nodes[me].left = build(d + 1)
        nodes[me].right = build(d + 1)
        return me
    build(0)
    return Tree(nodes, leaves)


def _inputs(rng: random.Random, n: int) -> list[int]:
    pick = [0, 1, -1, 100, -100, 101, (1 << 31) - 1, -(1 << 31), 8192, -8193]
    return [rng.choice(pick) if rng.random() < 0.5 else rng.randint(-(1 << 31), (1 << 31) - 1)
            for _ in range(n)]


def test_mlp_with_saturation_relu_and_clamp():
    rng = random.Random(7)
    sat = 0
    for _ in range(60):
        big = rng.random() < 0.5
        w1 = [[rng.randint(-32768, 32767) if big else rng.randint(-4, 4) for _ in range(3)]
              for _ in range(4)]
        l1 = DenseLayer(w1, [rng.randint(-1000, 1000) for _ in range(4)], rng.randint(0, 4),
                        True)
        l2 = DenseLayer([[rng.randint(-32768, 32767) for _ in range(4)] for _ in range(2)],
                        [rng.randint(-(1 << 31), (1 << 31) - 1) for _ in range(2)],
                        rng.randint(0, 31), False)
        w = mlp([l1, l2])
        x = _inputs(rng, 3)
        want, overflows = infer(w, x, CLAMP)
        sat += overflows
        assert _eval(w, x) == want, (w, x)
    assert sat > 10          # the cases do exercise saturation


def test_conv1d_and_linear():
    rng = random.Random(11)
    for _ in range(30):
        conv = Conv1dLayer([[[rng.randint(-300, 300) for _ in range(2)] for _ in range(2)]
                            for _ in range(3)], [rng.randint(-50, 50) for _ in range(3)],
                           8, rng.randint(0, 3), True)
        dense = DenseLayer([[rng.randint(-9, 9) for _ in range(9)]], [7], 1, False)
        w = mlp([conv, dense])
        x = _inputs(rng, 8)
        assert _eval(w, x) == infer(w, x, CLAMP)[0]
        lin = mlp([DenseLayer([[rng.randint(-32768, 32767) for _ in range(4)]], [3], 0)],
                  kind=ModelKind.LINEAR)
        x = _inputs(rng, 4)
        assert _eval(lin, x) == infer(lin, x, CLAMP)[0]


def test_trees_and_forests():
    rng = random.Random(5)
    for _ in range(30):
        trees = [_random_tree(rng, 3, 2, 5) for _ in range(rng.randint(1, 4))]
        w = forest(trees, 3, shift=rng.randint(0, 3),
                   kind=ModelKind.TREE if len(trees) == 1 else ModelKind.FOREST)
        if len(trees) == 1:
            w.shift = 0
        for _ in range(5):
            x = [rng.randint(-120, 120) for _ in range(3)]
            assert _eval(w, x) == infer(w, x, CLAMP)[0]
