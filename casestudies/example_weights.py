"""Placeholder weights for every model a compiled program declares.

    .venv/bin/rmt-example-weights PROG.rmtb [-o DIR]

writes DIR/MODEL.bin (default: the current directory) for each `model` in the
object, built with rmt.contract.weights (`write_weights`) in the shape the
declaration asks for: all-zero dense and conv1d layers for mlp/linear models, a
single zero leaf per tree for tree/forest models.  They load (`rmtctl model load`)
and pass the verifier's model checks, so the documented sessions run from a
clean clone; they predict nothing.  Real weights come from training
(`make demo`, casestudies/forced_migration_loop.py, learn/quantize.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


from rmt.contract import objfile  # noqa: E402
from rmt.contract.objformat import Activation, LayerKind, ModelKind  # noqa: E402
from rmt.contract import weights as W  # noqa: E402


def zero_weights(m: objfile.Model) -> bytes:
    """Zero weights of the declared shape for one model, as a weights blob."""
    if m.kind in (ModelKind.TREE, ModelKind.FOREST):
        trees = [W.Tree([W.Node(-1, 0, 0, 0, 0)], [[0] * m.n_out])
                 for _ in range(max(1, m.trees))]
        return W.write_weights(W.forest(trees, m.n_in, kind=m.kind, weight_bits=m.weight_bits))
    layers: list[W.Layer] = []
    for lay in m.layers:
        relu = lay.act == Activation.RELU
        if lay.kind == LayerKind.CONV1D:
            layers.append(W.Conv1dLayer([[[0] * lay.kernel for _ in range(lay.in_ch)]
                                         for _ in range(lay.out_ch)], [0] * lay.out_ch,
                                        lay.n_in, 0, relu))
        else:
            layers.append(W.DenseLayer([[0] * lay.n_in for _ in range(lay.n_out)],
                                       [0] * lay.n_out, 0, relu))
    if not layers:                                   # a linear model: one dense layer
        layers = [W.DenseLayer([[0] * m.n_in for _ in range(m.n_out)], [0] * m.n_out)]
    return W.write_weights(W.mlp(layers, m.weight_bits, kind=m.kind))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("object")
    p.add_argument("-o", "--out", default=".", help="directory for MODEL.bin (default .)")
    a = p.parse_args(argv)
    try:
        prog = objfile.read(Path(a.object).read_bytes())
    except (OSError, objfile.ObjError) as e:
        print(f"example_weights: {a.object}: {e}", file=sys.stderr)
        return 1
    out = Path(a.out)
    for m in prog.models:
        path = out / f"{m.name}.bin"
        try:
            path.write_bytes(zero_weights(m))
        except OSError as e:
            print(f"example_weights: {path}: {e.strerror}", file=sys.stderr)
            return 1
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
