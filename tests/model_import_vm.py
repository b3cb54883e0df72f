"""Run an imported model in the C VM on integer inputs (tests/test_model_import*.py).

The program reads four inputs from test.sandbox's context (x, y, sarr[0], sarr[1]; the
declared input range -1000..1000 is theirs), calls the model and traces its outputs."""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

from rmt.compiler import compile_source
from rmt.contract.objfile import Program
from rmt.contract.hooks import HOOKS
from rmt.vm import CEngine

N_IN = 4
LO, HI = -1000, 1000
HOOK = HOOKS["test.sandbox"]


def program(decl: str, n_out: int) -> Program:
    """decl: the model's kind, arguments and body after `model m: `, without in/out/input."""
    kind, rest = decl.split("(", 1)
    rest = rest if rest.lstrip().startswith(")") else ", " + rest
    outs = ", ".join(f"y[{j}]" for j in range(n_out))
    src = f"""hook test.sandbox;
model m: {kind}(in = {N_IN}, out = {n_out}, input = {LO}..{HI}{rest}
apply {{
    let x: i32[{N_IN}];
    x[0] = ctx.x;
    x[1] = ctx.y;
    x[2] = max(min(ctx.sarr[0] as i32, {HI}), {LO});
    x[3] = max(min(ctx.sarr[1] as i32, {HI}), {LO});
    let y = m(x);
    trace({outs});
    decide(LOW);
}}
"""
    return compile_source(src, "<model_import test>")


def _ctx(row: np.ndarray) -> bytes:
    buf = bytearray(HOOK.ctx_size)
    struct.pack_into("<ii", buf, 8, int(row[0]), int(row[1]))
    struct.pack_into("<hh", buf, 68, int(row[2]), int(row[3]))
    return bytes(buf)


def run(prog: Program, blob: bytes, x: np.ndarray) -> np.ndarray:
    """The model's outputs as the C VM computes them, one row per input row."""
    eng = CEngine(prog, trace_capacity=1 << max(6, int(len(x)).bit_length()))
    try:
        eng.model_load(0, blob)
        for row in x:
            eng.run(_ctx(row))
        recs = eng.trace_drain()
    finally:
        eng.close()
    vals = np.array([[v & 0xFFFFFFFF for v in r.values] for r in recs], dtype=np.int64)
    return np.where(vals >= 1 << 31, vals - (1 << 32), vals)


def refused(match: str, *args: Any, **kw: Any) -> str:
    """import_model(*args, **kw) is refused with one line matching MATCH; the message."""
    import pytest

    from rmt.model_import import ModelImportError, import_model
    with pytest.raises(ModelImportError, match=match) as e:
        import_model(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg
