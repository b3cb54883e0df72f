"""Lowering: the checked AST -> IR over virtual registers.

Conventions the generated code keeps (the verifier and the engines rely on none
of them, but they make the code easy to read in `rmtc dump`):
- a register holding a value of type T is canonical: zero-extended when T is
  unsigned, sign-extended when signed, 0/1 for bool; arithmetic narrower than
  64 bits is followed by ZEXT/SEXT;
- scalar locals live in virtual registers, arrays in scratch -- except an array
  that is the only argument ever passed to a model, which lives in that model's
  MIN region, and the result of a model called from one place, which stays in
  its MOUT region: model inputs and outputs are then never copied
  (`model_homes()`);
- the decision lives in one virtual register, DEFAULT (-1) until decided;
- tables are applied with their key fields stored as u64s in a scratch key
  buffer; the matched action's code is inlined after the APPLY, selected by a
  chain of compares on the action index;
- array accesses with a constant in-range index use a constant address; all
  others are indexed accesses whose limit is the array's size in bytes, so an
  out-of-range index aborts at run time (and the verifier says where); the index
  is clamped to the element count before it is scaled to a byte offset, so the
  scaling cannot wrap into a valid offset (2^62 + 3 does not read element 3).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator, Optional

from rmt.contract import objfile as O
from rmt.compiler.fold import fold, wrap
from rmt.compiler.ir import IrInsn, IrProgram, Label
from rmt.contract.isa import HELPER_BY_NAME, Region, mem_imm
from rmt.contract.objformat import (LIMITS, Activation, GuardKind, LayerKind, MapKind, MatchKind,
                                ModelKind)
from rmt.lang import ast as A
from rmt.contract.hooks import DEFAULT_DECISION, HookSpec

KEYBUF_SIZE = 8 * 8
TRACEBUF_SIZE = 16 * 8
STREAK_MAP_SIZE = 4096
TRIPS_MAP = "guard.trips"      # rmt.contract.objfile.Program.trips_map finds it by its guard record

_LOAD = {(8, False): "LDU8", (16, False): "LDU16", (32, False): "LDU32", (64, False): "LD64",
         (8, True): "LDS8", (16, True): "LDS16", (32, True): "LDS32", (64, True): "LD64"}
_STORE = {8: "ST8", 16: "ST16", 32: "ST32", 64: "ST64"}
_ARITH = {"+": "ADD", "-": "SUB", "*": "MUL", "&": "AND", "|": "OR", "^": "XOR", "<<": "SHL"}
_REL_U = {"==": "JEQ", "!=": "JNE", "<": "JLT", "<=": "JLE", ">": "JGT", ">=": "JGE"}
_REL_S = {"==": "JEQ", "!=": "JNE", "<": "JSLT", "<=": "JSLE", ">": "JSGT", ">=": "JSGE"}
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "&=": "&", "|=": "|",
             "^=": "^", "<<=": "<<", ">>=": ">>"}


class LowerError(Exception):
    def __init__(self, span: A.Span, msg: str):
        super().__init__(msg)
        self.span = span


def int_type(ty: Optional[A.Type]) -> A.IntT:
    """The integer type a value is held in (bool and literals count as u8 / i64)."""
    if isinstance(ty, A.IntT):
        return ty
    if isinstance(ty, A.BoolT):
        return A.IntT(8, False)
    return A.IntT(64, True)


def type_by_name(name: str) -> A.IntT:
    if name == "bool":
        return A.IntT(8, False)
    return A.IntT(int(name[1:]), name[0] == "i")


def fits_s32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


@dataclass
class ArraySlot:
    """A local array: in scratch, or in a model's MIN or MOUT region (object `obj`)."""
    offset: int
    elem: A.IntT
    n: int
    region: Region = Region.SCRATCH
    obj: int = 0

    @property
    def size(self) -> int:
        return self.elem.bits // 8 * self.n


_NOT_CODE = frozenset({"span", "ty", "sym", "const", "to"})


def _nodes(node: object) -> Iterator[object]:
    """Every AST node under `node` (itself included), through lists and dataclass fields."""
    yield node
    if isinstance(node, list):
        for x in node:
            yield from _nodes(x)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            if f.name not in _NOT_CODE:
                yield from _nodes(getattr(node, f.name))


@dataclass(frozen=True)
class ModelHomes:
    """Where model arguments and results live (see the module doc).

    inputs: id(array LocalSym) -> the model whose MIN region holds the array: it is the only
        array ever passed to that model (declared by a `let` with no model or array
        initialiser), so the call needs no copy;
    outputs: models called from exactly one place: their result is read from MOUT directly.
    """
    inputs: dict[int, int]
    outputs: frozenset[int]


def model_homes(bodies: list[A.Block], model_index: dict[str, int]) -> ModelHomes:
    """Scan the code (apply and action bodies) for model calls; see ModelHomes."""
    args: dict[int, set[int]] = {}            # model -> ids of the arrays passed to it
    sites: dict[int, int] = {}
    fresh: set[int] = set()                   # arrays whose let makes a fresh zeroed slot
    for n in _nodes(bodies):
        if isinstance(n, A.Call) and n.kind == "model":
            m = model_index[n.func]
            sites[m] = sites.get(m, 0) + 1
            a = n.args[0] if n.args else None
            sym = a.sym if isinstance(a, A.Name) else None
            args.setdefault(m, set()).add(id(sym) if sym is not None else -1)
        elif isinstance(n, A.Let) and n.sym is not None and isinstance(n.sym.ty, A.ArrayT):
            if not (isinstance(n.init, A.Call) and n.init.kind == "model") and \
                    not (isinstance(n.init, A.Name) and isinstance(n.init.ty, A.ArrayT)):
                fresh.add(id(n.sym))
    inputs: dict[int, int] = {}
    for m in sorted(args):
        only = next(iter(args[m])) if len(args[m]) == 1 else -1
        if only in fresh and only not in inputs:
            inputs[only] = m
    return ModelHomes(inputs, frozenset(m for m, k in sites.items() if k == 1))


class Lowerer:
    """Lowers one checked program; `run()` returns the IR and the object's schemas."""

    def __init__(self, prog: A.Program, hook: HookSpec, source: str):
        self.prog, self.hook, self.source = prog, hook, source
        self.ir = IrProgram()
        self.span = A.NOSPAN
        self.loops: dict[int, int] = {}            # id(LoopSym) -> current value
        self.regs: dict[int, int] = {}             # id(LocalSym) -> vreg
        self.arrays: dict[int, ArraySlot] = {}     # id(LocalSym) -> slot
        self.table_ctx: Optional[int] = None       # table whose PARAMS the action reads
        self.action_ctx: Optional[O.Action] = None
        self.scratch = 0
        self.keybuf: Optional[int] = None
        self.tracebuf: Optional[int] = None
        self.symbols: list[O.Symbol] = []
        self.traces: list[O.TraceFmt] = []
        self.guards: list[O.Guard] = []
        self.trips_map = -1
        self.actions = {a.name: a for a in prog.of(A.ActionDecl)}
        self.table_decls = prog.of(A.TableDecl)
        self.table_index = {t.name: i for i, t in enumerate(self.table_decls)}
        self.model_decls = prog.of(A.ModelDecl)
        self.model_index = {m.name: i for i, m in enumerate(self.model_decls)}
        self.maps = [self._map(m) for m in prog.of(A.MapDecl)]
        self.map_index = {m.name: i for i, m in enumerate(self.maps)}
        self.models = [self._model(m) for m in self.model_decls]
        self.tables = [self._table(t) for t in self.table_decls]
        bodies = [d.body for d in prog.of(A.ApplyDecl)] + [a.body for a in self.actions.values()]
        self.homes = model_homes(bodies, self.model_index)
        self.homed: set[int] = set()               # models whose MIN holds an array already

    # ------------------------------------------------------------ emission helpers

    def vreg(self) -> int:
        self.ir.nvregs += 1
        return self.ir.nvregs - 1

    def emit(self, op: str, dst: Optional[int] = None, src: Optional[int] = None, off: int = 0,
             imm: int = 0, target: Optional[Label] = None) -> None:
        self.ir.insns.append(IrInsn(op, dst, src, off, imm, target, self.span))

    def place(self, label: Label) -> None:
        label.placed = True
        self.ir.insns.append(IrInsn("LABEL", target=label, span=self.span))

    def alloc(self, size: int, align: int = 8) -> int:
        off = (self.scratch + align - 1) // align * align
        self.scratch = off + size
        return off

    def const(self, value: int) -> int:
        r = self.vreg()
        self.load_const(r, value)
        return r

    def load_const(self, r: int, value: int) -> None:
        value = wrap(value, A.IntT(64, True))
        self.emit("MOV_I", r, imm=wrap(value, A.IntT(32, True)))
        if not fits_s32(value):
            self.emit("LDHI", r, imm=wrap(value >> 32, A.IntT(32, True)))

    def canon(self, r: int, ty: Optional[A.Type]) -> None:
        t = int_type(ty)
        if t.bits < 64:
            self.emit("SEXT" if t.signed else "ZEXT", r, imm=t.bits)

    def at(self, node) -> "_SpanScope":
        return _SpanScope(self, getattr(node, "span", A.NOSPAN))

    def error(self, node, msg: str) -> LowerError:
        return LowerError(getattr(node, "span", self.span), msg)

    # ------------------------------------------------------------ schemas

    def _map(self, m: A.MapDecl) -> O.Map:
        size = self._const_of(m.size)
        if m.kind == "counter":
            return O.Map(m.name, MapKind.COUNTER, 32, 64, size, m.percpu, m.private)
        value = type_by_name(m.value.name)
        if m.kind == "array":
            return O.Map(m.name, MapKind.ARRAY, 32, value.bits, size, m.percpu, m.private)
        return O.Map(m.name, MapKind.HASH, type_by_name(m.key.name).bits, value.bits, size,
                     m.percpu, m.private)

    def _model(self, m: A.ModelDecl) -> O.Model:
        args = {a.name: a.value for a in m.args}
        n_in, n_out = self._const_of(args["in"]), self._const_of(args["out"])
        wbits = type_by_name(args["weight"].name).bits if "weight" in args else 16
        lo, hi = (-(1 << 31), (1 << 31) - 1)
        if "input" in args:
            lo, hi = (self._const_of(x) for x in args["input"])
        kind = {"mlp": ModelKind.MLP, "tree": ModelKind.TREE, "forest": ModelKind.FOREST,
                "linear": ModelKind.LINEAR}[m.kind]
        model = O.Model(m.name, kind, n_in, n_out, wbits, in_lo=lo, in_hi=hi,
                        max_abs_weight=self._const_of(args["max_weight"]) if "max_weight" in args
                        else 0)
        if kind == ModelKind.LINEAR:
            model.layers = [O.Layer(LayerKind.DENSE, Activation.NONE, n_in, n_out)]
        elif kind == ModelKind.MLP:
            width, ch = n_in, 1
            for ly in m.layers:
                largs = {a.name: a.value for a in ly.args}
                act = Activation.RELU if ly.activation == "relu" else Activation.NONE
                if ly.kind == "dense":
                    n = self._const_of(largs["out"])
                    model.layers.append(O.Layer(LayerKind.DENSE, act, width, n))
                    width, ch = n, 1
                else:
                    c, k = self._const_of(largs["channels"]), self._const_of(largs["kernel"])
                    n = (width // ch - k + 1) * c
                    model.layers.append(O.Layer(LayerKind.CONV1D, act, width, n, ch, c, k))
                    width, ch = n, c
        else:
            model.depth = self._const_of(args["depth"])
            model.trees = self._const_of(args["trees"]) if kind == ModelKind.FOREST else 1
        return model

    def _table(self, t: A.TableDecl) -> O.Table:
        keys = []
        for k in t.keys:
            keys.append(O.Key(self._key_name(k.expr), MatchKind[k.match.upper()],
                              int_type(k.expr.ty).bits))
        actions = [self._action_schema(self.actions[r.name]) for r in t.actions]
        default, params = 0, b""
        if t.default is not None:
            default = [r.name for r in t.actions].index(t.default.name)
            act = actions[default]
            buf = bytearray(max(act.param_size, 1))
            for p, arg in zip(act.params, t.default.args):
                v = self._const_of(arg) & ((1 << p.bits) - 1)
                buf[p.offset:p.offset + p.bits // 8] = v.to_bytes(p.bits // 8, "little")
            params = bytes(buf[:act.param_size])
        return O.Table(t.name, keys, actions, self._const_of(t.size), default, params)

    def _action_schema(self, a: A.ActionDecl) -> O.Action:
        params, off = [], 0
        for p in a.params:
            ty = type_by_name(p.type.name)
            size = ty.bits // 8
            off = (off + size - 1) // size * size
            params.append(O.Param(p.name, off, ty.bits, ty.signed))
            off += size
        return O.Action(a.name, params)

    def _key_name(self, e: A.Expr) -> str:
        if isinstance(e, A.CtxField):
            return e.name
        s = e.span
        if s.line and s.line == s.end_line:
            lines = self.source.splitlines()
            if s.line <= len(lines):
                return lines[s.line - 1][s.col - 1:s.end_col - 1]
        return "key"

    def _const_of(self, e) -> int:
        v = fold(e, self.loops) if isinstance(e, A.Expr) else None
        if v is None:
            raise self.error(e, "expected a constant expression")
        return v

    # ------------------------------------------------------------ program

    def run(self) -> IrProgram:
        with self.at(self.prog.of(A.ApplyDecl)[0]):
            self.decision = self.vreg()
            self.load_const(self.decision, DEFAULT_DECISION)
        for apply in self.prog.of(A.ApplyDecl):
            self.block(apply.body)
        rules = [rule for g in self.prog.of(A.GuardDecl) for rule in g.rules]
        if rules:
            # One per-CPU counter the control plane reads as `guard_trips` (rmtctl stats):
            # how many runs a guard turned to DEFAULT, apart from the program's own DEFAULTs
            # and aborts.  A trip depends only on the decision the guard replaces (and a
            # streak), so the verifier checks it as part of the decision channel.
            self.trips_map = len(self.maps)
            self.maps.append(O.Map(TRIPS_MAP, MapKind.COUNTER, 32, 64, 1, percpu=True))
            self.guards.append(O.Guard(GuardKind.TRIPS, 0, 0, self.trips_map))
        for rule in rules:
            with self.at(rule):
                self.guard(rule)
        self.emit("EXIT", src=self.decision)
        self.ir.scratch_used = self.scratch
        return self.ir

    def guard(self, rule) -> None:
        d = self.decision
        if isinstance(rule, A.GuardAllow):
            values = [self._const_of(v) for v in rule.values]
            ok = Label("guard_ok")
            self.emit("JEQ_I", d, imm=DEFAULT_DECISION, target=ok)
            for v in values:
                self.guards.append(O.Guard(GuardKind.ALLOW, v))
                if fits_s32(v):
                    self.emit("JEQ_I", d, imm=v, target=ok)
                else:
                    self.emit("JEQ_R", d, self.const(v), target=ok)
            self.load_const(d, DEFAULT_DECISION)
            self.count_trip()
            self.place(ok)
            return
        value, limit = self._const_of(rule.value), self._const_of(rule.limit)
        key_ty = int_type(rule.key.ty)
        map_id = len(self.maps)
        # private: the guard's state is keyed by whatever the rule names (often ctx.pid)
        self.maps.append(O.Map(f"guard.streak{map_id}", MapKind.HASH, key_ty.bits, 32,
                               STREAK_MAP_SIZE, private=True))
        self.guards.append(O.Guard(GuardKind.MAX_STREAK, value, limit, map_id))
        key = self.value(rule.key)
        streak = self.vreg()
        other, store = Label("streak_other"), Label("streak_store")
        self.emit("JNE_I", d, imm=value, target=other)
        self.emit("MAP_LD", streak, key, imm=map_id)
        self.emit("ADD_I", streak, imm=1)
        self.emit("JLE_I", streak, imm=limit, target=store)
        self.load_const(d, DEFAULT_DECISION)
        self.count_trip()
        self.place(other)
        self.emit("MOV_I", streak, imm=0)
        self.place(store)
        self.emit("MAP_ST", key, streak, imm=map_id)

    def count_trip(self) -> None:
        """Count a guard trip in the trips map (at most one per run: once a guard has
        replaced the decision with DEFAULT, no later guard can trip)."""
        self.emit("MAP_ADD", self.const(0), self.const(1), imm=self.trips_map)

    # ------------------------------------------------------------ statements

    def block(self, b: A.Block) -> None:
        for s in b.stmts:
            with self.at(s):
                self.stmt(s)

    def stmt(self, s: A.Stmt) -> None:
        if isinstance(s, A.Block):
            self.block(s)
        elif isinstance(s, A.Let):
            self.let(s)
        elif isinstance(s, A.Assign):
            self.assign(s)
        elif isinstance(s, A.If):
            self.if_(s)
        elif isinstance(s, A.For):
            lo, hi = self._const_of(s.lo), self._const_of(s.hi)
            for i in range(lo, hi):
                self.loops[id(s.sym)] = i
                self.block(s.body)
            self.loops.pop(id(s.sym), None)
        elif isinstance(s, A.Decide):
            v = fold(s.value, self.loops)
            if v is not None:
                self.load_const(self.decision, v)
            else:
                r, _ = self.operand(s.value)
                self.emit("MOV_R", self.decision, r)
        elif isinstance(s, A.Trace):
            self.trace(s)
        elif isinstance(s, A.ApplyTable):
            self.apply_table(s)
        elif isinstance(s, A.ExprStmt):
            if isinstance(s.expr, A.Call) and s.expr.kind == "model":
                self.model_call(s.expr)
            else:
                self.operand(s.expr)
        else:
            raise self.error(s, f"cannot compile statement {type(s).__name__}")

    def let(self, s: A.Let) -> None:
        sym = s.sym
        if isinstance(sym.ty, A.ArrayT):
            if s.init is not None and isinstance(s.init, A.Call) and s.init.kind == "model":
                slot = self.model_call(s.init)
            elif s.init is not None and isinstance(s.init, A.Name) \
                    and id(s.init.sym) in self.arrays:
                src = self.arrays[id(s.init.sym)]
                slot = ArraySlot(self.alloc(src.size), src.elem, src.n)
                self._copy(src.region, src.offset, Region.SCRATCH, slot.offset, src.elem,
                           src.n, sobj=src.obj)
            elif self.homes.inputs.get(id(sym), -1) not in (-1, *self.homed) and \
                    sym.ty.elem == A.IntT(32, True) and \
                    sym.ty.n == self.models[self.homes.inputs[id(sym)]].n_in:
                # the model's input: MIN is zeroed at the start of a run like scratch, and
                # only this let's first lowering lives there (a let lowered again -- in an
                # unrolled loop, an action applied twice -- gets a fresh zeroed slot)
                mi = self.homes.inputs[id(sym)]
                self.homed.add(mi)
                slot = ArraySlot(0, sym.ty.elem, sym.ty.n, Region.MIN, mi)
            else:
                slot = ArraySlot(self.alloc(sym.ty.elem.bits // 8 * sym.ty.n), sym.ty.elem,
                                 sym.ty.n)
                if s.init is not None:
                    v = self.value(s.init)
                    for i in range(slot.n):
                        self.emit(_STORE[slot.elem.bits], v, None, slot.offset + i *
                                  slot.elem.bits // 8, mem_imm(slot.region, slot.obj))
            self.arrays[id(sym)] = slot
            if slot.region == Region.SCRATCH:      # SYMBOLS name scratch variables
                self.symbols.append(O.Symbol(s.name, slot.offset, slot.size, slot.elem.bits,
                                             slot.elem.signed))
            return
        if s.init is not None and fold(s.init, self.loops) is None:
            r, owned = self.operand(s.init)
            if not owned:                             # another local: copy, never alias
                r, src = self.vreg(), r
                self.emit("MOV_R", r, src)
            self.regs[id(sym)] = r
            return
        r = self.vreg()
        self.regs[id(sym)] = r
        # a scalar without an initializer is 0 (a register may hold an older value)
        self.into(r, s.init) if s.init is not None else self.load_const(r, 0)

    def into(self, r: int, e: A.Expr) -> None:
        """Evaluate e into the existing register r."""
        v = fold(e, self.loops)
        if v is not None:
            self.load_const(r, v)
            return
        src, _ = self.operand(e)
        self.emit("MOV_R", r, src)

    def assign(self, s: A.Assign) -> None:
        t = s.target
        op = _COMPOUND.get(s.op)
        if isinstance(t, A.Name) and isinstance(t.sym, A.LocalSym):
            r = self.regs[id(t.sym)]
            if op is None:
                self.into(r, s.value)
            else:
                self.binop_into(r, op, s.value, t.ty, signed_ty=t.ty)
            return
        if isinstance(t, A.Index) and t.target == "map":
            m = self.map_index[t.base.id]
            key = self.value(t.index)
            if s.op == "+=":
                self.emit("MAP_ADD", key, self.value(s.value), imm=m)
                return
            if op is None:
                val = self.value(s.value)
            else:
                val = self.map_load(t.base.id, key, t.ty)
                self.binop_into(val, op, s.value, t.ty, signed_ty=t.ty)
            self.emit("MAP_ST", key, val, imm=m)
            return
        where = self.address(t)
        if op is None:
            val = self.value(s.value)
        else:
            val = self.load(where, t.ty)
            self.binop_into(val, op, s.value, t.ty, signed_ty=t.ty)
        self.store(where, val, t.ty)

    def if_(self, s: A.If) -> None:
        c = fold(s.cond, self.loops)
        if c is not None:
            if c:
                self.block(s.then)
            elif s.orelse is not None:
                self.stmt(s.orelse)
            return
        orelse, end = Label("else"), Label("endif")
        self.branch(s.cond, orelse if s.orelse is not None else end, False)
        self.block(s.then)
        if s.orelse is not None:
            self.emit("JA", target=end)
            self.place(orelse)
            with self.at(s.orelse):
                self.stmt(s.orelse)
        self.place(end)

    def trace(self, s: A.Trace) -> None:
        if self.tracebuf is None:
            self.tracebuf = self.alloc(TRACEBUF_SIZE)
        fields = []
        for i, arg in enumerate(s.args):
            ty = int_type(arg.expr.ty)
            fields.append(O.TraceField(arg.name, ty.bits, ty.signed))
            v = self.value(arg.expr)
            self.emit("ST64", v, None, self.tracebuf + 8 * i, mem_imm(Region.SCRATCH))
        # one format per trace statement (and field types), however often it is unrolled
        where = self.action_ctx.name if self.action_ctx else "apply"
        fmt = O.TraceFmt(f"{where}@{s.span.line}", fields)
        if fmt not in self.traces:
            if len(self.traces) == LIMITS["MAX_TRACES"]:
                raise self.error(s, f"more than {LIMITS['MAX_TRACES']} distinct trace formats")
            self.traces.append(fmt)
        self.emit("TRACE", off=self.tracebuf, imm=self.traces.index(fmt))

    def apply_table(self, s: A.ApplyTable) -> None:
        ti = self.table_index[s.table]
        decl, table = self.table_decls[ti], self.tables[ti]
        if self.keybuf is None:
            self.keybuf = self.alloc(KEYBUF_SIZE)
        for i, k in enumerate(decl.keys):
            with self.at(k):
                v = self.value(k.expr)
                self.emit("ST64", v, None, self.keybuf + 8 * i, mem_imm(Region.SCRATCH))
        act = self.vreg()
        self.emit("APPLY", act, off=self.keybuf, imm=ti)
        end = Label(f"{s.table}_end")
        saved = self.table_ctx, self.action_ctx
        for i, ref in enumerate(decl.actions):
            nxt = Label(f"{s.table}_not_{ref.name}")
            last = i == len(decl.actions) - 1
            if not last:
                self.emit("JNE_I", act, imm=i, target=nxt)
            self.table_ctx, self.action_ctx = ti, table.actions[i]
            self.block(self.actions[ref.name].body)
            if not last:
                self.emit("JA", target=end)
                self.place(nxt)
        self.table_ctx, self.action_ctx = saved
        self.place(end)

    # ------------------------------------------------------------ memory

    def address(self, e: A.Expr) -> tuple:
        """(region, obj, const offset, index vreg or None, limit, elem type) of an lvalue."""
        if isinstance(e, A.CtxField):
            f = self.hook.field(e.name)
            return (Region.CTX, 0, self.hook.layout[e.name], None, 0, int_type(e.ty))
        if isinstance(e, A.Index):
            elem = int_type(e.ty)
            size = elem.bits // 8
            if e.target == "ctx":
                f = self.hook.field(e.base.name)
                region, obj, base, n = Region.CTX, 0, self.hook.layout[f.name], f.count
            else:
                slot = self.model_call(e.base) if e.target == "model" \
                    else self.arrays[id(e.base.sym)]
                region, obj, base, n = slot.region, slot.obj, slot.offset, slot.n
            i = fold(e.index, self.loops)
            if i is not None and 0 <= i < n:
                return (region, obj, base + i * size, None, 0, elem)
            idx = self.owned(e.index)
            shift = size.bit_length() - 1
            if shift:
                # The run-time check compares the scaled offset; scaling an index of 2^62 + 3
                # would wrap to a valid slot.  Clamp first (unsigned: a negative index too):
                # an index >= n becomes n, whose offset n * size fails the check and aborts.
                ok = Label("index_ok")
                self.emit("JLT_I", idx, imm=n, target=ok)
                self.emit("MOV_I", idx, imm=n)
                self.place(ok)
                self.emit("SHL_I", idx, imm=shift)
            return (region, obj, base, idx, n * size, elem)
        raise self.error(e, "not an assignable location")

    def load(self, where: tuple, ty: Optional[A.Type]) -> int:
        region, obj, off, idx, limit, elem = where
        r = self.vreg()
        self.emit(_LOAD[(elem.bits, elem.signed)], r, idx, off, mem_imm(region, obj, limit))
        return r

    def store(self, where: tuple, val: int, ty: Optional[A.Type]) -> None:
        region, obj, off, idx, limit, elem = where
        self.emit(_STORE[elem.bits], val, idx, off, mem_imm(region, obj, limit))

    def _copy(self, rs: Region, so: int, rd: Region, do: int, elem: A.IntT, n: int,
              sobj: int = 0, dobj: int = 0) -> None:
        t = self.vreg()
        size = elem.bits // 8
        for i in range(n):
            self.emit(_LOAD[(elem.bits, elem.signed)], t, None, so + i * size, mem_imm(rs, sobj))
            self.emit(_STORE[elem.bits], t, None, do + i * size, mem_imm(rd, dobj))

    def map_load(self, name: str, key: int, ty: Optional[A.Type]) -> int:
        """MAP_LD zero-extends the stored value_bits; a signed value type needs SEXT."""
        r = self.vreg()
        self.emit("MAP_LD", r, key, imm=self.map_index[name])
        if int_type(ty).signed:
            self.canon(r, ty)
        return r

    def model_call(self, c: A.Call) -> ArraySlot:
        mi = self.model_index[c.func]
        m = self.models[mi]
        arg = c.args[0]
        src = self.arrays[id(arg.sym)]
        i32 = A.IntT(32, True)
        if (src.region, src.obj) != (Region.MIN, mi):
            self._copy(src.region, src.offset, Region.MIN, 0, i32, m.n_in, sobj=src.obj,
                       dobj=mi)
        self.emit("CALLM", imm=mi)
        if mi in self.homes.outputs:
            # called from one place: nothing else overwrites MOUT while the result is in scope
            return ArraySlot(0, i32, m.n_out, Region.MOUT, mi)
        out = ArraySlot(self.alloc(4 * m.n_out), i32, m.n_out)
        self._copy(Region.MOUT, 0, Region.SCRATCH, out.offset, i32, m.n_out, sobj=mi)
        return out

    # ------------------------------------------------------------ expressions

    def value(self, e: A.Expr) -> int:
        return self.operand(e)[0]

    def owned(self, e: A.Expr) -> int:
        """A register holding e's value that the caller may overwrite."""
        r, own = self.operand(e)
        if own:
            return r
        t = self.vreg()
        self.emit("MOV_R", t, r)
        return t

    def operand(self, e: A.Expr) -> tuple[int, bool]:
        """(register, owned): e's value in a register; not owned registers are locals."""
        with self.at(e):
            v = fold(e, self.loops)
            if v is not None:
                return self.const(v), True
            if isinstance(e, A.Name):
                s = e.sym
                if isinstance(s, A.LocalSym):
                    return self.regs[id(s)], False
                if isinstance(s, A.ParamSym):
                    p = self.action_ctx.params[s.index]
                    r = self.vreg()
                    self.emit(_LOAD[(p.bits, p.signed)], r, None, p.offset,
                              mem_imm(Region.PARAMS, self.table_ctx))
                    return r, True
                raise self.error(e, f"'{e.id}' has no value here")
            if isinstance(e, (A.CtxField, A.Index)):
                if isinstance(e, A.Index) and e.target == "map":
                    return self.map_load(e.base.id, self.value(e.index), e.ty), True
                return self.load(self.address(e), e.ty), True
            if isinstance(e, A.Unary):
                return self.unary(e), True
            if isinstance(e, A.Binary):
                return self.binary(e), True
            if isinstance(e, A.Cast):
                r = self.owned(e.expr)
                src_t, dst_t = int_type(e.expr.ty), int_type(e.ty)
                if isinstance(e.ty, A.BoolT):
                    done = Label("tobool")
                    self.emit("JEQ_I", r, imm=0, target=done)
                    self.emit("MOV_I", r, imm=1)
                    self.place(done)
                elif dst_t.bits < src_t.bits or (dst_t.bits == src_t.bits
                                                  and dst_t.signed != src_t.signed):
                    self.canon(r, dst_t)
                elif dst_t.bits > src_t.bits and src_t.signed and not dst_t.signed:
                    self.canon(r, dst_t)              # i8 -1 as u32 is 0xffffffff
                return r, True
            if isinstance(e, A.Call):
                return self.call(e), True
        raise self.error(e, f"cannot compile expression {type(e).__name__}")

    def unary(self, e: A.Unary) -> int:
        if e.op == "!":
            r = self.owned(e.operand)
            self.emit("XOR_I", r, imm=1)
            return r
        r = self.owned(e.operand)
        if e.op == "-":
            self.emit("NEG", r)
        else:
            self.emit("XOR_I", r, imm=-1)
        self.canon(r, e.ty)
        return r

    def binary(self, e: A.Binary) -> int:
        if e.op in _REL_U or e.op in ("&&", "||"):
            r = self.vreg()
            done = Label("bool")
            self.emit("MOV_I", r, imm=1)
            self.branch(e, done, True)
            self.emit("MOV_I", r, imm=0)
            self.place(done)
            return r
        r = self.owned(e.left)
        self.binop_into(r, e.op, e.right, e.ty, signed_ty=e.left.ty)
        return r

    def binop_into(self, r: int, op: str, right: A.Expr, ty, signed_ty) -> None:
        """r = r OP right, canonical in ty; signedness of / % >> from signed_ty."""
        signed = int_type(signed_ty).signed
        name = _ARITH.get(op)
        if op == "/":
            name = "SDIV" if signed else "DIV"
        elif op == "%":
            name = "SMOD" if signed else "MOD"
        elif op == ">>":
            name = "SAR" if signed else "SHR"
        c = fold(right, self.loops)
        usable_imm = c is not None and fits_s32(c) and not (
            name in ("DIV", "SDIV", "MOD", "SMOD") and c == 0) and not (
            name in ("SHL", "SHR", "SAR") and not 0 <= c < 64)
        if usable_imm:
            self.emit(name + "_I", r, imm=c)
        else:
            self.emit(name + "_R", r, self.value(right))
        if op not in ("&", "|", "^", ">>") and not (op in ("/", "%") and not signed):
            self.canon(r, ty)

    def call(self, e: A.Call) -> int:
        if e.kind == "helper":
            h = HELPER_BY_NAME[e.func]
            r = self.vreg()
            src = self.value(e.args[0]) if h.nargs else None
            self.emit("CALL", r, src, imm=h.id)
            return r
        if e.kind == "builtin":
            ty = int_type(e.ty)
            rel = _REL_S if ty.signed else _REL_U
            r = self.owned(e.args[0])
            done = Label(e.func)
            if e.func == "abs":
                self.emit("JSGE_I", r, imm=0, target=done)
                self.emit("NEG", r)
                self.canon(r, ty)
            else:
                keep = "<=" if e.func == "min" else ">="
                c = fold(e.args[1], self.loops)
                if c is not None and fits_s32(c) and (ty.signed or c >= 0):
                    self.emit(rel[keep] + "_I", r, imm=c, target=done)
                    self.load_const(r, c)
                else:
                    b = self.value(e.args[1])
                    self.emit(rel[keep] + "_R", r, b, target=done)
                    self.emit("MOV_R", r, b)
            self.place(done)
            return r
        raise self.error(e, f"'{e.func}' returns an array; index its result or bind it with let")

    # ------------------------------------------------------------ conditions

    def branch(self, e: A.Expr, target: Label, when: bool) -> None:
        """Jump to target when e's truth equals `when`; fall through otherwise."""
        with self.at(e):
            c = fold(e, self.loops)
            if c is not None:
                if bool(c) == when:
                    self.emit("JA", target=target)
                return
            if isinstance(e, A.Unary) and e.op == "!":
                self.branch(e.operand, target, not when)
                return
            if isinstance(e, A.Binary) and e.op in ("&&", "||"):
                if (e.op == "&&") == when:
                    skip = Label("sc")
                    self.branch(e.left, skip, not when)
                    self.branch(e.right, target, when)
                    self.place(skip)
                else:
                    self.branch(e.left, target, when)
                    self.branch(e.right, target, when)
                return
            if isinstance(e, A.Binary) and e.op in _REL_U:
                op = e.op if when else _NEGATE[e.op]
                signed = int_type(e.left.ty).signed
                left, right = e.left, e.right
                if fold(left, self.loops) is not None and fold(right, self.loops) is None:
                    left, right, op = right, left, _FLIP[op]
                rel = (_REL_S if signed else _REL_U)[op]
                a = self.value(left)
                c = fold(right, self.loops)
                if c is not None and fits_s32(c) and (signed or c >= 0):
                    self.emit(rel + "_I", a, imm=c, target=target)
                else:
                    self.emit(rel + "_R", a, self.value(right), target=target)
                return
            r = self.value(e)
            self.emit("JNE_I" if when else "JEQ_I", r, imm=0, target=target)


class _SpanScope:
    def __init__(self, low: Lowerer, span: A.Span):
        self.low, self.span, self.saved = low, span, None

    def __enter__(self) -> None:
        self.saved = self.low.span
        if self.span.line:
            self.low.span = self.span

    def __exit__(self, *exc) -> None:
        self.low.span = self.saved
