"""Symbolic machine state: registers, byte-addressed regions, merging at joins.

Values are Z3 bitvectors; "flags" (definedness, path conditions) are Python
bools when known and Z3 Bools otherwise, so that the common constant case
costs no solver work.  Memory is kept per byte as a *cell* `(expr, k)`:
byte k of the value `expr` that was stored there.  A load that reads the
bytes 0..n-1 of one stored value gets that value back unchanged, so the
formulas stay the size of the program rather than growing with byte
shuffling.  States are merged at join points with `If` over the (mutually
exclusive, since each pc runs at most once) incoming edge conditions; Z3's
hash-consing shares the subterms, keeping the formula linear-ish in program
size.
"""
from __future__ import annotations

from typing import Callable, Union

import z3

Flag = Union[bool, z3.BoolRef]
Cell = tuple[z3.BitVecRef, int]

M64 = (1 << 64) - 1
ZERO8 = z3.BitVecVal(0, 8)
ZERO_CELL: Cell = (ZERO8, 0)


def bv64(v: int) -> z3.BitVecRef:
    return z3.BitVecVal(v & M64, 64)


def num(e: z3.ExprRef) -> int | None:
    """The value of a bitvector numeral, else None."""
    return e.as_long() if z3.is_bv_value(e) else None


def same(a: z3.ExprRef, b: z3.ExprRef) -> bool:
    return a is b or a.eq(b)


# ------------------------------------------------------------------ term constructors

# z3.And / z3.Or / z3.Not / z3.If / == coerce and sort-check their arguments in Python on
# every call, ~10x the cost of making the term (z3.And: 0.4 ms under load, 5,000
# instructions make ~40,000 of them).  These make the same terms through the C API
# directly; callers pass well-sorted Z3 expressions of one context.

def _arr(xs) -> "z3.Ast":
    return (z3.Ast * len(xs))(*[x.as_ast() for x in xs])


def mk_and(*xs: z3.BoolRef) -> z3.BoolRef:
    ctx = xs[0].ctx
    return z3.BoolRef(z3.Z3_mk_and(ctx.ref(), len(xs), _arr(xs)), ctx)


def mk_or(*xs: z3.BoolRef) -> z3.BoolRef:
    ctx = xs[0].ctx
    return z3.BoolRef(z3.Z3_mk_or(ctx.ref(), len(xs), _arr(xs)), ctx)


def mk_not(a: z3.BoolRef) -> z3.BoolRef:
    return z3.BoolRef(z3.Z3_mk_not(a.ctx.ref(), a.as_ast()), a.ctx)


def mk_ite(c: z3.BoolRef, a, b):
    ctx = c.ctx
    r = z3.Z3_mk_ite(ctx.ref(), c.as_ast(), a.as_ast(), b.as_ast())
    return z3.BoolRef(r, ctx) if isinstance(a, z3.BoolRef) else z3.BitVecRef(r, ctx)


def mk_eq_num(a: z3.BitVecRef, v: int) -> z3.BoolRef:
    """a == v for a numeral v (of a's width)."""
    ctx = a.ctx
    n = z3.Z3_mk_numeral(ctx.ref(), str(v % (1 << a.size())), a.sort().ast)
    return z3.BoolRef(z3.Z3_mk_eq(ctx.ref(), a.as_ast(), n), ctx)


# ------------------------------------------------------------------ flags

def f_and(a: Flag, b: Flag) -> Flag:
    if a is True:
        return b
    if b is True:
        return a
    if a is False or b is False:
        return False
    return mk_and(a, b)


def f_or(a: Flag, b: Flag) -> Flag:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return mk_or(a, b)


def f_not(a: Flag) -> Flag:
    if isinstance(a, bool):
        return not a
    return mk_not(a)


def to_z3(a: Flag) -> z3.BoolRef:
    return z3.BoolVal(a) if isinstance(a, bool) else a


def f_same(a: Flag, b: Flag) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return same(a, b)


def ite_chain(conds: list[Flag], vals: list):
    """If(c0, v0, If(c1, v1, ... v_last)); the conditions are exclusive and exhaustive."""
    out = vals[-1]
    for c, v in zip(reversed(conds[:-1]), reversed(vals[:-1])):
        if c is True:
            out = v
        elif c is False:
            continue
        else:
            out = mk_ite(c, v, out)
    return out


def flag_chain(conds: list[Flag], flags: list[Flag]) -> Flag:
    if all(f is True for f in flags):
        return True
    if all(f is False for f in flags):
        return False
    return ite_chain(conds, [to_z3(f) for f in flags])


# ------------------------------------------------------------------ bytes

def cell_byte(c: Cell) -> z3.BitVecRef:
    e, k = c
    if e.size() == 8:
        return e
    n = num(e)
    if n is not None:
        return z3.BitVecVal((n >> (8 * k)) & 0xFF, 8)
    return z3.Extract(8 * k + 7, 8 * k, e)


def join_cells(cells: list[Cell]) -> z3.BitVecRef:
    """The little-endian value made of these bytes (8 * len(cells) bits)."""
    n = len(cells)
    e0, k0 = cells[0]
    if all(c[0] is e0 and c[1] == k0 + i for i, c in enumerate(cells)):
        if k0 == 0 and e0.size() == 8 * n:
            return e0
        v = num(e0)
        if v is not None:
            return z3.BitVecVal((v >> (8 * k0)) & ((1 << (8 * n)) - 1), 8 * n)
        return z3.Extract(8 * (k0 + n) - 1, 8 * k0, e0)
    parts = [cell_byte(c) for c in cells]
    vals = [num(p) for p in parts]
    if all(v is not None for v in vals):
        return z3.BitVecVal(sum(v << (8 * i) for i, v in enumerate(vals)), 8 * n)
    return z3.Concat(*reversed(parts)) if n > 1 else parts[0]


def split_value(value: z3.BitVecRef, size: int) -> list[Cell]:
    """The cells a store of `size` bytes of a 64-bit value writes."""
    if size < 8:
        v = num(value)
        w = z3.BitVecVal(v & ((1 << (8 * size)) - 1), 8 * size) if v is not None \
            else z3.Extract(8 * size - 1, 0, value)
    else:
        w = value
    return [(w, i) for i in range(size)]


# ------------------------------------------------------------------ memory

class Memory:
    """One region instance: cells written so far over a base (initial content)."""

    def __init__(self, size: int, base: Callable[[int], Cell], tracked: bool = False):
        self.size = size
        self.base = base
        self.tracked = tracked          # definedness tracked (scratch)
        self.cells: dict[int, Cell] = {}
        self.defs: dict[int, Flag] = {}

    def copy(self) -> "Memory":
        m = Memory(self.size, self.base, self.tracked)
        m.cells = dict(self.cells)
        m.defs = dict(self.defs)
        return m

    def cell(self, b: int) -> Cell:
        c = self.cells.get(b)
        return c if c is not None else self.base(b)

    def defined(self, b: int) -> Flag:
        return self.defs.get(b, False) if self.tracked else True

    def value(self, off: int, size: int) -> z3.BitVecRef:
        return join_cells([self.cell(off + i) for i in range(size)])

    def load(self, off: int, size: int) -> tuple[z3.BitVecRef, Flag]:
        d: Flag = True
        if self.tracked:
            # the bytes of one stored value share one flag object: conjoin each flag once
            # (the same term as before up to the repeats, which add nothing to a conjunction)
            seen: list[Flag] = []
            for i in range(size):
                f = self.defined(off + i)
                if f is True or any(f is g for g in seen):
                    continue
                seen.append(f)
                d = f_and(d, f)
        return self.value(off, size), d

    def store(self, off: int, size: int, value: z3.BitVecRef) -> None:
        for i, c in enumerate(split_value(value, size)):
            self.cells[off + i] = c
            if self.tracked:
                self.defs[off + i] = True

    def store_indexed(self, off: int, idx: z3.BitVecRef, cands: list[int], size: int,
                      value: z3.BitVecRef) -> None:
        """A store at off + idx, idx one of `cands` (a sound superset of its values):
        each byte it may touch becomes an If over the index."""
        cells = split_value(value, size)
        if all(b - a >= size for a, b in zip(cands, cands[1:])):
            # slots do not overlap (an array indexed by element): one If per slot,
            # so an aligned load later gets a whole value back
            w = cells[0][0]
            for p in cands:
                eq = mk_eq_num(idx, p)
                slot = mk_ite(eq, w, self.value(off + p, size))
                # one new flag per distinct old flag (kept alive here, so ids stay unique)
                shared: dict[int, tuple[Flag, Flag]] = {}
                for k in range(size):
                    self.cells[off + p + k] = (slot, k)
                    if self.tracked:
                        old = self.defined(off + p + k)
                        got = shared.get(id(old))
                        if got is None:
                            got = shared[id(old)] = (old, f_or(old, eq))
                        self.defs[off + p + k] = got[1]
            return
        new = [cell_byte(c) for c in cells]
        hits: dict[int, list[tuple[z3.BoolRef, z3.BitVecRef]]] = {}
        for p in cands:
            eq = mk_eq_num(idx, p)
            for k in range(size):
                hits.setdefault(off + p + k, []).append((eq, new[k]))
        for b, hs in hits.items():
            old = self.cell(b)
            conds = [c for c, _ in hs] + [True]
            self.cells[b] = (ite_chain(conds, [v for _, v in hs] + [cell_byte(old)]), 0)
            if self.tracked:
                hit = mk_or(*conds[:-1]) if len(conds) > 2 else conds[0]
                self.defs[b] = f_or(self.defined(b), hit)

    def load_indexed(self, off: int, idx: z3.BitVecRef, cands: list[int],
                     size: int) -> tuple[z3.BitVecRef, Flag]:
        """A load at off + idx, idx one of `cands` (which the path guarantees)."""
        conds: list[Flag] = []
        vals, defs = [], []
        for n, p in enumerate(cands):
            v, d = self.load(off + p, size)
            eq = mk_eq_num(idx, p)
            # this arm is taken only where idx == p (the last one too: the path keeps idx
            # among cands), so what a store at the same index wrote there is read back
            # exactly: its slot If(idx == p, w, old) is w, its flag Or(old, idx == p) True
            vals.append(given(v, eq))
            defs.append(given(d, eq))
            conds.append(eq if n < len(cands) - 1 else True)
        if all(same(v, vals[0]) for v in vals):
            value = vals[0]
        else:
            value = ite_chain(conds, vals)
        return value, flag_chain(conds, defs)


def given(e, c: z3.BoolRef, budget: int = 64):
    """e where the condition c holds, as far as it shows in e's top-level structure: an If
    on c is its then-arm, a disjunction with c among its disjuncts (through nested Ors,
    Ands and Ifs of such) is True.  Exact under c; otherwise e unchanged."""
    left = [budget]

    def walk(x):
        if isinstance(x, bool) or left[0] <= 0:
            return x
        left[0] -= 1
        k = x.decl().kind()
        if k == z3.Z3_OP_ITE:
            a0 = x.arg(0)
            if a0.eq(c):
                return x.arg(1)
            if not isinstance(x, z3.BoolRef):
                return x
            t, f = walk(x.arg(1)), walk(x.arg(2))
            return True if t is True and f is True else x
        if k == z3.Z3_OP_OR:
            kids = x.children()
            if any(y.eq(c) for y in kids) or any(walk(y) is True for y in kids):
                return True
            return x
        if k == z3.Z3_OP_AND:
            kids = x.children()
            got = [walk(y) for y in kids]
            if all(g is True for g in got):
                return True
            return x
        return x
    return walk(e)


def merge_memories(conds: list[Flag], mems: list[Memory]) -> Memory:
    m0 = mems[0]
    if all(m is m0 for m in mems):
        return m0
    if all(m.base is m0.base for m in mems):
        keys: set[int] = set()
        for m in mems:
            keys |= m.cells.keys()
            keys |= m.defs.keys()
        out = Memory(m0.size, m0.base, m0.tracked)
    else:                       # different generations (e.g. two APPLYs): every byte
        keys = set(range(m0.size))
        out = Memory(m0.size, _never_base, m0.tracked)
    cache: dict[tuple[int, ...], z3.BitVecRef] = {}
    for b in sorted(keys):
        cells = [m.cell(b) for m in mems]
        c0 = cells[0]
        if all(c is c0 or (c[0] is c0[0] and c[1] == c0[1]) for c in cells):
            out.cells[b] = c0
        elif all(c[1] == c0[1] and c[0].size() == c0[0].size() for c in cells):
            ids = tuple(id(c[0]) for c in cells)
            e = cache.get(ids)
            if e is None:
                e = cache[ids] = ite_chain(conds, [c[0] for c in cells])
            out.cells[b] = (e, c0[1])
        else:
            out.cells[b] = (ite_chain(conds, [cell_byte(c) for c in cells]), 0)
        if m0.tracked:
            out.defs[b] = flag_chain(conds, [m.defined(b) for m in mems])
    return out


def _never_base(b: int) -> Cell:
    raise AssertionError(f"byte {b} of a fully merged memory has no cell")


# ------------------------------------------------------------------ state

RegionKey = tuple[int, int]     # (Region, object id)


class State:
    """Registers (value, defined) and the regions, copy-on-write between forks."""

    def __init__(self, regs: list[z3.BitVecRef], rdef: list[Flag],
                 mems: dict[RegionKey, Memory]):
        self.regs = regs
        self.rdef = rdef
        self.mems = mems
        self.owned: set[RegionKey] = set(mems)

    def fork(self) -> "State":
        other = State(list(self.regs), list(self.rdef), dict(self.mems))
        other.owned = set()
        self.owned = set()
        return other

    def mem(self, key: RegionKey) -> Memory:
        return self.mems[key]

    def mem_w(self, key: RegionKey) -> Memory:
        if key not in self.owned:
            self.mems[key] = self.mems[key].copy()
            self.owned.add(key)
        return self.mems[key]

    def replace(self, key: RegionKey, m: Memory) -> None:
        self.mems[key] = m
        self.owned.add(key)


def _conjuncts(f: Flag) -> list[Flag]:
    """The top-level conjuncts of a path, in order (paths grow by binary f_and)."""
    out: list[Flag] = []
    stack = [f]
    while stack:
        x = stack.pop()
        if not isinstance(x, bool) and z3.is_and(x):
            stack.extend(reversed(x.children()))
        else:
            out.append(x)
    return out


def relative_conds(conds: list[Flag]) -> list[Flag]:
    """The incoming paths of a merge with the conjuncts they all share removed.

    Under the merged path (the disjunction of `conds`) every shared conjunct holds, so
    each relative condition is equivalent to its full path there, and they stay
    exclusive and exhaustive.  Every later use of a merged value is on a path through
    the merge, so the ite chains may select on the relative conditions: the terms are
    smaller (a diamond's merge selects on its branch's own comparison, not on the
    whole path above it) and the abstract interpretation can read that comparison
    to narrow each side (absint.Abs, ITE)."""
    if any(isinstance(c, bool) for c in conds):
        return conds
    parts = [_conjuncts(c) for c in conds]
    shared = set.intersection(*({x.get_id() for x in p} for p in parts))
    if not shared:
        return conds
    out: list[Flag] = []
    for p in parts:
        rest: Flag = True
        for x in p:
            if x.get_id() not in shared:
                rest = f_and(rest, x)
        out.append(rest)
    return out


def merge_states(incoming: list[tuple[Flag, State]]) -> tuple[Flag, State]:
    if len(incoming) == 1:
        return incoming[0]
    full = [c for c, _ in incoming]
    states = [s for _, s in incoming]
    path: Flag = False
    for c in full:
        path = f_or(path, c)
    conds = relative_conds(full)
    regs, rdef = [], []
    for r in range(len(states[0].regs)):
        vals = [s.regs[r] for s in states]
        v0 = vals[0]
        regs.append(v0 if all(same(v, v0) for v in vals) else ite_chain(conds, vals))
        flags = [s.rdef[r] for s in states]
        rdef.append(flags[0] if all(f_same(f, flags[0]) for f in flags) else
                    flag_chain(conds, flags))
    mems = {k: merge_memories(conds, [s.mems[k] for s in states]) for k in states[0].mems}
    st = State(regs, rdef, mems)
    st.owned = {k for k in mems if all(mems[k] is not s.mems[k] for s in states)}
    return path, st
