"""learn/: metrics, the numpy MLP, the tree trainer, and the fixed-point exporter.

The exporter tests train on inputs shaped like the forced-migration features
(Q8 one-bit flags next to wide numeric features and a small-valued one), then
check the quantized model against the float one (>= 99.5% equal decisions)
and the integer emulation against the reference model engine bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rmt.compiler import compile_source
from rmt.learn import features, metrics, mlp, quantize, tree
from rmt.semantics import models as ref_models
from rmt.contract import weights as W

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def signature():
    path = ROOT / "examples" / "forced_migration.rmt"
    prog = compile_source(path.read_text(), str(path))
    return {m.name: m for m in prog.models}


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Q8 inputs: flags, counts, loads and a small signed ratio; two labels."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, features.NFEAT), dtype=np.int64)
    x[:, :8] = rng.integers(0, 2, (n, 8)) * 256
    x[:, 13:] = rng.integers(0, 2, (n, 4)) * 256
    x[:, 8] = np.clip(rng.integers(-2, 30, n) * 256, -8192, 8192)
    x[:, 9] = np.clip(rng.integers(0, 30, n) * 256, 0, 8192)
    x[:, 10:12] = rng.integers(0, 8192, (n, 2))
    x[:, 12] = rng.integers(-40, 40, n)                # a small feature: |ratio| < 0.16
    hot = (x[:, 1] > 0) & (x[:, 15] == 0)
    failed = x[:, 13] > 0
    numa = (x[:, 5] == 0) & (x[:, 12] < -8)           # depends on the small feature
    verdict = (~(hot | numa) | failed).astype(int)
    forced = ((hot | numa) & failed).astype(int)
    return x, np.stack([verdict, forced], 1)


def test_metrics_on_a_known_confusion():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    assert metrics.confusion(y, p).tolist() == [[4, 1], [1, 2]]
    s = metrics.scores(y, p)
    assert s["accuracy"] == 6 / 8 and s["precision"] == 2 / 3 and s["recall"] == 2 / 3
    assert s["f1"] == pytest.approx(2 / 3)
    assert metrics.scores(np.zeros(3), np.zeros(3))["f1"] == 0.0


def test_wilson_interval():
    # textbook values: 8/10 -> (0.4902, 0.9433); 0/10 -> (0, 0.2775); n = 0 -> no information
    lo, hi = metrics.wilson(8, 10)
    assert abs(lo - 0.4902) < 1e-4 and abs(hi - 0.9433) < 1e-4
    lo, hi = metrics.wilson(0, 10)
    assert lo == 0.0 and abs(hi - 0.2775) < 1e-4
    assert metrics.wilson(0, 0) == (0.0, 1.0)
    s = metrics.scores_ci(np.array([1, 1, 1, 0, 0]), np.array([1, 1, 0, 1, 0]))
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 1)
    lo, hi = s["precision_ci"]
    assert lo < s["precision"] < hi and s["recall_ci"] == metrics.wilson(2, 3)


def test_tree_learns_integer_rules_exactly():
    rng = np.random.default_rng(1)
    x = rng.integers(-300, 300, (4000, 3))
    y = np.stack([(x[:, 0] > 17) & (x[:, 1] <= -5), x[:, 2] > 100], 1).astype(float)
    t = tree.fit(x, y, max_depth=4)
    assert np.array_equal(t.predict(x) > 0.5, y > 0)
    inner = [n for n in t.nodes if n.feature >= 0]
    assert {(n.feature, n.threshold) for n in inner} >= {(0, 17), (1, -5), (2, 100)}
    assert all(n.left > i and n.right > i for i, n in enumerate(t.nodes) if n.feature >= 0)


def test_tree_regression_and_weights():
    x = np.arange(100)[:, None]
    y = np.where(x[:, 0] < 50, 2.0, 7.0)
    t = tree.fit(x, y, max_depth=1)
    assert t.predict(np.array([[10], [90]]))[:, 0].tolist() == [2.0, 7.0]
    # weights move a leaf's value: the minority class wins when it weighs enough
    y = (np.arange(10) == 0).astype(float)
    w = np.where(y > 0, 20.0, 1.0)
    t = tree.fit(np.zeros((10, 1), dtype=int), y, sample_weight=w)
    assert t.predict(np.zeros((1, 1), dtype=int))[0, 0] > 0.5


def test_mlp_learns_and_respects_the_hidden_clamp():
    x, _ = synthetic(6000, 2)
    hot, failed = (x[:, 1] > 0) & (x[:, 15] == 0), x[:, 13] > 0      # task_hot, SMT aside
    y = np.stack([~hot | failed, hot & failed], 1).astype(int)
    cfg = mlp.TrainConfig(epochs=20, batch=64, log=lambda s: None)
    m = mlp.train(x / 256, y, [12], cfg, clamp=32.0)
    acc = np.mean((m.logits(x / 256) > 0) == (y > 0), axis=0)
    assert acc[0] > 0.99 and acc[1] > 0.99, acc
    _, acts = m.forward(np.full((4, features.NFEAT), 32.0))
    assert acts[1].max() <= 32.0


def test_exporter_agrees_with_float_model_and_reference_engine(signature):
    x, y = synthetic(8000, 3)
    xt, _ = synthetic(4000, 4)                          # test inputs never trained on
    m = mlp.train(x / 256, y, [12], mlp.TrainConfig(epochs=15, log=lambda s: None), clamp=32.0)
    q = quantize.quantize_mlp(m, in_frac=8, max_weight=2048)
    sig = signature["predictor"]
    back = W.read_weights(W.write_weights(q.weights), sig)        # the loader's rules hold
    assert all(abs(v) <= 2048 for ly in back.layers for row in ly.weights for v in row)
    fixed, sat = quantize.emulate_mlp(q.weights, xt, sig.in_lo, sig.in_hi)
    assert sat == 0
    agree = metrics.agreement(fixed > 0, m.logits(xt / 256) > 0)
    assert agree >= 0.995, agree
    # logits match up to the fixed-point resolution
    err = np.abs(fixed / 2.0 ** q.out_frac - m.logits(xt / 256))
    assert np.median(err) < 0.05
    for row in xt[:200]:
        out, ov = ref_models.infer(q.weights, row.tolist(), (sig.in_lo, sig.in_hi))
        assert ov == 0
    outs = np.array([ref_models.infer(q.weights, r.tolist(), (sig.in_lo, sig.in_hi))[0]
                     for r in xt[:200]])
    assert np.array_equal(outs, fixed[:200])


def test_naive_rounding_would_lose_the_small_feature():
    """Why the exporter scales per layer, not per weight: a rounding converter
    at a fixed 2^4 weight scale zeroes the small feature's weight."""
    x, y = synthetic(8000, 5)
    m = mlp.train(x / 256, y, [12], mlp.TrainConfig(epochs=15, log=lambda s: None), clamp=32.0)
    q = quantize.quantize_mlp(m)
    w0 = np.asarray(q.weights.layers[0].weights)
    assert np.abs(w0[:, 12]).max() > 8                  # the small feature keeps its precision


def test_tree_export_is_exact(signature):
    x, y = synthetic(6000, 6)
    w = np.where(y > 0, mlp.pos_weights(y, 50.0), 1.0)
    t = tree.fit(x, y, max_depth=10, sample_weight=w)
    blob = quantize.export_tree(t, kind=signature["tree_predictor"].kind)
    back = W.read_weights(W.write_weights(blob), signature["tree_predictor"])
    xt, _ = synthetic(1500, 7)
    fixed = quantize.emulate_tree(back, xt)
    assert np.array_equal(fixed > 0, t.predict(xt) > 0.5)
    ref = np.array([ref_models.infer(back, r.tolist())[0] for r in xt[:300]])
    assert np.array_equal(ref, fixed[:300])


def test_class_leaf_keeps_the_sign():
    assert quantize.class_leaf(np.array([0.5, 0.5002, 0.9, 0.1])) == [0, 1, 819, -819]


def test_quantize_refuses_weights_it_cannot_represent():
    m = mlp.MLP([np.full((2, 3), 1e6), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(quantize.QuantError, match="layer 0"):
        quantize.quantize_mlp(m)
