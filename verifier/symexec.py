"""Path-merging symbolic execution over the bytecode DAG, emitting goals.

Jumps go forward only, so visiting pcs in increasing order sees every
predecessor of a pc before the pc itself: the incoming states are merged
once (verifier/symstate.py) and each instruction is executed once,
symbolically, under its path condition.  Every run-time check and every
safety property becomes a `Goal`: an obligation plus the path condition and
the property that must hold there.  After a run-time check the path goes on
assuming it passed (a failing check aborts the run), the way eBPF's verifier
does; the failure itself is reported by the check's own goal.

Instructions the static validator rejects (verifier/wellformed.py) end their
path: such a program never loads, and the rejection is reported there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import z3

from rmt.contract.isa import (CPU_LIMIT, BY_CODE, HELPER_BY_ID, LOAD_SIGNED, LOAD_SIZE, Fmt, Insn, Region,
                          mem_fields)
from rmt.contract.objfile import Program
from rmt.contract.objformat import GuardKind, MapKind
from rmt.contract.hooks import DEFAULT_DECISION, Access
from rmt.verifier import obligations as O
from rmt.verifier.absint import Abs
from rmt.verifier.inputs import Inputs
from rmt.verifier.symstate import (ZERO_CELL, Cell, Flag, Memory, State, bv64, f_and, f_not, f_or,
                               merge_states)

# regions whose reads must follow a write on every path (O.Initialized)
_TRACKED = (Region.SCRATCH, Region.MIN, Region.MOUT)
REGION_NAME = {Region.CTX: "ctx", Region.SCRATCH: "scratch", Region.PARAMS: "params",
               Region.MIN: "min", Region.MOUT: "mout"}


@dataclass
class Goal:
    """An obligation to discharge: under `path`, `prop` must hold."""
    obligation: O.Obligation
    path: Flag
    prop: Flag
    show: dict[str, z3.ExprRef] = field(default_factory=dict)   # extra values to print
    explain: Callable[[dict[str, int]], str] | None = None        # note from shown values


@dataclass
class Exit:
    pc: int
    path: Flag
    value: z3.BitVecRef


def _sext64(e: z3.BitVecRef) -> z3.BitVecRef:
    return e if e.size() == 64 else z3.SignExt(64 - e.size(), e)


def _zext64(e: z3.BitVecRef) -> z3.BitVecRef:
    return e if e.size() == 64 else z3.ZeroExt(64 - e.size(), e)


def _fold(e: z3.BitVecRef, *args: z3.BitVecRef) -> z3.BitVecRef:
    """Constant-fold when every operand is a numeral (keeps formulas small)."""
    if all(z3.is_bv_value(a) for a in args):
        return z3.simplify(e)
    return e


_ALU: dict[str, Callable] = {
    "ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
    "DIV": z3.UDiv, "SDIV": lambda a, b: a / b, "MOD": z3.URem, "SMOD": z3.SRem,
    "AND": lambda a, b: a & b, "OR": lambda a, b: a | b, "XOR": lambda a, b: a ^ b,
    "SHL": lambda a, b: a << b, "SHR": z3.LShR, "SAR": lambda a, b: a >> b,
    "MOV": lambda a, b: b,
    "LDHI": lambda a, b: (a & 0xFFFFFFFF) | (b << 32),   # (u32)imm << 32
}
_COND: dict[str, Callable] = {
    "JEQ": lambda a, b: a == b, "JNE": lambda a, b: a != b, "JLT": z3.ULT, "JLE": z3.ULE,
    "JGT": z3.UGT, "JGE": z3.UGE, "JSLT": lambda a, b: a < b, "JSLE": lambda a, b: a <= b,
    "JSGT": lambda a, b: a > b, "JSGE": lambda a, b: a >= b,
    "JSET": lambda a, b: (a & b) != 0,
}


class Executor:
    """Runs one program symbolically; `goals` and `exits` are the results."""

    def __init__(self, prog: Program, inputs: Inputs, bad_pcs: set[int],
                 out_bounds: dict[int, tuple[int, int]] | None = None):
        self.prog = prog
        self.inputs = inputs
        self.bad_pcs = bad_pcs
        self.out_bounds = out_bounds or {}
        self.goals: list[Goal] = []
        self.exits: list[Exit] = []
        self.reached: set[int] = set()
        self._ctx_cells = self._ctx_base_cells()
        self.abs = Abs(inputs.ranges, inputs.sranges)       # shared with the discharger
        # max_streak guards with a valid map: (guard, first pseudo-register)
        self.streaks = [(g, 16 + 6 * k) for k, g in enumerate(
            g for g in prog.guards
            if g.kind == GuardKind.MAX_STREAK and 0 <= g.c < len(prog.maps) and g.b >= 1)]

    # ------------------------------------------------------------ setup

    def _ctx_base_cells(self) -> dict[int, Cell]:
        hook, cells = self.prog.hook, {}
        for f in hook.fields:
            start, esize = hook.layout[f.name], f.type.size
            for e in range(f.count):
                name = f"ctx.{f.name}" if f.count == 1 else f"ctx.{f.name}[{e}]"
                var = self.inputs.ranged(name, f.type.bits, f.type.signed, f.lo, f.hi)
                for k in range(esize):
                    cells[start + e * esize + k] = (var, k)
        return cells

    def region_size(self, region: int, obj: int) -> int:
        p = self.prog
        if region == Region.CTX:
            return p.hook.ctx_size
        if region == Region.SCRATCH:
            return p.scratch_size
        if region == Region.PARAMS:
            return p.tables[obj].param_size
        m = p.models[obj]
        return 4 * (m.n_in if region == Region.MIN else m.n_out)

    def initial_state(self) -> State:
        ctx_cells = self._ctx_cells
        mems = {
            (Region.CTX, 0): Memory(self.prog.hook.ctx_size,
                                    lambda b: ctx_cells.get(b, ZERO_CELL)),
            (Region.SCRATCH, 0): Memory(self.prog.scratch_size, _zero_base, tracked=True),
        }
        for t in range(len(self.prog.tables)):
            mems[(Region.PARAMS, t)] = Memory(self.prog.tables[t].param_size, _zero_base)
        for m, mod in enumerate(self.prog.models):
            # tracked like scratch: the compiler keeps a model's input array in MIN, and
            # CALLM reads every element (callm())
            mems[(Region.MIN, m)] = Memory(4 * mod.n_in, _zero_base, tracked=True)
            mems[(Region.MOUT, m)] = Memory(4 * mod.n_out, _zero_base, tracked=True)
        zero = bv64(0)
        extra = 6 * len(self.streaks)      # streak pseudo-registers, see map_op
        return State([zero] * (16 + extra), [False] * 16 + [True] * extra, mems)

    # ------------------------------------------------------------ goals

    def goal(self, ob: O.Obligation, path: Flag, prop: Flag, **kw) -> None:
        self.goals.append(Goal(ob, path, prop, **kw))

    def reg(self, st: State, path: Flag, pc: int, r: int) -> z3.BitVecRef:
        """Read register r; a read that may precede every write is a goal."""
        d = st.rdef[r]
        if d is not True:
            self.goal(O.Initialized(pc, f"r{r}"), path, d)
            st.rdef[r] = True          # report the first read on a path only
        return st.regs[r]

    def set_reg(self, st: State, r: int, v: z3.BitVecRef) -> None:
        st.regs[r] = v
        st.rdef[r] = True

    def need_defined(self, pc: int, path: Flag, d: Flag, what: str) -> None:
        if d is not True:
            self.goal(O.Initialized(pc, what), path, d)

    # ------------------------------------------------------------ driver

    def run(self) -> None:
        code = self.prog.code
        n = len(code)
        pending: dict[int, list[tuple[Flag, State]]] = {0: [(True, self.initial_state())]}
        for pc in range(n):
            incoming = pending.pop(pc, None)
            if not incoming:
                continue
            incoming = [(c, s) for c, s in incoming if c is not False]
            if not incoming:
                continue
            self.reached.add(pc)
            path, st = merge_states(incoming)
            if pc in self.bad_pcs:
                continue
            for tgt, cond, nst in self.step(pc, code[pc], path, st):
                if cond is not False and 0 <= tgt < n:
                    pending.setdefault(tgt, []).append((cond, nst))

    def step(self, pc: int, i: Insn, path: Flag, st: State):
        """Execute one instruction; returns [(target pc, edge condition, state)]."""
        op = BY_CODE[i.code]
        f, name = op.fmt, op.name
        base = name[:-2] if name.endswith(("_R", "_I")) else name
        nxt = pc + 1
        if f in (Fmt.ALU_R, Fmt.ALU_I):
            path = self.alu(pc, i, base, f == Fmt.ALU_R, path, st)
        elif f == Fmt.ALU_U:
            a = self.reg(st, path, pc, i.dst)
            self.set_reg(st, i.dst, _fold(-a, a))
        elif f == Fmt.EXT:
            a = self.reg(st, path, pc, i.dst)
            low = z3.Extract(i.imm - 1, 0, a)
            v = z3.ZeroExt(64 - i.imm, low) if name == "ZEXT" else z3.SignExt(64 - i.imm, low)
            self.set_reg(st, i.dst, _fold(v, a))
        elif f == Fmt.JA:
            return [(nxt + i.off, path, st)]
        elif f in (Fmt.JMP_R, Fmt.JMP_I):
            a = self.reg(st, path, pc, i.dst)
            b = self.reg(st, path, pc, i.src) if f == Fmt.JMP_R else bv64(i.imm)
            c = _COND[base](a, b)
            if z3.is_bv_value(a) and z3.is_bv_value(b):
                c = z3.is_true(z3.simplify(c))
            taken, fall = f_and(path, c), f_and(path, f_not(c))
            other = st.fork()
            return [(nxt + i.off, taken, st), (nxt, fall, other)]
        elif f in (Fmt.LOAD, Fmt.STORE):
            path = self.mem_access(pc, i, name, f == Fmt.STORE, path, st)
        elif f == Fmt.APPLY:
            self.apply(pc, i, path, st)
        elif f == Fmt.CALLM:
            self.callm(pc, i, path, st)
        elif f in (Fmt.MAP_LD, Fmt.MAP_ST):
            path = self.map_op(pc, i, name, path, st)
        elif f == Fmt.TRACE:
            nf = len(self.prog.traces[i.imm].fields)
            d: Flag = True
            scratch = st.mem((Region.SCRATCH, 0))
            for b in range(i.off, i.off + 8 * nf):
                d = f_and(d, scratch.defined(b))
            self.need_defined(pc, path, d, f"trace record scratch[{i.off}..{i.off + 8 * nf})")
        elif f == Fmt.CALL:
            path = self.call(pc, i, path, st)
        elif f == Fmt.EXIT:
            self.exit(pc, i, path, st)
            return []
        return [(nxt, path, st)]

    # ------------------------------------------------------------ instructions

    def alu(self, pc: int, i: Insn, base: str, is_reg: bool, path: Flag, st: State) -> Flag:
        if is_reg and base in ("XOR", "SUB") and i.dst == i.src:
            self.set_reg(st, i.dst, bv64(0))          # idiom: no real read
            return path
        b = self.reg(st, path, pc, i.src) if is_reg else bv64(i.imm)
        if base == "MOV":
            self.set_reg(st, i.dst, b)
            return path
        a = self.reg(st, path, pc, i.dst)
        if is_reg and base in ("DIV", "SDIV", "MOD", "SMOD"):
            ok = b != 0
            self.goal(O.NonZeroDivisor(pc, f"{base.lower()} r{i.dst}, r{i.src}"), path, ok,
                      show={"divisor": b})
            path = f_and(path, ok)
        elif is_reg and base in ("SHL", "SHR", "SAR"):
            ok = z3.ULT(b, 64)
            self.goal(O.ShiftInRange(pc, f"{base.lower()} r{i.dst}, r{i.src}"), path, ok,
                      show={"shift": b})
            path = f_and(path, ok)
        if base in ("XOR", "SUB") and (a is b or a.eq(b)):
            self.set_reg(st, i.dst, bv64(0))          # x ^ x == x - x == 0, whatever x is
            return path
        self.set_reg(st, i.dst, _fold(_ALU[base](a, b), a, b))
        return path

    def mem_access(self, pc: int, i: Insn, name: str, store: bool, path: Flag,
                   st: State) -> Flag:
        region, obj, limit = mem_fields(i.imm)
        size = LOAD_SIZE[name]
        key = (region, obj)
        rname = REGION_NAME[Region(region)] + (str(obj) if region >= Region.PARAMS else "")
        value = self.reg(st, path, pc, i.dst) if store else None
        mem = st.mem_w(key) if store else st.mem(key)
        if limit == 0:
            if store:
                mem.store(i.off, size, value)
            else:
                v, d = mem.load(i.off, size)
                if region in _TRACKED:
                    self.need_defined(pc, path, d, f"{rname}[{i.off}..{i.off + size})")
        else:
            idx = self.reg(st, path, pc, i.src)
            ok = z3.ULE(idx, limit - size)
            self.goal(O.InBounds(pc, rname, i.off, limit, size), path, ok,
                      show={"index": idx})
            path = f_and(path, ok)
            scalings = _scalings(idx)
            if scalings is None:          # too large to walk: refuse rather than miss one
                self.goal(O.ScaleNoWrap(pc, rname, 0), path, False,
                          explain=lambda _: "the index expression is too large to check for "
                                            "a scaling that wraps")
            for x, k, no_wrap, guard in scalings or []:
                self.goal(O.ScaleNoWrap(pc, rname, k), f_and(path, guard), no_wrap,
                          show={"index before scaling": x})
            if region == Region.CTX:
                self.ctx_permission(pc, i.off, limit, size, store, idx, path)
            av = self.abs.val(idx)
            top = limit - size
            if av.vals is not None:
                cands = sorted(v for v in av.vals if v <= top)
            else:
                cands = list(range(av.lo, min(av.hi, top) + 1))
            if not cands:
                return False              # the check always fails: the path ends here
            if len(cands) == 1:
                k = cands[0]
                if store:
                    mem.store(i.off + k, size, value)
                else:
                    v, d = mem.load(i.off + k, size)
            elif store:
                mem.store_indexed(i.off, idx, cands, size, value)
            else:
                v, d = mem.load_indexed(i.off, idx, cands, size)
            if not store and region in _TRACKED:
                self.need_defined(pc, path, d, f"{rname}[{i.off} + r{i.src}] ({size} bytes)")
        if not store:
            self.set_reg(st, i.dst, _sext64(v) if name in LOAD_SIGNED else _zext64(v))
        return path

    def ctx_permission(self, pc: int, off: int, limit: int, size: int, store: bool,
                       idx: z3.BitVecRef, path: Flag) -> None:
        """Every byte an indexed ctx access may touch lies in one permitted field."""
        hook = self.prog.hook
        need = (Access.READ_WRITE,) if store else (Access.READ, Access.READ_WRITE)
        spans = []
        base_field = "?"
        for f in hook.fields:
            start = hook.layout[f.name]
            if start <= off < start + f.size:
                base_field = f.name
            if f.access in need:
                lo, hi = start - off, start + f.size - size - off   # index range inside f
                lo, hi = max(lo, 0), min(hi, limit - size)
                if lo <= hi:
                    spans.append((lo, hi))
        if any(lo == 0 and hi == limit - size for lo, hi in spans):
            prop: Flag = True
        elif not spans:
            prop = False
        else:
            prop = z3.Or(*[z3.And(z3.UGE(idx, lo), z3.ULE(idx, hi)) for lo, hi in spans])

        def explain(vals: dict[str, int], off=off) -> str:
            a = off + vals.get("index", 0)
            touched = []
            for b in range(a, a + size):
                f = next((f for f in hook.fields
                          if hook.layout[f.name] <= b < hook.layout[f.name] + f.size), None)
                name = f"ctx.{f.name} (access {f.access.value})" if f else \
                    f"context byte {b}, outside every field"
                if name not in touched:
                    touched.append(name)
            return f"bytes [{a}, {a + size}) reach " + " and ".join(touched)

        self.goal(O.CtxPermission(pc, base_field, "write" if store else "read"), path, prop,
                  show={"index": idx}, explain=explain)

    def apply(self, pc: int, i: Insn, path: Flag, st: State) -> None:
        t = self.prog.tables[i.imm]
        scratch = st.mem((Region.SCRATCH, 0))
        d: Flag = True
        for b in range(i.off, i.off + 8 * len(t.keys)):
            d = f_and(d, scratch.defined(b))
        self.need_defined(pc, path, d, f"table {t.name} key scratch[{i.off}.."
                                       f"{i.off + 8 * len(t.keys)})")
        act = self.inputs.ranged(f"table {t.name} action@pc{pc}", 16, False, 0,
                                 len(t.actions) - 1)
        self.set_reg(st, i.dst, _zext64(act))
        st.replace((Region.PARAMS, i.imm), Memory(t.param_size, self._params_base(pc, i.imm)))

    def _params_base(self, pc: int, tid: int) -> Callable[[int], Cell]:
        """Fresh parameter bytes, named after the first action's parameter at each byte."""
        t = self.prog.tables[tid]
        cache: dict[int, Cell] = {}
        named: dict[str, tuple[int, int]] = {}

        def base(b: int) -> Cell:
            c = cache.get(b)
            if c is not None:
                return c
            for ai, a in enumerate(t.actions):
                for pi, p in enumerate(a.params):
                    if p.offset <= b < p.offset + p.bits // 8:
                        # Names need not be unique in an object (a hostile one had three
                        # parameters named ""): a repeated name would alias distinct
                        # parameters, of other widths too (found by tools/fuzz).
                        name = f"{t.name}.{a.name}.{p.name}@pc{pc}"
                        if named.setdefault(name, (ai, pi)) != (ai, pi):
                            name = f"{t.name}.{a.name}.{p.name}#{ai}.{pi}@pc{pc}"
                        var = self.inputs.new(name, p.bits, p.signed)
                        for k in range(p.bits // 8):
                            cache.setdefault(p.offset + k, (var, k))
                        return cache[b]
            c = cache[b] = (self.inputs.new(f"{t.name} params[{b}]@pc{pc}", 8), 0)
            return c
        return base

    def callm(self, pc: int, i: Insn, path: Flag, st: State) -> None:
        m = self.prog.models[i.imm]
        mi = st.mem((Region.MIN, i.imm))
        d: Flag = True
        for b in range(4 * m.n_in):
            d = f_and(d, mi.defined(b))
        self.need_defined(pc, path, d, f"model {m.name} input min{i.imm}[0..{4 * m.n_in})")
        if m.in_lo > -(1 << 31) or m.in_hi < (1 << 31) - 1:
            mem = st.mem((Region.MIN, i.imm))
            props, elems = [], {}
            for e in range(m.n_in):
                v, _ = mem.load(4 * e, 4)
                if z3.is_bv_value(v):
                    sv = v.as_long() - ((v.as_long() >> 31) << 32)
                    if m.in_lo <= sv <= m.in_hi:
                        continue
                props.append(z3.And(v >= m.in_lo, v <= m.in_hi))
                elems[f"{m.name} in[{e}]"] = _sext64(v)
            prop: Flag = z3.And(*props) if props else True
            lo, hi = m.in_lo, m.in_hi

            def explain(vals: dict[str, int]) -> str:
                bad = [f"{k}={v}" for k, v in vals.items()
                       if k.startswith(f"{m.name} in[") and not lo <= v <= hi]
                return "out of range: " + ", ".join(bad[:4])
            self.goal(O.ModelInputInRange(pc, m.name, lo, hi), path, prop, show=elems,
                      explain=explain)
        bounds = self.out_bounds.get(i.imm)
        outs: dict[int, Cell] = {}
        for e in range(m.n_out):
            name = f"model {m.name} out[{e}]@pc{pc}"
            var = (self.inputs.ranged(name, 32, True, *bounds) if bounds
                   else self.inputs.new(name, 32, True))
            for k in range(4):
                outs[4 * e + k] = (var, k)
        st.replace((Region.MOUT, i.imm), Memory(4 * m.n_out, outs.__getitem__))

    def map_op(self, pc: int, i: Insn, name: str, path: Flag, st: State) -> Flag:
        mp = self.prog.maps[i.imm]
        keyreg = i.src if name == "MAP_LD" else i.dst
        key = self.reg(st, path, pc, keyreg)
        if name != "MAP_LD":
            self.reg(st, path, pc, i.src)
        if mp.kind in (MapKind.ARRAY, MapKind.COUNTER):
            ok = z3.ULT(key, mp.max_entries)
            self.goal(O.MapIndexInRange(pc, mp.name, mp.max_entries), path, ok,
                      show={"index": key})
            path = f_and(path, ok)
        if name == "MAP_LD":
            bits = 64 if mp.kind == MapKind.COUNTER else mp.value_bits
            var = self.inputs.new(f"map {mp.name} value@pc{pc}", bits)
            self.set_reg(st, i.dst, _zext64(var))
        for g, base in self.streaks:
            if g.c == i.imm:
                self.streak_access(pc, i, name, g, base, key, path, st)
        return path

    def streak_access(self, pc: int, i: Insn, name: str, g, base: int, key: z3.BitVecRef,
                      path: Flag, st: State) -> None:
        """Track the streak map of a max_streak guard in six pseudo-registers:
        the first load's key and value, and the last store's key and value.

        The proof is inductive: assume every stored streak is <= b (the
        loaded value then is too), show each store keeps it so, and show that
        an invocation returning the guarded decision a stores load + 1 under
        the key it loaded -- so the count is at least the real streak and
        never passes b."""
        R = st.regs
        lkey, lval, ldone, skey, sval, sdone = range(base, base + 6)
        if name == "MAP_LD":
            v = st.regs[i.dst]
            self.inputs.assume(z3.ULE(v, g.b))          # the inductive hypothesis
            first = R[ldone] == 0
            R[lkey] = z3.If(first, key, R[lkey])
            R[lval] = z3.If(first, v, R[lval])
            R[ldone] = bv64(1)
            return
        value = st.regs[i.src]
        if name == "MAP_ADD":
            value = z3.If(z3.And(R[ldone] == 1, R[lkey] == key), R[lval] + value,
                          _zext64(self.inputs.new(f"streak old@pc{pc}", 64)))
        self.goal(O.GuardHolds(pc, f"max_streak {self._dname(g.a)} {g.b}: stored streak "
                                   f"stays <= {g.b}"), path, z3.ULE(value, g.b),
                  show={"stored": value})
        R[skey], R[sval], R[sdone] = key, value, bv64(1)

    def _dname(self, v: int) -> str:
        names = {val: n for n, val in self.prog.hook.decision.names.items()}
        return names.get(v, str(v))

    def call(self, pc: int, i: Insn, path: Flag, st: State) -> Flag:
        h = HELPER_BY_ID[i.imm]
        arg = self.reg(st, path, pc, i.src) if h.nargs else None
        inp = self.inputs
        if h.name == "ktime_ns":
            v = inp.new("ktime_ns()", 64)
        elif h.name == "cpu":
            v = _zext64(inp.new("cpu()", (CPU_LIMIT - 1).bit_length()))
        elif h.name == "random":
            v = inp.new(f"random()@pc{pc}", 64)
            inp.assume(z3.If(arg == 0, v == 0, z3.ULT(v, arg)))
        else:   # ilog2
            ok = arg != 0
            self.goal(O.HelperArgValid(pc, h.name), path, ok, show={"argument": arg})
            path = f_and(path, ok)
            v = _zext64(inp.new(f"ilog2()@pc{pc}", 6))
            inp.assume(z3.Or(arg == 0, z3.LShR(arg, v) == 1))
        self.set_reg(st, i.dst, v)
        return path

    def exit(self, pc: int, i: Insn, path: Flag, st: State) -> None:
        v = self.reg(st, path, pc, i.src)
        dec = self.prog.hook.decision
        d = DEFAULT_DECISION
        self.goal(O.DecisionAllowed(pc, dec.lo, dec.hi), path,
                  _pyfold(z3.Or(v == d, z3.And(v >= dec.lo, v <= dec.hi)), v),
                  show={"decision": v})
        allowed = sorted({g.a for g in self.prog.guards if g.kind == GuardKind.ALLOW})
        if allowed:
            names = {val: n for n, val in dec.names.items()}
            text = "allow " + ", ".join(names.get(a, str(a)) for a in allowed)
            self.goal(O.GuardHolds(pc, text), path,
                      _pyfold(z3.Or(v == d, *[v == a for a in allowed]), v),
                      show={"decision": v})
        for g, base in self.streaks:
            R = st.regs
            lkey, lval, ldone, skey, sval, sdone = range(base, base + 6)
            counted = z3.And(R[ldone] == 1, R[sdone] == 1, R[skey] == R[lkey],
                             R[sval] == R[lval] + 1)
            self.goal(O.GuardHolds(pc, f"max_streak {self._dname(g.a)} {g.b}: deciding "
                                       f"{self._dname(g.a)} counts the streak"), path,
                      z3.Or(v != g.a, counted), show={"decision": v})
        self.exits.append(Exit(pc, path, v))


_SCALE_WALK_LIMIT = 20000      # expression nodes visited per indexed access


def _scalings(e: z3.BitVecRef) -> list[tuple[z3.BitVecRef, int, z3.BoolRef, Flag]] | None:
    """Every constant scaling inside an index expression: (the scaled operand x, the
    factor, the condition that x * factor does not wrap, the If-branch conditions under which
    this subterm is the one used).  MUL by a numeral and SHL by a numeral 1..63 count; If
    nodes (states merged from several paths) are followed with their conditions, so a value
    that only a discarded branch scales (the compiler's clamp) is not blamed.  None when the
    expression has more than _SCALE_WALK_LIMIT distinct nodes."""
    # The index is a DAG (merged states share their subterms), so the walk visits each
    # node once, in topological order, under the disjunction of the guards it is reached
    # by; following each path separately is exponential in the joins above the index.
    # `nodes` holds every node walked, so z3 cannot reuse a walked node's id for another.
    nodes: dict[int, z3.ExprRef] = {}
    order: list[int] = []
    stack: list[tuple[z3.ExprRef, bool]] = [(e, False)]
    while stack:
        n, done = stack.pop()
        nid = n.get_id()
        if done:
            order.append(nid)
            continue
        if nid in nodes or not z3.is_app(n):
            continue
        nodes[nid] = n
        if len(nodes) > _SCALE_WALK_LIMIT:
            return None
        stack.append((n, True))
        stack += [(a, False) for a in _walk_args(n)]
    guards: dict[int, Flag] = {e.get_id(): True}
    out: list[tuple[z3.BitVecRef, int, z3.BoolRef, Flag]] = []
    for nid in reversed(order):             # parents before children
        n = nodes[nid]
        guard = guards.get(nid, False)
        if guard is False:
            continue
        k = n.decl().kind()
        args = n.children()
        if k == z3.Z3_OP_ITE:
            c = args[0]
            _reach(guards, args[1], f_and(guard, c))
            _reach(guards, args[2], f_and(guard, f_not(c)))
            continue
        if k == z3.Z3_OP_BMUL and len(args) == 2:
            for a, b in ((args[0], args[1]), (args[1], args[0])):
                if z3.is_bv_value(b) and b.as_long() >= 2 and not z3.is_bv_value(a):
                    out.append((a, b.as_long(), z3.BVMulNoOverflow(a, b, signed=False), guard))
        elif k == z3.Z3_OP_BSHL and z3.is_bv_value(args[1]) and 1 <= args[1].as_long() < 64 \
                and not z3.is_bv_value(args[0]):
            sh = args[1].as_long()
            out.append((args[0], 1 << sh, z3.LShR(args[0], 64 - sh) == 0, guard))
        for a in args:
            if z3.is_bv(a):
                _reach(guards, a, guard)
    return out


def _walk_args(n: z3.ExprRef) -> list[z3.ExprRef]:
    """The subterms _scalings follows: an If's two arms, any other node's bitvectors."""
    args = n.children()
    if n.decl().kind() == z3.Z3_OP_ITE:
        return [args[1], args[2]]
    return [a for a in args if z3.is_bv(a)]


def _reach(guards: dict[int, Flag], n: z3.ExprRef, g: Flag) -> None:
    """n is also reached under g: its guard becomes the disjunction."""
    if not z3.is_app(n):
        return
    nid = n.get_id()
    guards[nid] = f_or(guards[nid], g) if nid in guards else g


def _pyfold(prop: z3.BoolRef, v: z3.BitVecRef) -> Flag:
    return z3.is_true(z3.simplify(prop)) if z3.is_bv_value(v) else prop


def _zero_base(b: int) -> Cell:
    return ZERO_CELL
