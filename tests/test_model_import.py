"""rmtc model import / model_import.import_model (docs/models.md).

For every supported kind and source: train a small model on integer inputs, import it,
run it in the C VM on the calibration inputs, check the VM's outputs equal the importer's
integer emulation bit for bit, and that the VM's decisions agree with the float model
(the estimator, or onnxruntime for ONNX files) on at least 99.5% of the rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("onnxruntime")

from sklearn import ensemble, linear_model, neural_network, svm, tree  # noqa: E402

import model_import_vm as V  # noqa: E402
from rmt.model_import import ModelImportError, import_model  # noqa: E402

RATE = 0.995
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::UserWarning")


def data(n: int = 400, seed: int = 0, task: str = "binary") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(V.LO, V.HI + 1, (n, V.N_IN))
    a = (x[:, 0] > 17) & (x[:, 1] <= -5)
    b = x[:, 2] + x[:, 3] > 300
    if task == "binary":
        return x, (a | b).astype(int)
    if task == "multiclass":
        return x, a.astype(int) + 2 * (b & ~a)
    if task == "multilabel":
        return x, np.stack([a, b], 1).astype(int)
    return x, (0.5 * x[:, 0] - 0.25 * x[:, 1] + 3.0 * (x[:, 2] > 100))   # regression


def onnx_file(est: Any, xf: np.ndarray, path: Path) -> Path:
    from skl2onnx import to_onnx
    opts = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
    path.write_bytes(to_onnx(est, xf[:1].astype(np.float32), options=opts,
                             target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())
    return path


def ort_predict(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts)

    def predict(xf: np.ndarray) -> np.ndarray:
        return sess.run(None, {sess.get_inputs()[0].name: xf.astype(np.float32)})[0]
    return predict


def vm_labels(est_classes: Any, task: str, out: np.ndarray, out_frac: int) -> np.ndarray:
    if task == "binary":
        return np.asarray(est_classes)[(out[:, 0] > 0).astype(int)]
    if task == "multiclass":
        return np.asarray(est_classes)[np.argmax(out, axis=1)]
    if task == "multilabel":
        return (out > 0).astype(int)
    return out[:, 0] / 2.0 ** out_frac


def check(source: Any, decl: str, x: np.ndarray, predict: Callable[[np.ndarray], np.ndarray],
          task: str, in_frac: int = 0, classes: Any = (0, 1), n_out: int = 1) -> Any:
    prog = V.program(decl, n_out)
    res = import_model(source, prog, "m", x, in_frac=in_frac)
    assert res.report.agreement >= RATE and res.report.refused is None, res.report
    vm = V.run(prog, res.blob, x)
    assert vm.shape == (len(x), n_out)
    assert np.array_equal(vm, res.emulate(x, prog.models[0])), "VM != importer emulation"
    want = predict(x / 2.0 ** in_frac)
    got = vm_labels(classes, task, vm, res.report.out_frac)
    if task == "regression":
        tol = 0.01 * np.ptp(want) + 2.0 ** -res.report.out_frac
        agree = np.mean(np.abs(got - np.ravel(want)) <= tol)
    else:
        want = np.asarray(want).reshape(got.shape)
        agree = np.mean(np.all((got == want).reshape(len(x), -1), axis=1))
    assert agree >= RATE, f"VM agrees with the float model on {agree:.4f}"
    return res


# (estimator, declaration, task, in_frac): trees on the integers, linear and MLP on x / 64
SKLEARN = {
    "tree": (lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0),
             "tree(depth = 6);", "binary", 0),
    "tree-multilabel": (lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0),
                        "tree(depth = 6);", "multilabel", 0),
    "tree-regressor": (lambda: tree.DecisionTreeRegressor(max_depth=5, random_state=0),
                       "tree(depth = 5);", "regression", 0),
    "random-forest": (lambda: ensemble.RandomForestClassifier(6, max_depth=5, random_state=0),
                      "forest(trees = 8, depth = 5);", "binary", 0),
    "random-forest-multiclass": (
        lambda: ensemble.RandomForestClassifier(5, max_depth=6, random_state=0),
        "forest(trees = 5, depth = 6);", "multiclass", 0),
    "extra-trees": (lambda: ensemble.ExtraTreesClassifier(6, max_depth=8, random_state=0),
                    "forest(trees = 6, depth = 8);", "binary", 0),
    "gradient-boosting": (
        lambda: ensemble.GradientBoostingClassifier(n_estimators=12, max_depth=3,
                                                    random_state=0),
        "forest(trees = 12, depth = 3);", "binary", 0),
    "gradient-boosting-regressor": (
        lambda: ensemble.GradientBoostingRegressor(n_estimators=10, max_depth=3,
                                                   random_state=0),
        "forest(trees = 10, depth = 3);", "regression", 0),
    "hist-gradient-boosting": (
        lambda: ensemble.HistGradientBoostingClassifier(max_iter=10, max_depth=3,
                                                        random_state=0),
        "forest(trees = 10, depth = 3);", "binary", 0),
    "logistic": (lambda: linear_model.LogisticRegression(max_iter=2000),
                 "linear(weight = i16);", "binary", 6),
    "logistic-multiclass": (lambda: linear_model.LogisticRegression(max_iter=2000),
                            "linear(weight = i16);", "multiclass", 6),
    "linear-svm": (lambda: svm.LinearSVC(C=1.0, max_iter=5000),
                   "linear(weight = i8);", "binary", 6),
    "linear-regression": (lambda: linear_model.LinearRegression(),
                          "linear(weight = i16);", "regression", 6),
    "mlp": (lambda: neural_network.MLPClassifier((8,), max_iter=800, random_state=0),
            "mlp(weight = i16) { dense(8, relu); dense(1); }", "binary", 6),
    "mlp-multilabel": (lambda: neural_network.MLPClassifier((8,), max_iter=800,
                                                            random_state=0),
                       "mlp(weight = i16) { dense(8, relu); dense(2); }", "multilabel", 6),
    "mlp-regressor": (lambda: neural_network.MLPRegressor(hidden_layer_sizes=(8,), max_iter=1500,
                                                         random_state=0),
                      "mlp(weight = i16) { dense(8, relu); dense(1); }", "regression", 6),
}


def _n_out(task: str, y: np.ndarray) -> int:
    if task == "multiclass":
        return len(np.unique(y))
    return y.shape[1] if task == "multilabel" else 1


def _fit(name: str) -> tuple[Any, str, str, int, np.ndarray, np.ndarray]:
    make, decl, task, frac = SKLEARN[name]
    x, y = data(task=task)
    est = make().fit(x / 2.0 ** frac, y)
    return est, decl, task, frac, x, y


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_estimator(name: str) -> None:
    est, decl, task, frac, x, y = _fit(name)
    check(est, decl, x, est.predict, task, frac, getattr(est, "classes_", None),
          _n_out(task, y))


@pytest.mark.parametrize("name", ["tree", "random-forest", "gradient-boosting", "logistic",
                                  "mlp", "random-forest-multiclass", "logistic-multiclass",
                                  "mlp-multilabel"])
def test_onnx_file(name: str, tmp_path: Path) -> None:
    """skl2onnx output: TreeEnsembleClassifier, LinearClassifier, MatMul/Add/Relu."""
    est, decl, task, frac, x, y = _fit(name)
    path = onnx_file(est, x / 2.0 ** frac, tmp_path / "m.onnx")
    check(path, decl, x, ort_predict(path), task, frac, est.classes_, _n_out(task, y))


def test_onnx_regressors(tmp_path: Path) -> None:
    """TreeEnsembleRegressor and a Gemm MLP regressor, checked against onnxruntime."""
    for name in ("tree-regressor", "mlp-regressor"):
        est, decl, task, frac, x, _ = _fit(name)
        path = onnx_file(est, x / 2.0 ** frac, tmp_path / f"{name}.onnx")
        check(path, decl, x, ort_predict(path), task, frac)


def test_skops_file(tmp_path: Path) -> None:
    sio = pytest.importorskip("skops.io")
    est, decl, task, frac, x, _ = _fit("gradient-boosting")
    path = tmp_path / "gb.skops"
    sio.dump(est, path)
    check(path, decl, x, est.predict, task, frac, est.classes_)


def test_xgboost_json_and_ubj(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    x, y = data()
    est = xgb.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
    for suffix in ("json", "ubj"):
        path = tmp_path / f"m.{suffix}"
        est.save_model(path)
        res = check(path, "forest(trees = 10, depth = 3);", x, est.predict, "binary")
        assert any("x < t" in n for n in res.report.notes)


def test_xgboost_multiclass_and_regression(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    x, y = data(task="multiclass")
    est = xgb.XGBClassifier(n_estimators=4, max_depth=3, random_state=0).fit(x, y)
    est.save_model(tmp_path / "c.json")
    check(tmp_path / "c.json", "forest(trees = 12, depth = 3);", x, est.predict, "multiclass",
          classes=est.classes_, n_out=3)
    x, y = data(task="regression")
    est = xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(x, y)
    est.save_model(tmp_path / "r.json")
    check(tmp_path / "r.json", "forest(trees = 10, depth = 3);", x, est.predict, "regression")


def test_lightgbm_text(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    x, y = data()
    est = lgb.LGBMClassifier(n_estimators=10, max_depth=3, num_leaves=8, verbose=-1,
                             random_state=0).fit(x, y)
    path = tmp_path / "m.txt"
    est.booster_.save_model(path)
    check(path, "forest(trees = 10, depth = 3);", x, est.predict, "binary")


# ---------------------------------------------------------------- exactness

def test_integer_thresholds_are_exact_where_rounding_is_not() -> None:
    """`x <= 3.5` on integer x is `x <= 3` (rounding to 4 gets x = 4 wrong): over every
    integer around the split the VM decides as the float tree does."""
    x = np.arange(-20, 21)[:, None] * np.ones((1, V.N_IN), dtype=np.int64)
    y = (x[:, 0] >= 4).astype(int)
    est = tree.DecisionTreeClassifier(max_depth=2).fit(x, y)
    assert est.tree_.threshold[0] == 3.5
    prog = V.program("tree(depth = 2);", 1)
    res = import_model(est, prog, "m", x)
    vm = V.run(prog, res.blob, x)
    assert np.array_equal((vm[:, 0] > 0).astype(int), est.predict(x))
    assert res.weights.trees[0].nodes[0].threshold == 3


def test_strict_splits_become_the_right_integer_comparison(tmp_path: Path) -> None:
    """XGBoost sends x < t left: at an integer t that is x <= t - 1, not x <= t."""
    xgb = pytest.importorskip("xgboost")
    x = np.arange(-20, 21)[:, None] * np.ones((1, V.N_IN), dtype=np.int64)
    y = (x[:, 0] >= 3).astype(int)
    est = xgb.XGBClassifier(n_estimators=2, max_depth=1).fit(x, y)
    est.save_model(tmp_path / "m.json")
    check(tmp_path / "m.json", "forest(trees = 2, depth = 1);", x, est.predict, "binary")


# ---------------------------------------------------------------- refusals

_refused = V.refused


def test_unsupported_onnx_operator_is_named(tmp_path: Path) -> None:
    x, y = data()
    est = neural_network.MLPClassifier((6,), activation="tanh", max_iter=200,
                                       random_state=0).fit(x / 64, y)
    path = onnx_file(est, x / 64, tmp_path / "tanh.onnx")
    _refused("ONNX operator Tanh", path, V.program("mlp() { dense(6, relu); dense(1); }", 1),
             "m", x)


def test_unsupported_estimator_is_named() -> None:
    from sklearn.neighbors import KNeighborsClassifier
    x, y = data()
    est = KNeighborsClassifier().fit(x, y)
    _refused("KNeighborsClassifier is not supported", est, V.program("linear();", 1), "m", x)
    est = neural_network.MLPClassifier((6,), activation="tanh", max_iter=50).fit(x / 64, y)
    _refused("activation='tanh'", est, V.program("mlp() { dense(6, relu); dense(1); }", 1),
             "m", x)


def test_shape_mismatches_name_both_sides() -> None:
    est, _, _, frac, x, _ = _fit("mlp")
    msg = _refused("layer 0", est, V.program("mlp() { dense(6, relu); dense(1); }", 1), "m", x,
                   in_frac=frac)
    assert "4 -> 8" in msg and "4 -> 6" in msg
    est, _, _, _, x, _ = _fit("random-forest-multiclass")
    msg = _refused("3 outputs", est, V.program("forest(trees = 5, depth = 6);", 1), "m", x)
    assert "out = 1" in msg
    est, _, _, _, x, _ = _fit("random-forest")
    _refused("6 trees.*declares 4", est, V.program("forest(trees = 4, depth = 5);", 1), "m", x)
    _refused("depth 5.*depth = 3", est, V.program("forest(trees = 8, depth = 3);", 1), "m", x)
    _refused("tree model.*declared linear", est, V.program("linear();", 1), "m", x)


def test_tree_on_non_integer_features_is_refused_and_explained() -> None:
    x, y = data()
    xf = x / 1000.0                         # trained on fractions the program never sees
    est = tree.DecisionTreeClassifier(max_depth=4).fit(xf, y)
    msg = _refused("not an integer", est, V.program("tree(depth = 4);", 1), "m", xf)
    assert "floor" in msg and "--input-frac" in msg


def test_weight_that_fits_max_weight_at_no_scale() -> None:
    x, _ = data()
    est = linear_model.LinearRegression().fit(x, 5000.0 * x[:, 0] + x[:, 1])
    msg = _refused("cannot fit max_weight 100 at any scale", est,
                   V.program("linear(weight = i8, max_weight = 100);", 1), "m", x)
    assert "weight [0][0]" in msg


def test_low_agreement_refused_unless_forced() -> None:
    est, decl, _, _, x, _ = _fit("random-forest")
    prog = V.program(decl, 1)
    # at out_frac -3 the leaves (|v| <= 1/6) all round to 0: no decision survives
    _refused("below the required 99.50%", est, prog, "m", x, out_frac=-3)
    res = import_model(est, prog, "m", x, out_frac=-3, force=True)
    assert res.report.agreement < RATE and res.report.refused


def test_without_calibration_refused_unless_forced() -> None:
    est, decl, _, _, x, _ = _fit("tree")
    prog = V.program(decl, 1)
    _refused("no calibration data", est, prog, "m")
    assert import_model(est, prog, "m", force=True).report.agreement is None


def test_pickle_needs_trust(tmp_path: Path) -> None:
    import pickle
    est, decl, _, _, x, _ = _fit("tree")
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(est))
    prog = V.program(decl, 1)
    _refused("--trust-pickle", path, prog, "m", x)
    assert import_model(path, prog, "m", x, trust_pickle=True).report.agreement >= RATE


def test_unknown_model_name_and_bad_files(tmp_path: Path) -> None:
    est, decl, _, _, x, _ = _fit("tree")
    prog = V.program(decl, 1)
    _refused("has no model 'nope'", est, prog, "nope", x)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not protobuf at all \xff\xff")
    _refused("not an ONNX model", bad, prog, "m", x)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    _refused("bad.json", bad, prog, "m", x)


def _tree_onnx(path: Path, **attrs: Any) -> Path:
    from onnx import TensorProto, helper
    base = dict(n_targets=1, nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2],
                nodes_featureids=[0, 0, 0], nodes_values=[2.5, 0.0, 0.0],
                nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_truenodeids=[1, 0, 0],
                nodes_falsenodeids=[2, 0, 0], target_treeids=[0, 0], target_nodeids=[1, 2],
                target_ids=[0, 0], target_weights=[-1.0, 1.0])
    base.update(attrs)
    base = {k: v for k, v in base.items() if v is not None}
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **base)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                      [None, V.N_IN])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("ai.onnx.ml", 3)])
    path.write_bytes(m.SerializeToString())
    return path


def test_hand_written_onnx_trees(tmp_path: Path) -> None:
    """A well-formed hand-written TreeEnsembleRegressor imports exactly (x <= 2.5 is
    x <= 2); a cycle, a missing attribute, an equality split are refused in one line."""
    x = np.arange(-5, 6)[:, None] * np.ones((1, V.N_IN), dtype=np.int64)
    prog = V.program("tree(depth = 1);", 1)
    res = import_model(_tree_onnx(tmp_path / "ok.onnx"), prog, "m", x)
    assert np.array_equal(V.run(prog, res.blob, x)[:, 0] > 0, x[:, 0] > 2)
    _refused("not a tree", _tree_onnx(tmp_path / "cycle.onnx", nodes_falsenodeids=[0, 0, 0]),
             prog, "m", x)
    _refused("malformed model", _tree_onnx(tmp_path / "missing.onnx", nodes_modes=None),
             prog, "m", x)
    _refused("BRANCH_EQ", _tree_onnx(tmp_path / "eq.onnx",
                                     nodes_modes=["BRANCH_EQ", "LEAF", "LEAF"]), prog, "m", x)
