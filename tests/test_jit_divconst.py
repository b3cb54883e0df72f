"""Division and remainder by an immediate on the x86-64 JIT, against exact arithmetic.

The JIT replaces DIV/SDIV/MOD/SMOD by an immediate with shifts and a multiply by a
reciprocal chosen at compile time (vm_kernel/core/rmt_jit.c, j_divmod_imm()), one sequence
per kind of divisor: 1, -1, powers of two (both signs), divisors whose reciprocal needs 65
bits and those whose reciprocal fits 64, and (unsigned) divisors >= 2^63, which is what a
negative immediate becomes when sign-extended.  Every one of those, and random divisors,
divides edge dividends (0, 1, 2^63 - 1, INT64_MIN, -1, multiples of the divisor and their
neighbours) and random ones; the quotients and remainders must be Python's exact integer
arithmetic under docs/semantics.md's rules (unsigned: the immediate sign-extended, then used
unsigned; signed: truncation toward zero, INT64_MIN / -1 = INT64_MIN, INT64_MIN % -1 = 0), and
the interpreter's.  The VM register holding the dividend is in an x86 register for some
divisors and in the stack frame for others, so both operand forms are checked.
"""
from __future__ import annotations

import random

import pytest

from rmt.compiler import asm
from rmt.contract import objfile
from rmt.contract.codec import ctx_encode
from rmt.contract.hooks import TEST_SANDBOX
from rmt.contract.objfile import Program, TraceField, TraceFmt
from rmt.vm import CEngine, load_lib

pytestmark = pytest.mark.skipif(not load_lib().lib.rmt_jit_supported(),
                                reason="this build of the C VM has no JIT (not x86-64)")

M64 = (1 << 64) - 1
INT64_MIN = -(1 << 63)
OPS = ("div", "mod", "sdiv", "smod")
# registers the dividend is copied into, used unevenly so that the JIT keeps some in x86
# registers (the nine most used) and the rest in its stack frame
DST_REGS = (3, 4, 5, 3, 4, 6, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15)


def _s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def expected(op: str, x: int, imm: int) -> int:
    """op r, imm on the 64-bit register value x (any int, taken mod 2^64), as a u64."""
    if op in ("div", "mod"):
        u, d = x & M64, imm & M64
        return (u // d if op == "div" else u % d) & M64
    a, b = _s64(x), imm
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return (q if op == "sdiv" else a - q * b) & M64


def edge_divisors() -> list[int]:
    out = {1, -1, 2, -2, 3, -3, 5, 6, 7, 10, 100, 125, 641, 1000, -1000, 1 << 30, -(1 << 30),
           (1 << 31) - 1, -(1 << 31), -(1 << 31) + 1, 0x7fff_fffe, 3 * 5 * 17 * 257}
    for k in range(1, 31):
        out |= {1 << k, -(1 << k), (1 << k) + 1, (1 << k) - 1, -(1 << k) - 1, -(1 << k) + 1}
    return sorted(d for d in out if d and -(1 << 31) <= d < (1 << 31))


def dividends(imm: int, rng: random.Random) -> list[int]:
    d = abs(imm)
    out = [0, 1, 2, M64, M64 - 1, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, d, d - 1, d + 1, -d,
           -d - 1, -d + 1, 2 * d, imm & M64, (imm & M64) - 1, (M64 // d) * d, (M64 // d) * d - 1]
    out += [((1 << 63) // d) * d + k for k in (-1, 0, 1)]
    out += [rng.getrandbits(64) for _ in range(8)]
    out += [rng.getrandbits(rng.randint(1, 63)) for _ in range(8)]
    return [x & M64 for x in out]


def program(divisors: list[int]) -> Program:
    """Per divisor k: the four ops on ctx.w, stored to scratch[32 k ..], one trace record."""
    lines = [f"ld64 r1, ctx[{TEST_SANDBOX.layout['w']}]"]
    n = 0
    for k, imm in enumerate(divisors):
        for j, op in enumerate(OPS):
            r = DST_REGS[n % len(DST_REGS)]
            n += 1
            lines += [f"mov r{r}, r1", f"{op} r{r}, {imm}", f"st64 scratch[{32 * k + 8 * j}], r{r}"]
        lines.append(f"trace 0, {32 * k}")
    lines += ["mov r0, 0", "exit r0"]
    fmt = TraceFmt("q", [TraceField(op, 64, False) for op in OPS])
    return Program("divconst", TEST_SANDBOX, asm.assemble("\n".join(lines)), 32 * len(divisors),
                   traces=[fmt])


def check(divisors: list[int], xs: list[int]) -> None:
    obj = objfile.write(program(divisors))
    jit, interp = CEngine(obj, jit=True), CEngine(obj, jit=False)
    assert jit.engine_kind == "jit"
    for x in xs:
        ctx = ctx_encode(TEST_SANDBOX, {"w": x})
        want = [tuple(expected(op, x, imm) for op in OPS) for imm in divisors]
        for eng in (jit, interp):
            assert eng.run(ctx).decision == 0
            got = [r.values for r in eng.trace_drain()]
            for imm, g, w in zip(divisors, got, want):
                assert g == w, (eng.engine_kind, hex(x), imm, dict(zip(OPS, g)), dict(zip(OPS, w)))


@pytest.mark.parametrize("chunk", range(8))
def test_edge_divisors(chunk: int) -> None:
    divs = edge_divisors()[chunk::8]
    rng = random.Random(chunk)
    xs = sorted({x for d in divs for x in dividends(d, rng)})
    check(divs, xs)


@pytest.mark.parametrize("seed", range(6))
def test_random_divisors(seed: int) -> None:
    rng = random.Random(1000 + seed)
    divs = []
    while len(divs) < 24:
        d = rng.choice([rng.randint(-(1 << 31), (1 << 31) - 1), rng.randint(-5000, 5000),
                        rng.randint(1, 1 << rng.randint(1, 31)) * rng.choice([1, -1])])
        d = max(min(d, (1 << 31) - 1), -(1 << 31))
        if d:
            divs.append(d)
    xs = sorted({x for d in divs for x in dividends(d, rng)})
    check(divs, xs)


def test_reference_oracle() -> None:
    """The oracle itself, on the rules docs/semantics.md spells out."""
    assert expected("sdiv", INT64_MIN, -1) == INT64_MIN & M64
    assert expected("smod", INT64_MIN, -1) == 0
    assert expected("sdiv", -7, 2) == -3 & M64 and expected("smod", -7, 2) == -1 & M64
    assert expected("div", 10, -1) == 0 and expected("mod", 10, -1) == 10
    assert expected("div", M64, -1) == 1 and expected("mod", M64, -2) == 1
