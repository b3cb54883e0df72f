"""Random valid RMT programs over test.sandbox, for differential testing.

`gen_case(rng)` builds a GenCase from a random.Random-like source: a program
(straight-line code with forward jumps, ALU, loads and stores to every region
with constant and indexed addresses, APPLY, CALLM, maps, trace, helpers) that
the validator accepts, plus table entries, map values, maybe model weights,
and a few contexts.  Programs often abort at run time (indexed accesses with
random indexes, register division and shifts, map indexes, a model without
weights, ilog2(0)) and often exit with out-of-range decisions, so every path
of docs/semantics.md gets exercised.

`gen_cases()` is the hypothesis strategy (drawing through st.randoms, so
hypothesis controls every choice); `GenCase.setup(engine)` prepares any
rmt.contract.engine.Engine the same way.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from rmt.contract import objfile
from rmt.contract.isa import HELPERS, LOAD_SIZE, Insn, Region, insn, mem_imm
from rmt.contract.objfile import Action, Key, Layer, Map, Model, Param, Program, Table, TraceField, TraceFmt
from rmt.contract.objformat import Activation, LayerKind, MapKind, MatchKind, ModelKind
from rmt.contract.hooks import TEST_SANDBOX, Access
from rmt.contract.engine import Engine, Entry, Exact, Ternary
from rmt.contract.weights import DenseLayer, mlp, write_weights

HOOK = TEST_SANDBOX
SCRATCH = 64
_ALU = ["ADD", "SUB", "MUL", "DIV", "SDIV", "MOD", "SMOD", "AND", "OR", "XOR", "SHL", "SHR",
        "SAR", "MOV"]
_JMP = ["JEQ", "JNE", "JLT", "JLE", "JGT", "JGE", "JSLT", "JSLE", "JSGT", "JSGE", "JSET"]
_LOADS = {1: ["LDU8", "LDS8"], 2: ["LDU16", "LDS16"], 4: ["LDU32", "LDS32"], 8: ["LD64"]}
_STORES = {1: "ST8", 2: "ST16", 4: "ST32", 8: "ST64"}
_IMMS = [0, 1, 2, 3, 7, 8, 31, 32, 63, 64, 100, 255, 4096, -1, -2, -128, 0x7fffffff,
         -0x80000000]


def schema() -> dict[str, Any]:
    """The declarations every generated program shares."""
    return dict(
        tables=[Table("t0", [Key("k", MatchKind.EXACT, 8), Key("m", MatchKind.TERNARY, 16)],
                      [Action("set", [Param("v", 0, 32, True)]), Action("nop")], 8, 1,
                      b"\x07\0\0\0")],
        models=[Model("m0", ModelKind.LINEAR, 2, 1, 16,
                      [Layer(LayerKind.DENSE, Activation.NONE, 2, 1)])],
        maps=[Map("arr", MapKind.ARRAY, 32, 32, 4),
              Map("h", MapKind.HASH, 8, 16, 2),
              Map("cnt", MapKind.COUNTER, 32, 64, 2, percpu=True)],
        traces=[TraceFmt("tr", [TraceField("a", 64, False), TraceField("b", 32, True)])])


@dataclass
class GenCase:
    program: Program
    entries: list[Entry] = field(default_factory=list)
    map_values: list[tuple[int, int, int]] = field(default_factory=list)
    weights: bytes | None = None
    ctxs: list[tuple[bytes, int, int]] = field(default_factory=list)   # (ctx, cpu, now)

    @property
    def obj(self) -> bytes:
        return objfile.write(self.program)

    def setup(self, eng: Engine) -> None:
        """Fill tables, maps and models of a freshly loaded engine."""
        for e in self.entries:
            try:
                eng.table_insert(0, e)
            except Exception:          # duplicates/full: the same on every engine
                pass
        for m, k, v in self.map_values:
            eng.map_write(m, k, v)
        if self.weights is not None:
            eng.model_load(0, self.weights)


def _reg(rng) -> int:
    # Favour a few registers so values flow between instructions.
    return rng.choice([0, 1, 2, 3, rng.randrange(16)])


def _imm(rng) -> int:
    return rng.choice(_IMMS) if rng.random() < 0.7 else rng.randrange(-(1 << 31), 1 << 31)


def _ctx_fields(write: bool):
    ok = (Access.READ_WRITE,) if write else (Access.READ, Access.READ_WRITE)
    return [f for f in HOOK.fields if f.access in ok]


def _mem(rng, write: bool, prog_models: list[Model]) -> tuple[int, int, int, int]:
    """A valid (size, imm, off, src) memory operand."""
    size = rng.choice([1, 2, 4, 8])
    kind = rng.choice(["ctx", "ctx", "scratch", "scratch", "params", "min", "mout"])
    if write and kind in ("params",):
        kind = "scratch"
    if kind == "ctx":
        fields = [f for f in _ctx_fields(write) if f.size >= size]
        if not fields:
            kind = "scratch"
        else:
            f = rng.choice(fields)
            start, fsize = HOOK.layout[f.name], f.size
            region, obj = Region.CTX, 0
    if kind != "ctx":
        if kind == "scratch":
            region, obj, start, fsize = Region.SCRATCH, 0, 0, SCRATCH
        elif kind == "params":
            region, obj, start, fsize = Region.PARAMS, 0, 0, 8
        else:
            m = prog_models[0]
            n = m.n_in if kind == "min" else m.n_out
            region, obj, start, fsize = (Region.MIN if kind == "min" else Region.MOUT), 0, 0, 4 * n
        size = min(size, fsize)
        size = max(s for s in (1, 2, 4, 8) if s <= size)
    if rng.random() < 0.5:
        off = start + rng.randrange(fsize - size + 1)
        return size, mem_imm(region, obj, 0), off, 0
    limit = rng.randint(size, fsize)
    off = start + rng.randrange(fsize - limit + 1)
    return size, mem_imm(region, obj, limit), off, _reg(rng)


def gen_program(rng) -> Program:
    decls = schema()
    n = rng.randint(1, 40)                 # body length; EXIT lands at pc n
    code: list[Insn] = []
    for pc in range(n):
        k = rng.random()
        if k < 0.25:
            op = rng.choice(_ALU)
            # Registers start at 0: register divisions would mostly abort, so fewer of them.
            reg_form = rng.random() < (0.25 if op in ("DIV", "SDIV", "MOD", "SMOD") else 0.5)
            if reg_form:
                code.append(insn(op + "_R", _reg(rng), _reg(rng)))
            else:
                imm = _imm(rng)
                if op in ("SHL", "SHR", "SAR"):
                    imm = rng.randrange(64)
                elif op in ("DIV", "SDIV", "MOD", "SMOD") and imm == 0:
                    imm = 3
                code.append(insn(op + "_I", _reg(rng), imm=imm))
        elif k < 0.30:
            c = rng.random()
            if c < 0.3:
                code.append(insn("NEG", _reg(rng)))
            elif c < 0.7:
                code.append(insn(rng.choice(["ZEXT", "SEXT"]), _reg(rng), imm=rng.choice([8, 16, 32])))
            else:
                code.append(insn("LDHI", _reg(rng), imm=_imm(rng)))
        elif k < 0.42:
            off = rng.randrange(n - pc)        # target pc + 1 + off <= n (the EXIT)
            c = rng.random()
            if c < 0.15:
                code.append(insn("JA", off=off))
            elif c < 0.6:
                code.append(insn(rng.choice(_JMP) + "_R", _reg(rng), _reg(rng), off))
            else:
                code.append(insn(rng.choice(_JMP) + "_I", _reg(rng), off=off, imm=_imm(rng)))
        elif k < 0.62:
            size, imm, off, src = _mem(rng, False, decls["models"])
            code.append(insn(rng.choice(_LOADS[size]), _reg(rng), src, off, imm))
        elif k < 0.74:
            size, imm, off, src = _mem(rng, True, decls["models"])
            code.append(insn(_STORES[size], _reg(rng), src, off, imm))
        elif k < 0.79:
            code.append(insn("APPLY", _reg(rng), off=rng.randrange(SCRATCH - 16 + 1), imm=0))
        elif k < 0.82:
            code.append(insn("CALLM", imm=0))
        elif k < 0.90:
            m = rng.randrange(3)
            c = rng.choice(["MAP_LD", "MAP_ST", "MAP_ADD"])
            code.append(insn(c, _reg(rng), _reg(rng), imm=m))
        elif k < 0.94:
            code.append(insn("TRACE", off=rng.randrange(SCRATCH - 16 + 1), imm=0))
        elif k < 0.98:
            h = rng.choice(HELPERS)
            code.append(insn("CALL", _reg(rng), _reg(rng) if h.nargs else 0, imm=h.id))
        else:
            code.append(insn("EXIT", src=_reg(rng)))
    if rng.random() < 0.5:
        code.append(insn("MOV_I", 0, imm=rng.randint(-2, 102)))
        code.append(insn("EXIT", src=0))
    else:
        code.append(insn("EXIT", src=_reg(rng)))
    return Program("gen", HOOK, code, SCRATCH, **decls)


def gen_ctx(rng) -> bytes:
    buf = bytearray(HOOK.ctx_size)
    for f in HOOK.fields:
        t = f.type
        for j in range(f.count):
            c = rng.random()
            if c < 0.3:
                v = 0
            elif c < 0.7:
                v = rng.randint(max(t.min, -8), min(t.max, 40))
            else:
                v = rng.randint(t.min, t.max)
            off = HOOK.layout[f.name] + j * t.size
            buf[off:off + t.size] = v.to_bytes(t.size, "little", signed=t.signed)
    return bytes(buf)


def gen_case(rng) -> GenCase:
    prog = gen_program(rng)
    case = GenCase(prog)
    for _ in range(rng.randrange(4)):
        case.entries.append(Entry((Exact(rng.randrange(8)), Ternary(rng.randrange(4), rng.choice([0, 3, 0xffff]))),
                                  rng.randrange(2), rng.randrange(1 << 32).to_bytes(4, "little"),
                                  rng.randrange(4)))
        if case.entries[-1].action == 1:
            e = case.entries[-1]
            case.entries[-1] = Entry(e.match, 1, b"", e.priority)
    for _ in range(rng.randrange(3)):
        m = rng.randrange(3)
        key = rng.randrange(prog.maps[m].max_entries)   # never overfills the hash map
        case.map_values.append((m, key, rng.randrange(1 << 16)))
    if rng.random() < 0.8:
        w = [[rng.randint(-300, 300) for _ in range(2)]]
        case.weights = write_weights(mlp([DenseLayer(w, [rng.randint(-1000, 1000)], rng.randrange(8))],
                                           kind=ModelKind.LINEAR))
    for _ in range(rng.randint(1, 3)):
        case.ctxs.append((gen_ctx(rng), rng.randrange(4), rng.randrange(1 << 40)))
    return case


def gen_cases() -> st.SearchStrategy[GenCase]:
    """Hypothesis strategy over GenCase; every choice is a hypothesis draw."""
    return st.randoms(use_true_random=False).map(gen_case)


def seeded_case(seed: int) -> GenCase:
    """A GenCase from a plain seed: cheap, for bulk runs and reproducing failures."""
    return gen_case(random.Random(seed))
