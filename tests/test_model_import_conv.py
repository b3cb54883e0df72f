"""rmtc model import of ONNX 1-D convolutions into an mlp that declares conv1d layers
(docs/models.md, "1-D convolutions").

Small ONNX graphs are built by hand (seeded random weights): Conv (+ Relu) on an input
[N, in_ch, T], Flatten, Gemm layers.  Each is imported for a program declaring the same
layers, run in the C VM on the calibration inputs (the program's time-major layout), and
the VM must equal the importer's integer emulation bit for bit and agree with onnxruntime
on the decision for >= 99.5% of the rows.  Refusals: stride, padding, a kernel or a
channel count other than declared, a Conv for a program declaring only dense layers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import model_import_vm as V  # noqa: E402
from rmt.model_import import ModelImportError, from_onnx, import_model  # noqa: E402
from rmt.semantics import models as S  # noqa: E402

RATE = 0.995
FRAC = 6                    # the float model sees x / 2^6
ROOT = Path(__file__).resolve().parents[1]


def conv_onnx(path: Path, convs: list[tuple[int, int]], dense: list[int], *, t: int = V.N_IN,
              seed: int = 0, sigmoid: bool = True, flatten: bool = True,
              **conv_attrs: Any) -> Path:
    """X [N, 1, t] -> (Conv(channels, kernel) -> Relu)* -> Flatten -> (Gemm -> Relu)* -> Gemm
    [-> Sigmoid]; conv_attrs go to every Conv."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    cur, ch, steps = "X", 1, t

    def init(name: str, a: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name
    for j, (c, k) in enumerate(convs):
        w = init(f"cw{j}", rng.normal(0, 1 / np.sqrt(ch * k), (c, ch, k)))
        b = init(f"cb{j}", rng.normal(0, 0.2, c))
        nodes.append(helper.make_node("Conv", [cur, w, b], [f"c{j}"], name=f"conv{j}",
                                      **conv_attrs))
        nodes.append(helper.make_node("Relu", [f"c{j}"], [f"cr{j}"]))
        cur, ch, steps = f"cr{j}", c, steps - k + 1
    if flatten:
        nodes.append(helper.make_node("Flatten", [cur], ["flat"], axis=1))
        cur = "flat"
    n = ch * steps
    for j, m in enumerate(dense):
        last = j + 1 == len(dense)
        w = init(f"dw{j}", rng.normal(0, 1 / np.sqrt(n), (m, n)))
        b = init(f"db{j}", rng.normal(0, 0.2, m))
        nodes.append(helper.make_node("Gemm", [cur, w, b], [f"g{j}"], transB=1))
        cur = f"g{j}"
        if not last:
            nodes.append(helper.make_node("Relu", [cur], [f"gr{j}"]))
            cur = f"gr{j}"
        n = m
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", [cur], ["p"]))
        cur = "p"
    graph = helper.make_graph(
        nodes, "conv", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 1, t])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [None, dense[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def ort_scores(path: Path, x: np.ndarray, in_ch: int = 1) -> np.ndarray:
    """onnxruntime on the program's time-major rows x[t*in_ch + c] -> ONNX's [N, in_ch, T]."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts)
    xf = (x / 2.0 ** FRAC).reshape(len(x), -1, in_ch).transpose(0, 2, 1)
    return sess.run(None, {"X": xf.astype(np.float32)})[0]


def inputs(n: int = 400, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(V.LO, V.HI + 1, (n, V.N_IN))


def decl(convs: list[tuple[int, int]], dense: list[int]) -> str:
    body = "".join(f"conv1d(channels = {c}, kernel = {k}, relu); " for c, k in convs)
    body += "".join(f"dense({m}{', relu' if j + 1 < len(dense) else ''}); "
                    for j, m in enumerate(dense))
    return f"mlp(weight = i16, max_weight = 4096) {{ {body}}}"


def agreement(path: Path, res: Any, vm: np.ndarray, x: np.ndarray) -> float:
    """Share of rows where the VM's decision (sign) equals onnxruntime's (p > 0.5)."""
    p = ort_scores(path, x)
    return float(np.mean((vm[:, 0] > 0) == (p[:, 0] > 0.5)))


@pytest.mark.parametrize("convs,dense", [([(3, 2)], [6, 1]), ([(3, 2), (2, 2)], [5, 1])],
                         ids=["one-conv", "two-convs"])
def test_conv_mlp_in_the_vm(convs: list[tuple[int, int]], dense: list[int],
                            tmp_path: Path) -> None:
    path = conv_onnx(tmp_path / "m.onnx", convs, dense)
    prog = V.program(decl(convs, dense), 1)
    x = inputs()
    res = import_model(path, prog, "m", x, in_frac=FRAC)
    assert res.report.refused is None and res.report.agreement >= RATE, res.report
    assert res.report.kind == "mlp" and res.report.task == "binary"
    vm = V.run(prog, res.blob, x)
    assert vm.shape == (len(x), 1)
    assert np.array_equal(vm, res.emulate(x, prog.models[0])), "VM != importer emulation"
    assert agreement(path, res, vm, x) >= RATE
    # and the score itself: the VM's output is onnxruntime's logit times 2^out_frac
    p = np.clip(ort_scores(path, x)[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    logit = np.log(p / (1 - p))
    err = np.abs(vm[:, 0] / 2.0 ** res.report.out_frac - logit)
    assert np.median(err) < 0.05 * np.ptp(logit), "VM scores are not the model's"


def test_flatten_permutation_is_what_makes_it_agree(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without reordering the first Gemm's columns (ONNX's Flatten is channel-major, the
    VM's conv output time-major) the same model disagrees with onnxruntime: the layout test
    above can fail."""
    path = conv_onnx(tmp_path / "m.onnx", [(3, 2)], [6, 1])
    prog = V.program(decl([(3, 2)], [6, 1]), 1)
    x = inputs()
    monkeypatch.setattr(from_onnx, "conv_columns", lambda w, ch, where: w)
    res = import_model(path, prog, "m", x, in_frac=FRAC, force=True)
    vm = V.run(prog, res.blob, x)
    assert agreement(path, res, vm, x) < RATE


def test_example_program_emulation_is_the_reference_semantics(tmp_path: Path) -> None:
    """examples/small/conv_mlp.rmt (in = 8, conv1d(4, 3), dense 8, 1): the importer's
    emulation equals semantics.models.infer bit for bit, and the float model agrees."""
    path = conv_onnx(tmp_path / "stride.onnx", [(4, 3)], [8, 1], t=8, sigmoid=False, seed=3)
    prog_path = ROOT / "examples/small/conv_mlp.rmt"
    x = np.random.default_rng(2).integers(-4096, 4097, (300, 8))
    res = import_model(path, prog_path, "stride", x, in_frac=9)
    assert res.report.task == "regression" and res.report.agreement >= RATE, res.report
    m = res.float_model
    assert m.n_in == 8
    from rmt.compiler import compile_source
    sig = compile_source(prog_path.read_text(), str(prog_path)).models[0]
    emu = res.emulate(x, sig)
    ref = np.array([S.infer(res.weights, [int(v) for v in row], (sig.in_lo, sig.in_hi))[0]
                    for row in x])
    assert np.array_equal(emu, ref)


_refused = V.refused


def test_refusals_name_attribute_and_both_sides(tmp_path: Path) -> None:
    x = inputs(50)
    prog = V.program(decl([(3, 2)], [6, 1]), 1)
    _refused(r"strides = \[2\]", conv_onnx(tmp_path / "s.onnx", [(3, 2)], [6, 1], t=5,
                                            strides=[2]), prog, "m", x, in_frac=FRAC)
    _refused(r"pads = \[1, 1\]", conv_onnx(tmp_path / "p.onnx", [(3, 2)], [6, 1], t=2,
                                            pads=[1, 1]), prog, "m", x, in_frac=FRAC)
    _refused(r"dilations = \[2\]", conv_onnx(tmp_path / "d.onnx", [(3, 2)], [6, 1], t=5,
                                              dilations=[2]), prog, "m", x, in_frac=FRAC)
    msg = _refused("kernel 3", conv_onnx(tmp_path / "k.onnx", [(3, 3)], [6, 1], t=5),
                   prog, "m", x, in_frac=FRAC)
    assert "conv1d(channels = 3, kernel = 2)" in msg
    msg = _refused("4 channels", conv_onnx(tmp_path / "c.onnx", [(4, 2)], [6, 1]),
                   prog, "m", x, in_frac=FRAC)
    assert "conv1d(channels = 3, kernel = 2)" in msg
    dense_only = V.program("mlp(weight = i16) { dense(6, relu); dense(1); }", 1)
    msg = _refused("1-D convolution", conv_onnx(tmp_path / "ok.onnx", [(3, 2)], [6, 1]),
                   dense_only, "m", x, in_frac=FRAC)
    assert "declares 0 (none)" in msg
    _refused("group = 3", conv_onnx(tmp_path / "g.onnx", [(3, 2)], [6, 1], group=3),
             prog, "m", x, in_frac=FRAC)
    _refused("follows a Conv without a Flatten", conv_onnx(tmp_path / "f.onnx", [(3, 2)],
                                                           [6, 1], flatten=False),
             prog, "m", x, in_frac=FRAC)
    _refused("has 4 layers, mlp model 'm' declares 3", conv_onnx(tmp_path / "dd.onnx", [(3, 2)], [6, 6, 1]),
             prog, "m", x, in_frac=FRAC)
