"""XGBoost (JSON/UBJ) and LightGBM (text) model files -> FloatTrees (ir.py).

Both are sums of trees plus a base margin, which is what the VM's forest computes, so they
map exactly: the score is the raw margin (its sign is the binary decision; per class for
multiclass).  XGBoost splits send x < threshold left (`strict`); LightGBM x <= threshold.
The base margin is measured from the library's own raw prediction, so it is right whatever
the objective stores."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rmt.model_import.ir import FloatTree, FloatTrees, ModelImportError, Task


def _need(mod: str):
    try:
        return __import__(mod)
    except ImportError:
        raise ModelImportError(f"reading this model needs the {mod} package: "
                               f"pip install 'rmt[ml]'") from None


def _task(objective: str, n_class: int, src: str) -> Task:
    if n_class > 2 or objective.startswith(("multi:", "multiclass")):
        return Task("multiclass", n_class, src)
    if objective.startswith(("binary", "reg:logistic")):
        return Task("binary", 1, src)
    if objective.startswith(("reg:", "regression", "huber", "fair", "poisson", "quantile",
                             "mape", "gamma", "tweedie", "count:", "survival:", "l1", "l2")):
        return Task("regression", 1, src)
    raise ModelImportError(f"{src}: objective {objective!r} is not supported (binary, "
                           f"multiclass or regression objectives)")


def read_xgboost(path: Path) -> FloatTrees:
    xgb = _need("xgboost")
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as e:
        raise ModelImportError(f"{path}: not an XGBoost model: {str(e).splitlines()[0]}") \
            from None
    doc = json.loads(bytes(booster.save_raw("json")))
    learner = doc["learner"]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise ModelImportError(f"{path}: XGBoost booster {gb.get('name')!r} is not supported "
                               f"(gbtree only)")
    objective = learner["objective"]["name"]
    n_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
    n_in = int(learner["learner_model_param"]["num_feature"])
    task = _task(objective, n_class, f"XGBoost {objective}")
    model = gb["model"]
    info = model.get("tree_info", [0] * len(model["trees"]))
    trees = []
    for t, cls in zip(model["trees"], info):
        left = np.asarray(t["left_children"], np.int64)
        right = np.asarray(t["right_children"], np.int64)
        cond = np.asarray(t["split_conditions"], np.float64)
        if any(int(x) != 0 for x in t.get("split_type", [])):
            raise ModelImportError(f"{path}: XGBoost categorical splits are not supported")
        value = np.zeros((len(left), task.n_out))
        value[:, cls if task.n_out > 1 else 0] = np.where(left < 0, cond, 0.0)
        trees.append(FloatTree(np.asarray(t["split_indices"], np.int64), cond, left, right,
                               value, strict=True))
    out = FloatTrees(trees, np.zeros(task.n_out), task, n_in)
    probe = np.zeros((1, n_in), np.float32)
    raw = booster.predict(xgb.DMatrix(probe), output_margin=True)
    out.base = np.asarray(raw, np.float64).reshape(-1)[:task.n_out] - out.score(probe)[0]
    return out


def read_lightgbm(path: Path) -> FloatTrees:
    lgb = _need("lightgbm")
    try:
        booster = lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError as e:
        raise ModelImportError(f"{path}: not a LightGBM model: {e}") from None
    doc = booster.dump_model()
    objective = str(doc.get("objective", "regression")).split()[0]
    n_class = int(doc.get("num_class", 1))
    n_in = int(doc["max_feature_idx"]) + 1
    task = _task(objective, n_class, f"LightGBM {objective}")
    trees = []
    for j, ti in enumerate(doc["tree_info"]):
        feat, thr, left, right, vals = [], [], [], [], []

        def walk(node: dict) -> int:
            i = len(feat)
            feat.append(0), thr.append(0.0), left.append(-1), right.append(-1), vals.append(0.0)
            if "leaf_value" in node:
                vals[i] = float(node["leaf_value"])
                return i
            if node.get("decision_type", "<=") != "<=":
                raise ModelImportError(f"{path}: LightGBM tree {j} has a "
                                       f"{node['decision_type']!r} (categorical) split; only "
                                       f"numeric '<=' splits are supported")
            feat[i], thr[i] = int(node["split_feature"]), float(node["threshold"])
            left[i] = walk(node["left_child"])
            right[i] = walk(node["right_child"])
            return i

        walk(ti["tree_structure"])
        value = np.zeros((len(feat), task.n_out))
        value[:, j % task.n_out] = vals
        value[np.asarray(left) >= 0] = 0.0
        trees.append(FloatTree(np.asarray(feat, np.int64), np.asarray(thr, np.float64),
                               np.asarray(left, np.int64), np.asarray(right, np.int64), value))
    out = FloatTrees(trees, np.zeros(task.n_out), task, n_in)
    probe = np.zeros((1, n_in))
    raw = booster.predict(probe, raw_score=True)
    out.base = np.asarray(raw, np.float64).reshape(-1)[:task.n_out] - out.score(probe)[0]
    return out
