"""Read a model from a file or take a fitted estimator: -> FloatNet / FloatTrees.

By file name: `.onnx` ONNX; `.skops` a scikit-learn estimator saved with skops (only
types skops and this importer know are loaded); `.json`/`.ubj` XGBoost; `.txt`/`.lgb`
LightGBM text; `.pkl`/`.pickle`/`.joblib` a pickled estimator, which runs arbitrary code
when loaded and so is read only with trust_pickle=True (`--trust-pickle`)."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from rmt.model_import import from_boosters, from_onnx, from_sklearn
from rmt.model_import.ir import FloatNet, FloatTrees, ModelImportError

PICKLES = (".pkl", ".pickle", ".joblib")


def _skops(path: Path) -> Any:
    try:
        import skops.io as sio
    except ImportError:
        raise ModelImportError("reading .skops needs skops: pip install 'rmt[ml]'") from None
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as e:                       # zipfile / json errors from skops
        raise ModelImportError(f"{path}: not a skops file ({type(e).__name__}: {e})") from None
    # scikit-learn's and numpy's own types are rebuilt from their state; anything else
    # could run code of its own when loaded
    other = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if other:
        raise ModelImportError(f"{path}: the skops file holds types other than "
                               f"scikit-learn's and numpy's ({', '.join(other[:4])}); load "
                               f"it yourself after review and pass the estimator to "
                               f"rmt.model_import.import_model")
    try:
        return sio.load(str(path), trusted=untrusted)
    except Exception as e:                       # skops raises many kinds
        raise ModelImportError(f"{path}: cannot load ({type(e).__name__}: {e})") from None


def _pickle(path: Path) -> Any:
    if path.suffix == ".joblib":
        try:
            import joblib
            return joblib.load(path)
        except ImportError:
            pass
    with open(path, "rb") as f:
        return pickle.load(f)


def read(source: Any, *, trust_pickle: bool = False) -> FloatNet | FloatTrees:
    """The float model in `source`; a malformed file is a ModelImportError, not a crash."""
    try:
        return _read(source, trust_pickle)
    except ModelImportError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise ModelImportError(f"{source}: malformed model ({type(e).__name__}: {e})") \
            from None


def _read(source: Any, trust_pickle: bool) -> FloatNet | FloatTrees:
    if isinstance(source, (FloatNet, FloatTrees)):
        return source
    if not isinstance(source, (str, Path)):
        mod = type(source).__module__.split(".")[0]
        if mod == "sklearn":
            return from_sklearn.convert(source)
        if mod == "onnx":
            raise ModelImportError("pass an ONNX model as a file path")
        if mod in ("xgboost", "lightgbm"):
            raise ModelImportError(f"pass a {mod} model as a saved model file")
        raise ModelImportError(f"a {type(source).__name__} is not a model this importer "
                               f"reads (scikit-learn estimators, or a file path)")
    path = Path(source)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    suf = path.suffix.lower()
    try:
        if suf == ".onnx":
            return from_onnx.read_onnx(path)
        if suf == ".skops":
            return from_sklearn.convert(_skops(path))
        if suf in (".json", ".ubj"):
            return from_boosters.read_xgboost(path)
        if suf in (".txt", ".lgb", ".lightgbm"):
            return from_boosters.read_lightgbm(path)
        if suf in PICKLES:
            if not trust_pickle:
                raise ModelImportError(f"{path}: loading a pickle runs any code it holds; "
                                       f"save the model with skops (.skops) or pass "
                                       f"--trust-pickle if you trust this file")
            try:
                est = _pickle(path)
            except Exception as e:               # any unpickling failure
                raise ModelImportError(f"{path}: cannot unpickle ({type(e).__name__})") \
                    from None
            return _read(est, False)
    except OSError as e:
        raise ModelImportError(f"{path}: {e.strerror}") from None
    raise ModelImportError(f"{path}: unknown model file type {suf!r} (.onnx, .skops, "
                           f".json/.ubj XGBoost, .txt LightGBM, pickles with --trust-pickle)")
