"""The stress programs and their inputs, built on the host (tests/kernel/test_kmod_stress.py,
tools/stress_kmod.py).

stress_sched.rmt and stress_swap.rmt count, per hook invocation, whether the table entry
they found was whole (both generation numbers equal, checksum right, the right key) and
whether the model answered with the old weights, the new ones, or a mix.  This module knows
their layout: the outcome counter indices, the parameter packing and checksum the C writer
(rmt_stress.c) uses, and the two weight versions.  `python stress_programs.py DIR` writes
the compiled objects and the blobs to DIR.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = {"sched": HERE / "stress_sched.rmt", "swap": HERE / "stress_swap.rmt"}

# map `outcome` indices (the comment in stress_sched.rmt)
OUTCOMES = ("good", "torn_gen", "bad_csum", "wrong_key", "miss", "model_old", "model_new",
            "model_mixed")
NKEYS = 64
N_IN, X = 8, 1024
OLD_BIAS, NEW_BIAS = (1, 2), (3, 4)
OLD_OUT = tuple(N_IN * 1 * X + b for b in OLD_BIAS)
NEW_OUT = tuple(N_IN * 2 * X + b for b in NEW_BIAS)

_M64 = (1 << 64) - 1
_FNV = 0x100000001B3


def checksum(gen: int, a: int, b: int, key: int) -> int:
    """The mix rmt_stress.c writes and the programs recompute (u64 wrap-around)."""
    h = gen
    for v in (a, b, key):
        h = ((h ^ v) * _FNV) & _M64
    return h ^ (h >> 29)


def entry_params(gen: int, key: int) -> list[int]:
    """(gen_lo, a, b, key, csum, gen_hi) as rmt_stress.c fills them for a write."""
    a = ((gen * 0x9E3779B97F4A7C15) & _M64) ^ key
    b = ((~gen & _M64) + (key << 40)) & _M64
    return [gen, a, b, key, checksum(gen, a, b, key), gen]


def pack(params: list[int]) -> bytes:
    return struct.pack("<6Q", *params)


# What the stress programs may fail, and only that: they export page bits on purpose (the
# swap table is keyed by ctx.page & 63 to spread the hooks' lookups over every entry, and the
# test reads the outcome counters with MAP_READ, which refuses private maps).  They are test
# fixtures in a scratch guest, inserted as `rmtctl insert --force` would: every safety
# obligation must still be proved.
EXPORT_ONLY = ("ChannelExportable", "MapExportable", "TraceExportable")


def compile_program(hook: str) -> bytes:
    """The object of stress_<hook>.rmt; the verifier must prove every obligation but the
    export rules (EXPORT_ONLY)."""
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    from rmt import verifier
    src = PROGRAMS[hook]
    prog = compile_source(src.read_text(), str(src))
    report = verifier.verify(prog)
    failed = report.failures
    if any(type(r.obligation).__name__ not in EXPORT_ONLY for r in failed):
        raise RuntimeError(f"the verifier rejects {src.name}: "
                           f"{[str(r.obligation) for r in failed]}")
    return objfile.write(prog)


def weights(version: str) -> bytes:
    """Old: all weights 1, biases (1, 2); new: all weights 2, biases (3, 4).

    On the constant input X every output is N_IN * w * X + bias, so a mix of the two
    versions (some weights or biases from each) gives an output that is neither."""
    from rmt.contract.objformat import ModelKind
    from rmt.contract import weights as W
    w, bias = (1, OLD_BIAS) if version == "old" else (2, NEW_BIAS)
    layer = W.DenseLayer([[w] * N_IN for _ in bias], list(bias), 0, False)
    return W.write_weights(W.mlp([layer], weight_bits=8, kind=ModelKind.LINEAR))


def write_inputs(dst: Path) -> dict[str, Path]:
    """Objects and blobs into `dst`; returns their paths by name."""
    dst.mkdir(parents=True, exist_ok=True)
    out = {}
    for hook in PROGRAMS:
        out[hook] = dst / f"stress_{hook}.rmtb"
        out[hook].write_bytes(compile_program(hook))
    for version in ("old", "new"):
        out[version] = dst / f"weights_{version}.bin"
        out[version].write_bytes(weights(version))
    return out


if __name__ == "__main__":
    for name, path in write_inputs(Path(sys.argv[1])).items():
        print(name, path)
