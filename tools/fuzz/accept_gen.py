"""Random programs built to pass the verifier, for its soundness oracle.

tests/progen.py makes programs that exercise every path of the engines, so
most of them abort at run time and its model declares the whole int32 input
range: the verifier rejects nearly all of them, and an oracle that only
checks *accepted* programs learns little from it.  This generator composes
programs from snippets that are safe by construction, the way the compiler's
output is: registers and scratch initialised up front, indexed accesses and
map keys masked to their bounds, divisors and helper arguments that cannot
be 0, shifts below 64, model inputs taken from context fields whose declared
range lies inside the model's, decisions clamped into the hook's range -
combined with forward jumps over snippets, tables, models (linear, MLP with a
hidden ReLU layer, conv1d, a tree or forest), maps, trace and helpers.  Most programs are
accepted; the oracle (tests/test_fuzz_verifier.py, tools/fuzz/verifier_fuzz.py)
then runs the accepted ones on random in-range contexts in every engine.
"""
from __future__ import annotations

import random

from rmt.contract.isa import Insn, Region, insn, mem_imm
from rmt.contract.objfile import (Action, Key, Layer, Map, Model, Param, Program, Table,
                              TraceField, TraceFmt)
from rmt.contract.objformat import Activation, LayerKind, MapKind, MatchKind, ModelKind
from rmt.contract.hooks import TEST_SANDBOX

HOOK = TEST_SANDBOX
SCRATCH = 64
NREGS = 8           # r0..r7 are used (and initialised); r8 is a temporary
TMP = 8
# Readable fields and their declared ranges (never `secret`: it may not be traced).
SMALL_FIELDS = {"a": (4, False), "b": (4, False), "x": (4, True), "y": (4, True),
                "small": (1, False)}
WIDE_FIELDS = {"w": 8, "s": 8}
_ALU_SAFE = ["ADD", "SUB", "MUL", "AND", "OR", "XOR", "MOV"]
_JMP = ["JEQ", "JNE", "JLT", "JLE", "JGT", "JGE", "JSLT", "JSLE", "JSGT", "JSGE", "JSET"]
LOADS = {(1, False): "LDU8", (2, False): "LDU16", (4, False): "LDU32", (8, False): "LD64",
         (1, True): "LDS8", (2, True): "LDS16", (4, True): "LDS32", (8, True): "LD64"}


def schema(rng: random.Random) -> dict:
    """Declarations: a table, models whose input range covers x, y and a, maps, a trace."""
    lo, hi = -rng.choice([1000, 1024, 4096]), rng.choice([1000, 1023, 4096])
    wb = rng.choice([8, 16])
    maxw = rng.choice([0, 100, 127]) if wb == 8 else rng.choice([300, 1000])
    models = [
        Model("lin", ModelKind.LINEAR, 2, 1, wb, [Layer(LayerKind.DENSE, Activation.NONE, 2, 1)],
              in_lo=lo, in_hi=hi, max_abs_weight=maxw),
        Model("mlp", ModelKind.MLP, 3, 2, 8,
              [Layer(LayerKind.DENSE, Activation.RELU, 3, 4),
               Layer(LayerKind.DENSE, Activation.NONE, 4, 2)],
              in_lo=lo, in_hi=hi, max_abs_weight=rng.choice([0, 64])),
        Model("conv", ModelKind.MLP, 4, 3, 8,
              [Layer(LayerKind.CONV1D, Activation.RELU, 4, 3, in_ch=1, out_ch=1, kernel=2)],
              in_lo=lo, in_hi=hi),
        Model("forest", rng.choice([ModelKind.FOREST, ModelKind.TREE]), 3, 2, 16,
              trees=0, depth=rng.randint(1, 4), in_lo=lo, in_hi=hi),
    ]
    if models[-1].kind == ModelKind.FOREST:
        models[-1].trees = rng.randint(1, 3)
    keys = [Key("k", rng.choice(list(MatchKind)), rng.choice([8, 16, 32])),
            Key("m", rng.choice([MatchKind.EXACT, MatchKind.TERNARY, MatchKind.RANGE]), 8)]
    if sum(k.kind == MatchKind.LPM for k in keys) > 1:
        keys[1] = Key("m", MatchKind.EXACT, 8)
    tables = [Table("t0", keys, [Action("set", [Param("v", 0, 8, False)]), Action("nop")],
                    16, rng.randrange(2), b"\x05")]
    maps = [Map("arr", MapKind.ARRAY, 32, 32, 32), Map("h", MapKind.HASH, 16, 32, 8),
            Map("cnt", MapKind.COUNTER, 32, 64, 4, percpu=rng.random() < 0.5)]
    traces = [TraceFmt("tr", [TraceField("a", 64, False), TraceField("b", 32, True)])]
    return dict(tables=tables, models=models, maps=maps, traces=traces)


class _Gen:
    def __init__(self, rng: random.Random, decls: dict, risk: float):
        self.rng = rng
        self.decls = decls
        self.risk = risk        # chance that a guard is one bit too weak

    def risky(self) -> bool:
        return self.rng.random() < self.risk

    def reg(self) -> int:
        return self.rng.randrange(NREGS)

    def imm(self) -> int:
        r = self.rng
        return r.choice([0, 1, 2, 3, 7, 8, 100, 255, -1, -128, 0x7fffffff]) \
            if r.random() < 0.7 else r.randrange(-(1 << 31), 1 << 31)

    def load_field(self, dst: int) -> list[Insn]:
        r = self.rng
        if r.random() < 0.8:
            name = r.choice(list(SMALL_FIELDS))
            size, signed = SMALL_FIELDS[name]
        else:
            name, size, signed = r.choice(list(WIDE_FIELDS)), 8, False
        return [insn(LOADS[size, signed], dst, 0, HOOK.layout[name], mem_imm(Region.CTX))]

    def snippet(self) -> list[Insn]:
        r = self.rng
        k = r.random()
        d, s = self.reg(), self.reg()
        if k < 0.15:
            return self.load_field(d)
        if k < 0.30:
            op = r.choice(_ALU_SAFE)
            if r.random() < 0.5:
                return [insn(op + "_R", d, s)]
            return [insn(op + "_I", d, imm=self.imm())]
        if k < 0.36:       # shifts and divisions that cannot fail
            c = r.random()
            if c < 0.4:
                return [insn(r.choice(["SHL", "SHR", "SAR"]) + "_I", d, imm=r.randrange(64))]
            if c < 0.6:    # a register shift amount masked below 64
                return [insn("MOV_R", TMP, s), insn("AND_I", TMP, imm=127 if self.risky() else 63),
                        insn(r.choice(["SHL", "SHR", "SAR"]) + "_R", d, TMP)]
            if c < 0.8:
                return [insn(r.choice(["DIV", "MOD", "SDIV", "SMOD"]) + "_I", d,
                             imm=r.choice([1, 3, 7, -5, 1000]))]
            # divide by a register proven nonzero: OR 1
            return [insn("MOV_R", TMP, s), insn("OR_I", TMP, imm=0 if self.risky() else 1),
                    insn(r.choice(["DIV", "MOD", "SDIV", "SMOD"]) + "_R", d, TMP)]
        if k < 0.44:       # scratch store / load at constant offsets
            size = r.choice([1, 2, 4, 8])
            off = r.randrange(0, SCRATCH - size + 1)
            if r.random() < 0.5:
                return [insn({1: "ST8", 2: "ST16", 4: "ST32", 8: "ST64"}[size], d, 0, off,
                             mem_imm(Region.SCRATCH))]
            return [insn(LOADS[size, r.random() < 0.5], d, 0, off, mem_imm(Region.SCRATCH))]
        if k < 0.52:       # indexed: ctx.arr[i] / ctx.sarr[i] / scratch[i], index masked
            which = r.choice(["arr", "sarr", "scratch"])
            if which == "arr":
                base, limit, mask = HOOK.layout["arr"], 32, 15 if self.risky() else 7
                return [insn("MOV_R", TMP, s), insn("AND_I", TMP, imm=mask), insn("SHL_I", TMP, imm=2),
                        insn("LDU32", d, TMP, base, mem_imm(Region.CTX, 0, limit))]
            if which == "sarr":
                base = HOOK.layout["sarr"]
                return [insn("MOV_R", TMP, s), insn("AND_I", TMP, imm=3), insn("SHL_I", TMP, imm=1),
                        insn("LDS16", d, TMP, base, mem_imm(Region.CTX, 0, 8))]
            return [insn("MOV_R", TMP, s), insn("AND_I", TMP, imm=31),
                    insn(r.choice(["LDU8", "LD64", "ST8", "ST64"]), d, TMP, 0,
                         mem_imm(Region.SCRATCH, 0, 40))]
        if k < 0.58:       # writable context fields
            if r.random() < 0.5:
                return [insn("ST32", d, 0, HOOK.layout["out"], mem_imm(Region.CTX))]
            return [insn("MOV_R", TMP, s), insn("AND_I", TMP, imm=3), insn("SHL_I", TMP, imm=2),
                    insn("ST32", d, TMP, HOOK.layout["outs"], mem_imm(Region.CTX, 0, 16))]
        if k < 0.66:       # APPLY on keys written at scratch[off..off+16), then a parameter
            off = r.randrange(0, SCRATCH - 16 + 1, 8)
            return [insn("ST64", s, 0, off, mem_imm(Region.SCRATCH)),
                    insn("APPLY", d, off=off, imm=0),
                    insn("LDU8", self.reg(), 0, 0, mem_imm(Region.PARAMS, 0))]
        if k < 0.76:
            return self.model()
        if k < 0.86:       # maps: array/counter keys masked, hash keys anything
            m = r.randrange(3)
            code = [insn("MOV_R", TMP, s)]
            if m != 1:
                code.append(insn("AND_I", TMP, imm=(31 if m == 0 else 3) * (2 if self.risky() else 1)))
            c = r.choice(["MAP_LD", "MAP_ST", "MAP_ADD"])
            if c == "MAP_LD":
                return code + [insn(c, d, TMP, imm=m)]
            return code + [insn(c, TMP, d, imm=m)]
        if k < 0.91:
            return [insn("TRACE", off=r.randrange(0, SCRATCH - 16 + 1), imm=0)]
        if k < 0.96:       # helpers; ilog2/random with an argument that is never 0
            h = r.choice([1, 2, 3, 4])
            if h in (3, 4):
                return [insn("MOV_R", TMP, s), insn("OR_I", TMP, imm=1), insn("CALL", d, TMP, imm=h)]
            return [insn("CALL", d, 0, imm=h)]
        c = r.random()
        if c < 0.35:
            return [insn("NEG", d)]
        if c < 0.5:        # a 64-bit constant: LDHI sets the high half
            return [insn("LDHI", d, imm=self.imm())]
        return [insn(r.choice(["ZEXT", "SEXT"]), d, imm=r.choice([8, 16, 32]))]

    def model(self) -> list[Insn]:
        """Fill MIN(m) from in-range fields, call, read an output."""
        r = self.rng
        m = r.randrange(len(self.decls["models"]))
        mod = self.decls["models"][m]
        code = []
        for i in range(mod.n_in):
            src = r.choice(["x", "y", "a", "b", "small"] + (["w"] if self.risky() else []))
            size, signed = SMALL_FIELDS.get(src, (8, False))
            code += [insn(LOADS[size, signed], TMP, 0, HOOK.layout[src], mem_imm(Region.CTX)),
                     insn("ST32", TMP, 0, 4 * i, mem_imm(Region.MIN, m))]
        code.append(insn("CALLM", imm=m))
        code.append(insn("LDS32", self.reg(), 0, 4 * r.randrange(mod.n_out), mem_imm(Region.MOUT, m)))
        return code

    def program(self) -> list[Insn]:
        r = self.rng
        code = [insn("MOV_I", i, imm=0) for i in range(NREGS + 1)]
        code += [insn("ST64", 0, 0, off, mem_imm(Region.SCRATCH)) for off in range(0, SCRATCH, 8)]
        for _ in range(r.randint(1, 14)):
            snip = self.snippet()
            if r.random() < 0.25:      # jump over it (forward, lands inside the program)
                j = r.choice(_JMP + ["JA"])
                if j == "JA":
                    code.append(insn("JA", off=len(snip)))
                else:
                    code.append(insn(j + "_I", self.reg(), off=len(snip), imm=self.imm())
                                if r.random() < 0.5 else
                                insn(j + "_R", self.reg(), self.reg(), len(snip)))
            code += snip
        d = self.reg()
        c = r.random()
        if c < 0.4:
            code += [insn("AND_I", d, imm=r.choice([63, 3, 100])), insn("EXIT", src=d)]
        elif c < 0.8:      # clamp to [0, 100]: unsigned compare catches negatives too
            code += [insn("JSLE_I" if self.risky() else "JLE_I", d, off=1, imm=100), insn("MOV_I", d, imm=100),
                     insn("EXIT", src=d)]
        else:
            code += [insn("MOV_I", d, imm=r.choice([-1, 0, 50, 100])), insn("EXIT", src=d)]
        return code


def gen_accept_program(rng: random.Random, risk: float = 0.0) -> Program:
    """One program meant to be accepted.  risk > 0 weakens that share of the guards
    (a mask one bit too wide, a divisor that may be 0, a signed clamp, an unbounded
    model input), so the verifier must also reject, and predict the aborts it allows."""
    decls = schema(rng)
    return Program("acc", HOOK, _Gen(rng, decls, risk).program(), SCRATCH, **decls)
