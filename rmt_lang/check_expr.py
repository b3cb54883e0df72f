"""Typing expressions.

`infer` gives every expression node its `ty` (and `const` when the value is
known at compile time) and resolves names.  An integer literal first gets
`LitT`, an open type; the operator or statement using it then fixes it with
`coerce` (the literal takes the other operand's type, and must fit) or, where
nothing fixes it, with `finalize` (i64, or u64 for values only u64 holds).
After a statement is checked no expression in it is left with `LitT`.

Constant values: literal-only expressions are folded exactly and checked when
their type is fixed; typed ones wrap at their width.  A node with `const` set
is a compile-time constant and the compiler uses that value as is.
"""
from __future__ import annotations

from typing import Callable, Optional

from . import ast as A
from rmt.contract.hooks import Access
from .state import Env
from .suggest import did_you_mean
from .typeref import resolve_int_type, resolve_scalar_type
from .types import BOOL, I32, I64, LIT, U32, U64, default_int, fits, fold_binary, fold_unary, is_int, wrap
from rmt.contract.isa import HELPER_BY_NAME
from rmt.contract.objformat import LIMITS

MAX_MODEL_IO = LIMITS["MAX_MODEL_IO"]

BUILTINS = ("min", "max", "abs")
ARITH = {"+", "-", "*", "/", "%", "&", "|", "^"}
SHIFTS = {"<<", ">>"}
EQUALITY = {"==", "!="}
ORDER = {"<", "<=", ">", ">="}
LOGIC = {"&&", "||"}
# result types of the helpers (contract/isa.py HELPERS); "arg" = the argument's type
HELPER_RESULT = {"ktime_ns": U64, "cpu": U32, "random": "arg", "ilog2": U32}


# ------------------------------------------------------------------ entry points

def infer(env: Env, e: A.Expr) -> Optional[A.Type]:
    """Type `e` (LitT allowed); None after an error was reported."""
    fn = _INFER.get(type(e))
    t = fn(env, e) if fn else None
    e.ty = t
    return t


def scalar(env: Env, e: A.Expr) -> Optional[A.Type]:
    """Type `e`, which must not be an array."""
    t = infer(env, e)
    if isinstance(t, A.ArrayT):
        env.state.error(e.span, f"{_describe(e)} is an array ({t}); index it to get an element")
        return None
    return t


def expect(env: Env, e: A.Expr, want: A.Type, what: str) -> bool:
    """Type `e` as `want` (literals are fixed to it); report `what` must be `want` otherwise."""
    t = infer(env, e)
    if t is None:
        return False
    if isinstance(t, A.LitT):
        if isinstance(want, A.IntT):
            return coerce(env, e, want)
        env.state.error(e.span, f"{what} must be {want}, found an integer")
        return False
    if t != want:
        hint = "; convert it with 'as'" if isinstance(t, A.IntT) and isinstance(want, A.IntT) else ""
        if isinstance(t, A.BoolT) and isinstance(want, A.IntT):
            hint = f"; convert it with 'as {want}'"
        if isinstance(t, A.IntT) and isinstance(want, A.BoolT):
            hint = "; compare it, e.g. 'x != 0'"
        env.state.error(e.span, f"{what} must be {want}, found {t}{hint}")
        return False
    return True


def expect_int(env: Env, e: A.Expr, what: str) -> Optional[A.IntT]:
    """Type `e` as some integer type (a literal becomes i64); report otherwise."""
    t = scalar(env, e)
    if t is None:
        return None
    if isinstance(t, A.LitT):
        return finalize(env, e)
    if not isinstance(t, A.IntT):
        env.state.error(e.span, f"{what} must be an integer, found {t}")
        return None
    return t


def const_int(env: Env, e: A.Expr, what: str, ty: Optional[A.IntT] = None) -> Optional[int]:
    """The value of constant integer expression `e` (typed `ty` if given, else as it is)."""
    ok = expect(env, e, ty, what) if ty is not None else expect_int(env, e, what) is not None
    if not ok:
        return None
    if e.const is None:
        env.state.error(e.span, f"{what} must be a constant")
        return None
    return e.const


def coerce(env: Env, e: A.Expr, t: A.IntT) -> bool:
    """Fix the open type of literal expression `e` to `t`; its value must fit."""
    if not isinstance(e.ty, A.LitT):
        return True
    if e.const is not None and not fits(e.const, t):
        env.state.error(e.span, f"{_literal_words(e)} does not fit in {t}")
        _settle(e, t)
        return False
    _settle(e, t)
    if isinstance(e, A.Call) and e.func == "abs" and not t.signed:
        env.state.error(e.span, f"abs() needs a signed integer, found {t}")
        return False
    return True


def finalize(env: Env, e: A.Expr) -> Optional[A.IntT]:
    """Give a literal expression with no context its default type (i64, or u64)."""
    if not isinstance(e.ty, A.LitT):
        return e.ty if isinstance(e.ty, A.IntT) else None
    t = default_int(e.const)
    if t is None:
        env.state.error(e.span, f"{_literal_words(e)} does not fit in a 64-bit integer")
        _settle(e, I64)
        return None
    coerce(env, e, t)
    return t


def _settle(e: A.Expr, t: A.IntT) -> None:
    """Set type `t` on the open-typed nodes of `e` (children's constants wrap to it)."""
    if not isinstance(e.ty, A.LitT):
        return
    e.ty = t
    if e.const is not None:
        e.const = wrap(e.const, t)
    if isinstance(e, A.Unary):
        _settle(e.operand, t)
    elif isinstance(e, A.Binary):
        _settle(e.left, t)
        _settle(e.right, t)
    elif isinstance(e, A.Call):
        for a in e.args:
            _settle(a, t)


def _literal_words(e: A.Expr) -> str:
    v = e.const
    if isinstance(e, A.IntLit) or (isinstance(e, A.Unary) and isinstance(e.operand, A.IntLit)):
        return f"literal {v}"
    if isinstance(e, A.Name):
        kind = "decision" if isinstance(e.sym, A.DecisionSym) else "constant"
        return f"{kind} '{e.id}' ({v})"
    return f"constant value {v}"


def _describe(e: A.Expr) -> str:
    if isinstance(e, A.Name):
        return f"'{e.id}'"
    if isinstance(e, A.CtxField):
        return f"'ctx.{e.name}'"
    if isinstance(e, A.Call):
        return f"the result of '{e.func}()'"
    return "this expression"


# ------------------------------------------------------------------ leaves

def _int_lit(env: Env, e: A.IntLit) -> A.Type:
    e.const = e.value
    return LIT


def _bool_lit(env: Env, e: A.BoolLit) -> A.Type:
    e.const = int(e.value)
    return BOOL


def _name(env: Env, e: A.Name) -> Optional[A.Type]:
    st = env.state
    sym = env.scope.lookup(e.id) if env.scope else None
    if sym is not None:
        e.sym = sym
        return sym.ty
    if e.id in st.consts:
        sym = e.sym = st.consts[e.id]
        e.const = sym.value
        return LIT if e.id in st.untyped_consts else sym.ty
    decisions = st.decisions()
    if e.id in decisions:
        e.sym = A.DecisionSym(e.id, decisions[e.id])
        e.const = decisions[e.id]
        return LIT
    _unknown_name(env, e)
    return None


def _unknown_name(env: Env, e: A.Name) -> None:
    st = env.state
    kinds = {A.ModelDecl: "model", A.MapDecl: "map", A.TableDecl: "table", A.ActionDecl: "action"}
    decl = st.decls.get(e.id)
    if e.id in st.later_consts:
        st.error(e.span, f"constant '{e.id}' is used before its declaration")
    elif isinstance(decl, A.ModelDecl):
        st.error(e.span, f"model '{e.id}' is not a value; call it: {e.id}(x)")
    elif isinstance(decl, A.MapDecl):
        st.error(e.span, f"map '{e.id}' is not a value; index it: {e.id}[key]")
    elif decl is not None and type(decl) in kinds:
        st.error(e.span, f"{kinds[type(decl)]} '{e.id}' is not a value")
    elif isinstance(decl, A.ConstDecl):
        pass      # declared, but its value is in error: reported once, at the declaration
    else:
        pool = set(st.consts) | set(st.decisions())
        if env.scope:
            pool |= env.scope.visible()
        if env.is_code:
            pool |= set(st.maps)
        st.error(e.span, f"unknown name '{e.id}'" + did_you_mean(e.id, pool))


def ctx_field(env: Env, e: A.CtxField, *, indexed: bool = False, write: bool = False):
    """The hook's field for `ctx.NAME` after the checks every use needs, or None."""
    st = env.state
    if st.spec is None:
        return None                    # the missing hook is reported once, elsewhere
    if env.kind == "const":
        st.error(e.span, f"constant expressions cannot read 'ctx.{e.name}'")
        return None
    f = st.spec.field(e.name)
    if f is None:
        usable = [x.name for x in st.spec.fields if x.access is not Access.NONE]
        st.error(e.span, f"field '{e.name}' is not in the context of hook '{st.hook_name}'"
                 + did_you_mean(e.name, usable))
        return None
    if f.access is Access.NONE:
        st.error(e.span, f"field '{e.name}' of hook '{st.hook_name}' is not accessible to programs")
        return None
    if write and f.access is not Access.READ_WRITE:
        st.error(e.span, f"field '{e.name}' of hook '{st.hook_name}' is read-only")
        return None
    if f.count > 1 and not indexed:
        st.error(e.span, f"field '{e.name}' of hook '{st.hook_name}' is an array of {f.count}; "
                 f"index it: ctx.{e.name}[i]")
        return None
    if f.count == 1 and indexed:
        st.error(e.span, f"field '{e.name}' of hook '{st.hook_name}' is not an array")
        return None
    return f


def _ctx(env: Env, e: A.CtxField) -> Optional[A.Type]:
    f = ctx_field(env, e)
    return A.IntT(f.type.bits, f.type.signed) if f else None


# ------------------------------------------------------------------ indexing

def _index(env: Env, e: A.Index) -> Optional[A.Type]:
    return index_target(env, e, write=False)


def index_target(env: Env, e: A.Index, *, write: bool) -> Optional[A.Type]:
    """Type `base[index]` (for a read, or as the target of an assignment)."""
    st = env.state
    base = e.base
    if isinstance(base, A.CtxField):
        f = ctx_field(env, base, indexed=True, write=write)
        if f is None:
            _index_expr(env, e, None)
            return None
        elem = A.IntT(f.type.bits, f.type.signed)
        base.ty = A.ArrayT(elem, f.count)
        e.target = "ctx"
        return elem if _index_expr(env, e, f.count) else None
    if isinstance(base, A.Name) and not (env.scope and env.scope.lookup(base.id)) \
            and base.id in st.maps and base.id not in st.consts:
        return _map_index(env, e, st.maps[base.id])
    if isinstance(base, A.Call) and base.func in st.models:
        if write:
            st.error(e.span, f"cannot assign to the result of model '{base.func}'")
            return None
        e.target = "model"
    bt = infer(env, base)
    if bt is None:
        _index_expr(env, e, None)
        return None
    if not isinstance(bt, A.ArrayT):
        st.error(base.span, f"{_describe(base)} is not an array; it has type {bt}")
        _index_expr(env, e, None)
        return None
    if not e.target:
        e.target = "local"
    return bt.elem if _index_expr(env, e, bt.n) else None


def _index_expr(env: Env, e: A.Index, n: Optional[int]) -> bool:
    t = expect_int(env, e.index, "an array index")
    if t is None:
        return False
    if n is not None and e.index.const is not None and not 0 <= e.index.const < n:
        env.state.error(e.index.span, f"index {e.index.const} is out of bounds for an array of {n}")
        return False
    return True


def _map_index(env: Env, e: A.Index, m: A.MapDecl) -> Optional[A.Type]:
    st = env.state
    e.target = "map"
    base = e.base
    if not env.is_code:
        st.error(e.span, f"{env.what} may only use ctx fields, constants and operators")
        return None
    if m.kind == "hash" and m.key is not None:
        kt = resolve_int_type(None, m.key)
        ok = kt is not None and expect(env, e.index, kt, f"a key of map '{m.name}'")
    else:
        ok = expect_int(env, e.index, f"an index of map '{m.name}'") is not None
        size = m.size.const if m.size is not None else None
        if ok and size is not None and e.index.const is not None and not 0 <= e.index.const < size:
            st.error(e.index.span, f"index {e.index.const} is out of bounds for map '{m.name}' "
                     f"of {size} entries")
            ok = False
    vt = map_value_type(m)
    base.ty = vt
    return vt if ok else None


def map_value_type(m: A.MapDecl) -> Optional[A.IntT]:
    if m.kind == "counter":
        return U64
    return resolve_int_type(None, m.value) if m.value is not None else None


# ------------------------------------------------------------------ operators

def _unary(env: Env, e: A.Unary) -> Optional[A.Type]:
    st = env.state
    t = scalar(env, e.operand)
    if t is None:
        return None
    if e.op == "!":
        if not isinstance(t, A.BoolT):
            st.error(e.operand.span, f"operator '!' needs a bool operand, found {_tname(t)}; "
                     "for integers use '~' or compare with 0")
            return None
    elif not is_int(t):
        st.error(e.operand.span, f"operator '{e.op}' needs an integer operand, found {t}")
        return None
    if e.operand.const is not None:
        e.const = fold_unary(e.op, e.operand.const, t)
    return t


def _binary(env: Env, e: A.Binary) -> Optional[A.Type]:
    st = env.state
    lt, rt = scalar(env, e.left), scalar(env, e.right)
    if lt is None or rt is None:
        return None
    op = e.op
    if op in LOGIC:
        for side, t in ((e.left, lt), (e.right, rt)):
            if not isinstance(t, A.BoolT):
                st.error(side.span, f"operator '{op}' needs bool operands, found {_tname(t)}")
                return None
        return _fold(e, BOOL)
    if op in EQUALITY and isinstance(lt, A.BoolT) and isinstance(rt, A.BoolT):
        return _fold(e, BOOL)
    for side, t in ((e.left, lt), (e.right, rt)):
        if not is_int(t):
            st.error(side.span, f"operator '{op}' needs integer operands, found {t}")
            return None
    if op in SHIFTS:
        return _shift(env, e, lt, rt)
    t = _unify(env, e, lt, rt)
    if t is None:
        return None
    if op in ("/", "%") and e.right.const == 0:
        st.error(e.right.span, "division by zero")
        return None
    if op in EQUALITY | ORDER:
        if isinstance(t, A.LitT):               # both literal: compare exactly, then settle
            _fold(e, BOOL)
            finalize(env, e.left)
            finalize(env, e.right)
            return BOOL
        return _fold(e, BOOL)
    return _fold(e, t)


def _unify(env: Env, e: A.Binary, lt: A.Type, rt: A.Type) -> Optional[A.Type]:
    """The common type of both operands; a literal side takes the other side's type."""
    if isinstance(lt, A.LitT) and isinstance(rt, A.LitT):
        return LIT
    if isinstance(lt, A.LitT):
        return rt if coerce(env, e.left, rt) else None
    if isinstance(rt, A.LitT):
        return lt if coerce(env, e.right, lt) else None
    if lt != rt:
        env.state.error(e.span, f"operands of '{e.op}' have different types {lt} and {rt}; "
                        "convert one with 'as'")
        return None
    return lt


def _shift(env: Env, e: A.Binary, lt: A.Type, rt: A.Type) -> Optional[A.Type]:
    amount = e.right.const
    if amount is not None and not 0 <= amount < 64:
        env.state.error(e.right.span, f"shift amount {amount} is out of range 0..63")
        return None
    if isinstance(rt, A.LitT) and isinstance(lt, A.IntT):
        coerce(env, e.right, lt)                 # a literal shift amount takes the left's type
    return _fold(e, lt)


def _fold(e: A.Binary, t: A.Type) -> A.Type:
    if e.left.const is not None and e.right.const is not None:
        e.const = fold_binary(e.op, e.left.const, e.right.const, t)
    return t


def _tname(t: A.Type) -> str:
    return "an integer" if isinstance(t, A.LitT) else str(t)


def _cast(env: Env, e: A.Cast) -> Optional[A.Type]:
    st = env.state
    to = resolve_scalar_type(st, e.to)
    t = scalar(env, e.expr)
    if to is None or t is None:
        return None
    if isinstance(to, A.BoolT):
        st.error(e.to.span, "cannot cast to bool; compare with 0 instead")
        return None
    if isinstance(t, A.LitT):
        t = finalize(env, e.expr)
        if t is None:
            return None
    if e.expr.const is not None:
        e.const = wrap(e.expr.const, to)
    return to


# ------------------------------------------------------------------ calls

def _call(env: Env, e: A.Call) -> Optional[A.Type]:
    st = env.state
    if e.func in st.models:
        return _model_call(env, e, st.models[e.func])
    if e.func in BUILTINS:
        return _builtin(env, e)
    if e.func in HELPER_BY_NAME:
        return _helper(env, e)
    pool = list(BUILTINS) + (list(st.models) + _helpers_here(env) if env.is_code else [])
    st.error(e.span, f"unknown function '{e.func}'" + did_you_mean(e.func, pool))
    for a in e.args:
        infer(env, a)
    return None


def _arity(env: Env, e: A.Call, n: int) -> bool:
    if len(e.args) != n:
        s = "" if n == 1 else "s"
        env.state.error(e.span, f"'{e.func}' takes {n} argument{s}, found {len(e.args)}")
        return False
    return True


def _builtin(env: Env, e: A.Call) -> Optional[A.Type]:
    e.kind = "builtin"
    st = env.state
    n = 1 if e.func == "abs" else 2
    if not _arity(env, e, n):
        return None
    ts = [scalar(env, a) for a in e.args]
    if None in ts:
        return None
    for a, t in zip(e.args, ts):
        if not is_int(t):
            st.error(a.span, f"'{e.func}' needs integer arguments, found {t}")
            return None
    if n == 2:
        fake = A.Binary(e.func, e.args[0], e.args[1], span=e.span)
        t = _unify(env, fake, ts[0], ts[1])
        if t is None:
            return None
        if e.args[0].const is not None and e.args[1].const is not None:
            a, b = e.args[0].const, e.args[1].const
            e.const = min(a, b) if e.func == "min" else max(a, b)
        return t
    t = ts[0]
    if isinstance(t, A.IntT) and not t.signed:
        st.error(e.args[0].span, f"abs() needs a signed integer, found {t}")
        return None
    if e.args[0].const is not None:
        e.const = abs(e.args[0].const) if isinstance(t, A.LitT) else wrap(abs(e.args[0].const), t)
    return t


def _helpers_here(env: Env) -> list[str]:
    spec = env.state.spec
    if spec is None:
        return []
    return [h.name for h in HELPER_BY_NAME.values()
            if h.name in spec.helpers and (not h.hooks or spec.name in h.hooks)]


def _helper(env: Env, e: A.Call) -> Optional[A.Type]:
    st = env.state
    e.kind = "helper"
    h = HELPER_BY_NAME[e.func]
    if not env.is_code:
        st.error(e.span, f"{env.what} cannot call helper '{e.func}()'")
        return None
    if st.spec is not None and e.func not in _helpers_here(env):
        st.error(e.span, f"helper '{e.func}' is not available at hook '{st.hook_name}'")
        return None
    if not _arity(env, e, h.nargs):
        return None
    if h.nargs == 0:
        return HELPER_RESULT[e.func]
    t = scalar(env, e.args[0])
    if t is None:
        return None
    if isinstance(t, A.LitT):
        # random(100): a non-negative literal argument is u64; anything else the usual default
        if e.args[0].const is not None and e.args[0].const >= 0:
            coerce(env, e.args[0], U64)
        else:
            finalize(env, e.args[0])
        t = e.args[0].ty
    if not isinstance(t, A.IntT):
        st.error(e.args[0].span, f"'{e.func}' needs an integer argument, found {t}")
        return None
    if e.func == "ilog2" and e.args[0].const == 0:
        st.error(e.args[0].span, "ilog2(0) is undefined")
        return None
    r = HELPER_RESULT[e.func]
    return t if r == "arg" else r


def model_io(m: A.ModelDecl) -> Optional[tuple[int, int]]:
    """(in, out) of a model once its declaration is checked; None when unusable."""
    vals = {a.name: a.value.const for a in m.args
            if a.name in ("in", "out") and isinstance(a.value, A.Expr)}
    n_in, n_out = vals.get("in"), vals.get("out")
    if n_in is None or n_out is None or not (1 <= n_in <= MAX_MODEL_IO and 1 <= n_out <= MAX_MODEL_IO):
        return None
    return n_in, n_out


def _model_call(env: Env, e: A.Call, m: A.ModelDecl) -> Optional[A.Type]:
    st = env.state
    e.kind = "model"
    if not env.is_code:
        st.error(e.span, f"{env.what} cannot call model '{e.func}'")
        return None
    io = model_io(m)
    if not _arity(env, e, 1):
        return None
    t = infer(env, e.args[0])
    if t is None or io is None:
        return None
    n_in, n_out = io
    want = A.ArrayT(I32, n_in)
    if t != want:
        st.error(e.args[0].span, f"model '{e.func}' takes an {want} array, found {_tname(t)}")
        return None
    return A.ArrayT(I32, n_out)


_INFER: dict[type, Callable] = {
    A.IntLit: _int_lit, A.BoolLit: _bool_lit, A.Name: _name, A.CtxField: _ctx,
    A.Index: _index, A.Unary: _unary, A.Binary: _binary, A.Cast: _cast, A.Call: _call,
}


def mentions_secret(env: Env, e: A.Expr) -> Optional[str]:
    """The first non-exportable ctx field (or tainted local) `e` reads, for trace()."""
    spec = env.state.spec
    if isinstance(e, A.CtxField):
        f = spec.field(e.name) if spec else None
        return f"ctx.{e.name}" if f is not None and not f.export else None
    if isinstance(e, A.Name):
        return f"'{e.id}'" if e.sym is not None and id(e.sym) in env.tainted else None
    for child in _children(e):
        hit = mentions_secret(env, child)
        if hit:
            return hit
    return None


def _children(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.Index):
        return [e.base, e.index]
    if isinstance(e, A.Unary):
        return [e.operand]
    if isinstance(e, A.Binary):
        return [e.left, e.right]
    if isinstance(e, A.Cast):
        return [e.expr]
    if isinstance(e, A.Call):
        return list(e.args)
    return []
