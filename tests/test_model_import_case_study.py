"""The mechanism of casestudies/forced_migration_sklearn.py (`make forced-migration-sklearn`) in
seconds: its scikit-learn models trained on forced-migration-shaped features, exported by its
ONNX step, imported for examples/forced_migration.rmt's two models; the fixed-point decisions
agree with onnxruntime's.  The full run (simulated traces, C VM, rmt.ko) is the make target."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parent.parent

from rmt.casestudies import forced_migration_sklearn as fsk  # noqa: E402
from rmt.compiler import compile_source  # noqa: E402
from rmt.learn import features  # noqa: E402
from rmt.model_import import import_model  # noqa: E402
from test_learn import synthetic  # noqa: E402


@pytest.mark.filterwarnings("ignore")
def test_sklearn_onnx_import_chain(tmp_path: Path) -> None:
    prog = compile_source((ROOT / "examples" / "forced_migration.rmt").read_text(), "fm")
    x, y = synthetic(3000, 11)
    tr = features.Dataset(x, y[:, 0], y[:, 1], np.zeros((len(x), 4), np.int64))
    net, tree = fsk.train(tr, seed=0, quick=True)
    fsk.export(net, x / features.FIX, tmp_path / "predictor.onnx")
    fsk.export(tree, x.astype(np.float64), tmp_path / "tree_predictor.onnx")
    xt, _ = synthetic(1500, 12)
    for name, frac, cut in (("predictor", 8, 0.5), ("tree_predictor", 0, 0.0)):
        res = import_model(tmp_path / f"{name}.onnx", prog, name, xt, in_frac=frac)
        assert res.report.agreement >= 0.995, res.report
        model = next(m for m in prog.models if m.name == name)
        vm = res.emulate(xt, model) > 0
        want = fsk.ort_scores(tmp_path / f"{name}.onnx", xt / 2.0 ** frac) > cut
        assert np.mean(np.all(vm == want, axis=1)) >= 0.995
