"""import_model: a model from the ecosystem -> a weights blob for a declared model, and a
report of how well the fixed-point model agrees with the float one (docs/models.md)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rmt.contract import objfile
from rmt.contract.objfile import Model, Program
from rmt.contract.objformat import ModelKind
from rmt.model_import import calibration, fixed, sources
from rmt.model_import.ir import FloatNet, FloatTrees, ModelImportError
from rmt.contract import weights as W

DEFAULT_MIN_AGREEMENT = 0.995


@dataclass
class Report:
    source: str                   # what was read
    model: str                    # the program's model name
    kind: str                     # tree, forest, linear, mlp
    task: str                     # binary, multiclass, multilabel, regression
    in_frac: int
    out_frac: int                 # VM outputs = float score * 2^out_frac
    rows: int = 0                 # calibration rows compared
    agreement: float | None = None   # share of rows whose decisions agree
    max_error: float | None = None   # max |fixed / 2^out_frac - float score|
    saturations: int = 0
    refused: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.source} -> {self.kind} model {self.model!r} ({self.task}), "
                 f"outputs = score * 2^{self.out_frac}"]
        if self.agreement is not None:
            lines.append(f"calibration: {self.rows} rows, decisions agree on "
                         f"{100 * self.agreement:.2f}%, max output error {self.max_error:.4g}, "
                         f"{self.saturations} saturations")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class Imported:
    blob: bytes
    report: Report
    weights: W.ModelWeights
    float_model: FloatNet | FloatTrees

    def emulate(self, x: np.ndarray, model: Model) -> np.ndarray:
        """The VM's integer outputs on integer inputs x (the importer's emulation)."""
        return fixed.emulate(self.weights, x, model)[0]


def _program(program: Program | str | Path) -> Program:
    if isinstance(program, Program):
        return program
    path = Path(program)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelImportError(f"cannot read program {path}: {e.strerror}") from None
    if path.suffix == ".rmt":
        from rmt.compiler.driver import CompileError, compile_source
        try:
            return compile_source(data.decode(), str(path))
        except (CompileError, UnicodeDecodeError) as e:
            raise ModelImportError(f"{path}: does not compile: {str(e).splitlines()[0]}") \
                from None
    try:
        return objfile.read(data)
    except objfile.ObjError as e:
        raise ModelImportError(f"{path}: malformed object: {e}") from None


def _agreement(fm: FloatNet | FloatTrees, w: W.ModelWeights, m: Model, x: np.ndarray,
               in_frac: int, out_frac: int) -> tuple[float, float, int]:
    want = fm.score(x / 2.0 ** in_frac)
    got_int, sat = fixed.emulate(w, x, m)
    got = got_int / 2.0 ** out_frac
    err = float(np.max(np.abs(got - want))) if len(x) else 0.0
    if fm.task.kind == "regression":
        tol = 0.01 * float(np.ptp(want)) + 2.0 ** -out_frac
        same = np.all(np.abs(got - want) <= tol, axis=1)
    else:
        same = np.all(fm.task.decide(got) == fm.task.decide(want), axis=1)
    return float(np.mean(same)) if len(x) else 1.0, err, sat


def import_model(source: Any, program: Program | str | Path, model_name: str,
                 calibration_data: np.ndarray | str | Path | None = None, *,
                 in_frac: int = 0, out_frac: int | None = None,
                 min_agreement: float = DEFAULT_MIN_AGREEMENT, force: bool = False,
                 trust_pickle: bool = False) -> Imported:
    """Import `source` (a fitted scikit-learn estimator, or a .onnx/.skops/XGBoost/LightGBM
    file) as the weights of model `model_name` of `program` (a Program, .rmtb or .rmt).

    The model was trained on x / 2^in_frac where x are the program's integer model inputs;
    `calibration_data` holds such x (array [n, in], or an .npz, CSV or `rmtctl trace` file).
    Raises ModelImportError when the model does not fit the signature, or when decisions on
    the calibration data agree less than `min_agreement` (unless `force`)."""
    prog = _program(program)
    models = {m.name: m for m in prog.models}
    if model_name not in models:
        raise ModelImportError(f"program {prog.name!r} has no model {model_name!r} "
                               f"(it has: {', '.join(models) or 'none'})")
    m = models[model_name]
    fm = sources.read(source, trust_pickle=trust_pickle)
    src = str(source) if isinstance(source, (str, Path)) else fm.task.source
    x = None
    if calibration_data is not None:
        raw = calibration_data if isinstance(calibration_data, np.ndarray) else \
            calibration.load(calibration_data, m.n_in)
        if raw.ndim != 2 or raw.shape[1] != m.n_in:
            raise ModelImportError(f"calibration data has shape {raw.shape}, model "
                                   f"{model_name!r} takes {m.n_in} inputs")
        x = calibration.check_integers(np.asarray(raw, np.float64), m.in_lo, m.in_hi,
                                       "calibration data", isinstance(fm, FloatTrees))
    fx = fixed.quantize(fm, m, in_frac, x, out_frac)
    rep = Report(src, model_name, W.kind_name(m.kind), fm.task.kind, in_frac, fx.out_frac,
                 notes=fx.notes)
    if m.kind == ModelKind.FOREST and len(getattr(fm, "trees", [])) < m.trees:
        rep.notes.append(f"{len(fm.trees)} trees padded to the declared {m.trees} with "
                         f"zero trees")
    if x is not None:
        rep.rows = len(x)
        rep.agreement, rep.max_error, rep.saturations = _agreement(
            fm, fx.weights, m, x, in_frac, fx.out_frac)
        if rep.agreement < min_agreement:
            rep.refused = (f"decisions agree on {100 * rep.agreement:.2f}% of the "
                           f"{len(x)} calibration rows, below the required "
                           f"{100 * min_agreement:.2f}%")
    else:
        rep.refused = "no calibration data: agreement not measured"
    if rep.refused and not force:
        raise ModelImportError(f"{rep.refused} (--force to write the weights anyway)")
    return Imported(W.write_weights(fx.weights), rep, fx.weights, fm)
