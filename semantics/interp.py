"""The bytecode interpreter: one function over the instruction list.

Follows docs/semantics.md step by step.  Registers hold unsigned 64-bit
Python ints; `_s64` gives the signed view where an opcode needs it.  Run-time
checks raise Trap (semantics/trap.py), caught here: the run's decision becomes
DEFAULT and the abort reason and pc are reported.  The program must have
passed semantics/validate.py: the interpreter relies on the static checks
(ids exist, constant addresses in bounds, shift/div immediates sane).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rmt.contract.isa import BY_CODE, LOAD_SIGNED, LOAD_SIZE, Abort, Fmt, Region, mem_fields
from rmt.contract.objfile import Program
from rmt.contract.engine import Stats, TraceRecord, candidate_record, outputs_agree
from rmt.contract.isa import DEFAULT_SEED
from rmt.semantics.maps import MapState
from rmt.semantics.models import infer
from rmt.semantics.tables import TableState
from rmt.semantics.trap import Trap
from rmt.contract.weights import ModelWeights

M64 = (1 << 64) - 1
S64_MIN = 1 << 63
DEFAULT = -1


def _s64(v: int) -> int:
    return v - (1 << 64) if v & S64_MIN else v


class XorShift64:
    """The `random` helper's generator: x ^= x << 13; x ^= x >> 7; x ^= x << 17."""

    def __init__(self, seed: int = DEFAULT_SEED):
        self.x = seed & M64

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        self.x = x
        return x


class TraceRing:
    """A bounded record buffer: when full, new records are dropped and counted."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.records: list[TraceRecord] = []

    def emit(self, rec: TraceRecord, stats: Stats) -> None:
        if len(self.records) >= self.capacity:
            stats.trace_drops += 1
        else:
            self.records.append(rec)

    def drain(self) -> list[TraceRecord]:
        out, self.records = self.records, []
        return out


@dataclass
class Candidate:
    """A staged candidate (docs/semantics.md, "Candidate models"): evaluated beside the
    live weights at every CALLM, never acted on.  `weights` None: none staged (the
    counters stay, as the evidence of the last candidate)."""
    weights: ModelWeights | None
    version: int
    agree: int = 0
    disagree: int = 0


@dataclass
class Runtime:
    """The state a program's runs share: tables, maps, loaded models, trace ring, PRNG."""
    tables: list[TableState]
    maps: list[MapState]
    models: list[ModelWeights | None]
    trace: TraceRing
    rng: XorShift64
    stats: Stats = field(default_factory=Stats)
    candidates: list[Candidate | None] = field(default_factory=list)


@dataclass
class Outcome:
    decision: int        # the value EXIT returned (s64), or DEFAULT after an abort
    abort: Abort
    abort_pc: int


def _ext(v: int, bits: int, signed: bool) -> int:
    v &= (1 << bits) - 1
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v & M64


def _alu(name: str, d: int, s: int) -> int:
    """One two-operand ALU operation on u64 values; raises Trap on run-time failures."""
    if name == "ADD":
        return (d + s) & M64
    if name == "SUB":
        return (d - s) & M64
    if name == "MUL":
        return (d * s) & M64
    if name in ("DIV", "MOD", "SDIV", "SMOD") and s == 0:
        raise Trap(Abort.DIV_ZERO)
    if name == "DIV":
        return d // s
    if name == "MOD":
        return d % s
    if name in ("SDIV", "SMOD"):
        sd, ss = _s64(d), _s64(s)
        q, r = abs(sd) // abs(ss), abs(sd) % abs(ss)
        if name == "SDIV":          # toward zero; MIN / -1 wraps back to MIN
            return (-q if (sd < 0) != (ss < 0) else q) & M64
        return (-r if sd < 0 else r) & M64   # the dividend's sign; MIN % -1 = 0
    if name == "AND":
        return d & s
    if name == "OR":
        return d | s
    if name == "XOR":
        return d ^ s
    if name in ("SHL", "SHR", "SAR") and s >= 64:
        raise Trap(Abort.SHIFT)
    if name == "SHL":
        return (d << s) & M64
    if name == "SHR":
        return d >> s
    if name == "SAR":
        return (_s64(d) >> s) & M64
    if name == "MOV":
        return s
    raise AssertionError(name)


def _cond(name: str, d: int, s: int) -> bool:
    if name == "JEQ":
        return d == s
    if name == "JNE":
        return d != s
    if name == "JLT":
        return d < s
    if name == "JLE":
        return d <= s
    if name == "JGT":
        return d > s
    if name == "JGE":
        return d >= s
    if name == "JSLT":
        return _s64(d) < _s64(s)
    if name == "JSLE":
        return _s64(d) <= _s64(s)
    if name == "JSGT":
        return _s64(d) > _s64(s)
    if name == "JSGE":
        return _s64(d) >= _s64(s)
    if name == "JSET":
        return d & s != 0
    raise AssertionError(name)


def _helper(hid: int, arg: int, rt: Runtime, cpu: int, now: int) -> int:
    if hid == 1:
        return now & M64
    if hid == 2:
        return cpu & M64
    if hid == 3:
        return 0 if arg == 0 else rt.rng.next() % arg
    if hid == 4:
        if arg == 0:
            raise Trap(Abort.HELPER)
        return arg.bit_length() - 1
    raise AssertionError(hid)


def _u64s(buf: bytearray, off: int, n: int) -> list[int]:
    return [int.from_bytes(buf[off + 8 * i:off + 8 * i + 8], "little") for i in range(n)]


def _candidate(rt: Runtime, model: int, cand: Candidate, x: list[int], y: list[int], m,
               cpu: int, now: int) -> None:
    """Run a staged candidate on the live call's inputs: count agreement, trace a
    disagreement.  The live outputs `y` (what the program acts on) are not touched."""
    c, _ = infer(cand.weights, x, (m.in_lo, m.in_hi))   # its saturations are not counted
    if outputs_agree(y, c):
        cand.agree += 1
    else:
        cand.disagree += 1
        rt.trace.emit(candidate_record(model, y, c, cpu, now), rt.stats)


def execute(prog: Program, rt: Runtime, ctx: bytearray, cpu: int = 0, now: int = 0) -> Outcome:
    """Run the program once on `ctx` (modified in place); update rt's state and stats."""
    regs = [0] * 16
    scratch = bytearray(prog.scratch_size)
    params = [bytearray(t.param_size) for t in prog.tables]
    mins = [bytearray(4 * m.n_in) for m in prog.models]
    mouts = [bytearray(4 * m.n_out) for m in prog.models]

    def region(r: int, obj: int) -> bytearray:
        if r == Region.CTX:
            return ctx
        if r == Region.SCRATCH:
            return scratch
        return (params, mins, mouts)[r - Region.PARAMS][obj]

    code = prog.code
    pc = 0
    try:
        while True:
            i = code[pc]
            op = BY_CODE[i.code]
            f, name = op.fmt, op.name
            pc_next = pc + 1
            if f in (Fmt.ALU_R, Fmt.ALU_I):
                s = regs[i.src] if f == Fmt.ALU_R else i.imm & M64
                if name == "LDHI":
                    regs[i.dst] = (regs[i.dst] & 0xFFFFFFFF) | (i.imm & 0xFFFFFFFF) << 32
                else:
                    regs[i.dst] = _alu(name[:-2], regs[i.dst], s)
            elif f == Fmt.ALU_U:
                regs[i.dst] = -regs[i.dst] & M64
            elif f == Fmt.EXT:
                regs[i.dst] = _ext(regs[i.dst], i.imm, name == "SEXT")
            elif f == Fmt.JA:
                pc_next += i.off
            elif f in (Fmt.JMP_R, Fmt.JMP_I):
                s = regs[i.src] if f == Fmt.JMP_R else i.imm & M64
                if _cond(name[:-2], regs[i.dst], s):
                    pc_next += i.off
            elif f in (Fmt.LOAD, Fmt.STORE):
                r, obj, limit = mem_fields(i.imm)
                size = LOAD_SIZE[name]
                addr = i.off
                if limit:
                    idx = regs[i.src]
                    if idx > limit - size:
                        raise Trap(Abort.BOUNDS)
                    addr += idx
                buf = region(r, obj)
                if f == Fmt.LOAD:
                    v = int.from_bytes(buf[addr:addr + size], "little",
                                       signed=name in LOAD_SIGNED)
                    regs[i.dst] = v & M64
                else:
                    buf[addr:addr + size] = (regs[i.dst] & ((1 << 8 * size) - 1)).to_bytes(
                        size, "little")
            elif f == Fmt.APPLY:
                t = rt.tables[i.imm]
                action, p = t.lookup(_u64s(scratch, i.off, len(t.table.keys)))
                regs[i.dst] = action
                params[i.imm][:] = p
            elif f == Fmt.CALLM:
                w = rt.models[i.imm]
                if w is None:
                    raise Trap(Abort.MODEL_MISSING)
                m = prog.models[i.imm]
                x = [int.from_bytes(mins[i.imm][4 * k:4 * k + 4], "little", signed=True)
                     for k in range(m.n_in)]
                y, overflows = infer(w, x, (m.in_lo, m.in_hi))
                rt.stats.model_overflows += overflows
                mouts[i.imm][:] = b"".join(v.to_bytes(4, "little", signed=True) for v in y)
                cand = rt.candidates[i.imm] if rt.candidates else None
                if cand is not None and cand.weights is not None:
                    _candidate(rt, i.imm, cand, x, y, m, cpu, now)
            elif f == Fmt.MAP_LD:
                regs[i.dst] = rt.maps[i.imm].load(regs[i.src], cpu)
            elif f == Fmt.MAP_ST:
                if not rt.maps[i.imm].update(regs[i.dst], regs[i.src], cpu, name == "MAP_ADD"):
                    rt.stats.map_drops += 1
            elif f == Fmt.TRACE:
                n = len(prog.traces[i.imm].fields)
                rt.trace.emit(TraceRecord(i.imm, cpu, now, tuple(_u64s(scratch, i.off, n))),
                              rt.stats)
            elif f == Fmt.CALL:
                regs[i.dst] = _helper(i.imm, regs[i.src], rt, cpu, now)
            elif f == Fmt.EXIT:
                return Outcome(_s64(regs[i.src]), Abort.NONE, -1)
            else:
                raise AssertionError(f)
            pc = pc_next
    except Trap as t:
        return Outcome(DEFAULT, t.reason, pc)
