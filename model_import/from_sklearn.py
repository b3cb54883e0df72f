"""scikit-learn estimators -> FloatNet / FloatTrees (ir.py).

Trees keep scikit-learn's `x <= threshold`; classifier leaves become 2p - 1 (binary and
multilabel) or p (multiclass), divided by the number of trees for averaging ensembles
(random forests, extra trees), so the forest's exact sum is the ensemble's average.
Gradient boosting keeps its raw sum (learning rate folded into the leaves, the initial
estimate in `base`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from rmt.model_import.ir import FloatLayer, FloatNet, FloatTree, FloatTrees, ModelImportError, Task

_LINEAR = {"LogisticRegression", "LogisticRegressionCV", "LinearRegression", "Ridge", "RidgeCV",
           "RidgeClassifier", "RidgeClassifierCV", "Lasso", "LassoCV", "ElasticNet",
           "ElasticNetCV", "LinearSVC", "LinearSVR", "SGDClassifier", "SGDRegressor",
           "Perceptron", "PassiveAggressiveClassifier", "PassiveAggressiveRegressor",
           "HuberRegressor", "BayesianRidge", "ARDRegression"}
_SINGLE_TREES = {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
                 "ExtraTreeRegressor"}
_AVERAGED = {"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
             "ExtraTreesRegressor"}
_BOOSTED = {"GradientBoostingClassifier", "GradientBoostingRegressor"}
_HIST = {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}
SUPPORTED = sorted(_LINEAR | _SINGLE_TREES | _AVERAGED | _BOOSTED | _HIST |
                   {"MLPClassifier", "MLPRegressor"})


def _task(est: Any, name: str) -> Task:
    src = f"scikit-learn {name}"
    classes = getattr(est, "classes_", None)
    if classes is None:
        n = int(getattr(est, "n_outputs_", 1) or 1)
        if hasattr(est, "coef_") and np.ndim(est.coef_) == 2:
            n = est.coef_.shape[0]
        return Task("regression", n, src)
    if isinstance(classes, list):                 # multi-output
        if any(len(c) != 2 for c in classes):
            raise ModelImportError(f"{src}: multi-output with more than two classes per "
                                   f"output is not supported (each output must be binary)")
        return Task("multilabel", len(classes), src)
    k = len(classes)
    if getattr(est, "out_activation_", "") == "logistic" and getattr(est, "n_outputs_", 1) > 1:
        return Task("multilabel", est.n_outputs_, src)   # MLP on a label-indicator matrix
    if k == 2:
        return Task("binary", 1, src)
    return Task("multiclass", k, src)


def _class_leaves(value: np.ndarray, task: Task) -> np.ndarray:
    """tree_.value [nodes, n_outputs, n_classes] -> leaf scores [nodes, n_out]."""
    p = value / np.maximum(value.sum(axis=2, keepdims=True), 1e-300)   # counts or fractions
    if task.kind == "binary":
        return 2 * p[:, 0, 1:2] - 1
    if task.kind == "multilabel":
        return 2 * p[:, :, 1] - 1
    return p[:, 0, :]


def _tree(t: Any, leaves: np.ndarray) -> FloatTree:
    return FloatTree(np.asarray(t.feature, np.int64), np.asarray(t.threshold, np.float64),
                     np.asarray(t.children_left, np.int64),
                     np.asarray(t.children_right, np.int64), leaves)


def _tree_leaves(est: Any, task: Task) -> np.ndarray:
    v = np.asarray(est.tree_.value, np.float64)
    if task.kind == "regression":
        return v[:, :, 0]
    return _class_leaves(v, task)


def convert(est: Any) -> FloatNet | FloatTrees:
    name = type(est).__name__
    if name in ("Pipeline", "GridSearchCV", "RandomizedSearchCV"):
        raise ModelImportError(f"scikit-learn {name}: import the fitted final estimator "
                               f"itself (preprocessing must be computed by the program)")
    if name not in SUPPORTED:
        raise ModelImportError(f"scikit-learn estimator {name} is not supported (supported: "
                               f"{', '.join(SUPPORTED)})")
    if not hasattr(est, "n_features_in_"):
        raise ModelImportError(f"scikit-learn {name} is not fitted")
    task = _task(est, name)
    n_in = int(est.n_features_in_)
    if name in _LINEAR:
        coef = np.atleast_2d(np.asarray(est.coef_, np.float64))
        icpt = np.atleast_1d(np.asarray(est.intercept_, np.float64)) * np.ones(coef.shape[0])
        if task.kind == "multiclass" and coef.shape[0] == 1:
            task = Task("binary", 1, task.source)
        task.n_out = coef.shape[0]
        return FloatNet([FloatLayer(coef, icpt, relu=False)], task)
    if name.startswith("MLP"):
        if est.activation not in ("relu", "identity"):
            raise ModelImportError(f"scikit-learn {name} with activation={est.activation!r}: "
                                   f"the VM has ReLU only (train with activation='relu')")
        relu = est.activation == "relu"
        n = len(est.coefs_)
        layers = [FloatLayer(np.asarray(w, np.float64).T, np.asarray(b, np.float64),
                             relu=relu and j + 1 < n)
                  for j, (w, b) in enumerate(zip(est.coefs_, est.intercepts_))]
        task.n_out = layers[-1].weight.shape[0]
        return FloatNet(layers, task)
    if name in _SINGLE_TREES:
        return FloatTrees([_tree(est.tree_, _tree_leaves(est, task))],
                          np.zeros(task.n_out), task, n_in)
    if name in _AVERAGED:
        ests = list(est.estimators_)
        trees = [_tree(e.tree_, _tree_leaves(e, task) / len(ests)) for e in ests]
        return FloatTrees(trees, np.zeros(task.n_out), task, n_in)
    if name in _HIST:
        return _hist(est, task, n_in)
    # gradient boosting: raw = init + learning_rate * sum of regression trees per column
    stages = est.estimators_                       # [n_estimators, K]
    k = stages.shape[1]
    task.n_out = k
    if task.kind == "multiclass" and k == 1:
        task = Task("binary", 1, task.source)
    trees = []
    for row in stages:
        for c, e in enumerate(row):
            v = np.zeros((e.tree_.node_count, k))
            v[:, c] = np.asarray(e.tree_.value, np.float64)[:, 0, 0] * est.learning_rate
            trees.append(_tree(e.tree_, v))
    probe = np.zeros((1, n_in))
    raw = est.decision_function(probe) if hasattr(est, "decision_function") else \
        est.predict(probe)
    out = FloatTrees(trees, np.zeros(k), task, n_in)
    out.base = np.atleast_1d(np.asarray(raw, np.float64).reshape(-1)) - out.score(probe)[0]
    return out


def _raw(est: Any, x: np.ndarray) -> np.ndarray:
    raw = est.decision_function(x) if hasattr(est, "decision_function") else est.predict(x)
    return np.asarray(raw, np.float64).reshape(len(x), -1)


def _hist(est: Any, task: Task, n_in: int) -> FloatTrees:
    """HistGradientBoosting*: per iteration one predictor per score column; nodes send
    x <= num_threshold left.  Categorical splits are refused."""
    preds = est._predictors                        # [n_iter][K] TreePredictor
    k = len(preds[0])
    if task.kind == "multiclass" and k == 1:
        task = Task("binary", 1, task.source)
    task.n_out = k
    trees = []
    for row in preds:
        for c, p in enumerate(row):
            nd = p.nodes
            if np.any(nd["is_categorical"]):
                raise ModelImportError(f"{task.source}: categorical splits are not supported")
            leaf = nd["is_leaf"].astype(bool)
            v = np.zeros((len(nd), k))
            v[:, c] = np.where(leaf, nd["value"], 0.0)
            trees.append(FloatTree(nd["feature_idx"].astype(np.int64),
                                   nd["num_threshold"].astype(np.float64),
                                   np.where(leaf, -1, nd["left"].astype(np.int64)),
                                   np.where(leaf, -1, nd["right"].astype(np.int64)), v))
    out = FloatTrees(trees, np.zeros(k), task, n_in)
    probe = np.zeros((1, n_in))
    out.base = _raw(est, probe)[0] - out.score(probe)[0]
    return out
