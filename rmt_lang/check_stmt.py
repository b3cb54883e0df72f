"""Checking statements: action bodies and the apply block.

Each statement kind has one function.  Locals live in `Scope`s (one per
block); `let` declares into the innermost one, and a name may be declared
once per scope (an inner block may shadow an outer name).
"""
from __future__ import annotations

from typing import Callable, Optional

from . import ast as A
from .check_decls import MAX_PARAMS, decision_words, resolve_int_type, resolve_type
from .check_expr import (SHIFTS, ctx_field, expect, expect_int, finalize, index_target,
                         infer, mentions_secret, scalar)
from rmt.contract.hooks import DEFAULT_DECISION
from .state import Env, Scope, State
from .suggest import did_you_mean
from .types import I64
from rmt.contract.objformat import LIMITS

MAX_TRACE_FIELDS = LIMITS["MAX_TRACE_FIELDS"]
MAX_LOOP = 1024
MAP_OPS = ("=", "+=")


def check_action(st: State, a: A.ActionDecl) -> None:
    env = Env(st, "action", Scope())
    if len(a.params) > MAX_PARAMS:
        st.error(a.params[MAX_PARAMS].span, f"an action has at most {MAX_PARAMS} parameters")
    for i, p in enumerate(a.params):
        ty = resolve_int_type(st, p.type, "a parameter type")
        if p.name in env.scope.names:
            st.error(p.span, f"parameter '{p.name}' is declared twice")
        elif ty is not None:
            env.scope.names[p.name] = A.ParamSym(p.name, ty, a, i)
    # the body shares the parameters' scope: `let threshold` would hide a parameter
    for s in a.body.stmts:
        check_stmt(env, s)


def check_apply(st: State) -> None:
    blocks = st.program.of(A.ApplyDecl)
    if not blocks:
        hook = st.program.hook
        span = hook.span if hook else A.Span(st.program.file, 1, 1, 1, 1)
        st.error(span, "program has no apply block; add 'apply { TABLE.apply(); }'")
    for extra in blocks[1:]:
        st.error(extra.span, f"apply block is already declared at line {blocks[0].span.line}")
    for b in blocks[:1]:
        check_block(Env(st, "apply", Scope()), b.body)


def check_block(env: Env, b: A.Block) -> None:
    inner = env.child()
    for s in b.stmts:
        check_stmt(inner, s)


def check_stmt(env: Env, s: A.Stmt) -> None:
    _STMT[type(s)](env, s)


# ------------------------------------------------------------------ statements

def _let(env: Env, s: A.Let) -> None:
    st = env.state
    ty: Optional[A.Type] = None
    ok = True
    if s.type is not None:
        ty = resolve_type(st, s.type, arrays=True)
        ok = ty is not None
        if ok and s.init is not None:
            ok = expect(env, s.init, ty, f"the initial value of '{s.name}'")
        elif s.init is not None:
            infer(env, s.init)
    elif s.init is not None:
        ty = infer(env, s.init)
        if isinstance(ty, A.LitT):
            ty = finalize(env, s.init)
        ok = ty is not None
    else:
        st.error(s.span, f"local '{s.name}' needs a type or an initial value")
        ok = False
    if s.name in env.scope.names:
        kind = "a parameter" if isinstance(env.scope.names[s.name], A.ParamSym) else "a local"
        st.error(s.span, f"'{s.name}' is already declared as {kind} in this scope")
        return
    sym = A.LocalSym(s.name, ty if ok else None, s)    # None: broken, uses stay quiet
    s.sym = sym
    env.scope.names[s.name] = sym
    if s.init is not None and mentions_secret(env, s.init):
        env.tainted.add(id(sym))


def _assign(env: Env, s: A.Assign) -> None:
    st = env.state
    target_t = _target(env, s)
    if target_t is None:
        infer(env, s.value)
        return
    if s.op == "=":
        expect(env, s.value, target_t, "the assigned value")     # arrays: same type, copied
    elif not isinstance(target_t, A.IntT):
        st.error(s.span, f"'{s.op}' needs an integer target, found {target_t}")
        infer(env, s.value)
        return
    elif s.op[:-1] in SHIFTS:
        amount = expect_int(env, s.value, "a shift amount")
        if amount is not None and s.value.const is not None and not 0 <= s.value.const < 64:
            st.error(s.value.span, f"shift amount {s.value.const} is out of range 0..63")
    else:
        if expect(env, s.value, target_t, "the assigned value") and s.op in ("/=", "%=") \
                and s.value.const == 0:
            st.error(s.value.span, "division by zero")
    if isinstance(s.target, A.Name) and isinstance(s.target.sym, A.LocalSym) \
            and mentions_secret(env, s.value):
        env.tainted.add(id(s.target.sym))


def _target(env: Env, s: A.Assign) -> Optional[A.Type]:
    """Check the left side of an assignment; its type, or None."""
    st = env.state
    t = s.target
    if isinstance(t, A.Name):
        sym = env.scope.lookup(t.id) if env.scope else None
        if isinstance(sym, A.LocalSym):
            t.sym = sym
            t.ty = sym.ty
            if isinstance(sym.ty, A.ArrayT) and s.op != "=":
                st.error(t.span, f"'{s.op}' cannot be used on array '{t.id}'")
                return None
            return sym.ty
        if sym is None and t.id in st.maps:
            st.error(t.span, f"map '{t.id}' needs a key: {t.id}[key] {s.op} ...")
            return None
        if sym is None and t.id not in st.consts and t.id not in st.decisions():
            infer(env, t)                    # reports the unknown name with a suggestion
            return None
        what = {A.ParamSym: "parameter", A.LoopSym: "loop variable"}.get(type(sym))
        what = what or ("decision" if t.id in st.decisions() and t.id not in st.consts else "constant")
        st.error(t.span, f"cannot assign to {what} '{t.id}'")
        return None
    if isinstance(t, A.CtxField):
        f = ctx_field(env, t, write=True)
        if f is None:
            return None
        t.ty = A.IntT(f.type.bits, f.type.signed)
        return t.ty
    if isinstance(t, A.Index):
        ty = index_target(env, t, write=True)
        if ty is not None and t.target == "map" and s.op not in MAP_OPS:
            st.error(s.span, f"map '{t.base.id}' can only be updated with '=' or '+='")
            return None
        if ty is not None:
            t.ty = ty
        return ty
    st.error(t.span, "cannot assign to this expression")
    return None


def _expr_stmt(env: Env, s: A.ExprStmt) -> None:
    infer(env, s.expr)
    if not isinstance(s.expr, A.Call):
        env.state.error(s.expr.span, "this expression does nothing; use its value or remove it")
    elif isinstance(s.expr.ty, A.LitT):
        finalize(env, s.expr)


def _if(env: Env, s: A.If) -> None:
    t = scalar(env, s.cond)
    if t is not None and not isinstance(t, A.BoolT):
        env.state.error(s.cond.span, f"an if condition must be bool, found "
                        f"{'an integer' if isinstance(t, A.LitT) else t}; compare it, e.g. 'x != 0'")
        if isinstance(t, A.LitT):
            finalize(env, s.cond)
    check_block(env, s.then)
    if s.orelse is not None:
        check_stmt(env, s.orelse)


def _for(env: Env, s: A.For) -> None:
    st = env.state
    lt, ht = scalar(env, s.lo), scalar(env, s.hi)
    ty: Optional[A.IntT] = None
    if lt is not None and ht is not None:
        ty = _loop_type(env, s, lt, ht)
    lo, hi = s.lo.const, s.hi.const
    if ty is not None:
        for bound in (s.lo, s.hi):
            if bound.const is None:
                st.error(bound.span, "for-loop bounds must be constants")
                ty = None
    if ty is not None:
        n = hi - lo
        if n <= 0:
            st.error(s.span, f"loop range {lo}..{hi} is empty")
        elif n > MAX_LOOP:
            st.error(s.span, f"loop runs {n} times; at most {MAX_LOOP} iterations are allowed")
    inner = env.child()
    sym = A.LoopSym(s.var, ty or I64, s)
    s.sym = sym
    inner.scope.names[s.var] = sym
    for stmt in s.body.stmts:
        check_stmt(inner, stmt)


def _loop_type(env: Env, s: A.For, lt: A.Type, ht: A.Type) -> Optional[A.IntT]:
    """Bounds share one type; two literals give the loop variable i64."""
    st = env.state
    for b, t in ((s.lo, lt), (s.hi, ht)):
        if not isinstance(t, (A.IntT, A.LitT)):
            st.error(b.span, f"for-loop bounds must be integers, found {t}")
            return None
    if isinstance(lt, A.LitT) and isinstance(ht, A.LitT):
        return finalize(env, s.lo) and finalize(env, s.hi) and I64
    if isinstance(lt, A.LitT):
        return ht if expect(env, s.lo, ht, "the loop's start") else None
    if isinstance(ht, A.LitT):
        return lt if expect(env, s.hi, lt, "the loop's end") else None
    if lt != ht:
        st.error(s.hi.span, f"loop bounds have different types {lt} and {ht}")
        return None
    return lt


def _decide(env: Env, s: A.Decide) -> None:
    st = env.state
    t = scalar(env, s.value)
    if t is None:
        return
    if isinstance(t, A.LitT):
        finalize(env, s.value)
    elif not isinstance(t, A.IntT):
        st.error(s.value.span, f"a decision must be an integer or a decision name, found {t}")
        return
    v = s.value.const
    if v is not None and st.spec is not None and not st.spec.decision.allowed(v) \
            and v != DEFAULT_DECISION:
        st.error(s.value.span, f"{v} is not a decision of hook '{st.hook_name}' ({decision_words(st)})")


def _trace(env: Env, s: A.Trace) -> None:
    st = env.state
    if not s.args:
        st.error(s.span, "trace() needs at least one value")
    if len(s.args) > MAX_TRACE_FIELDS:
        st.error(s.args[MAX_TRACE_FIELDS].span,
                 f"trace() takes at most {MAX_TRACE_FIELDS} values, found {len(s.args)}")
    names: dict[str, A.TraceArg] = {}
    for i, arg in enumerate(s.args):
        _trace_arg(env, arg, i)
        if arg.name in names:
            st.error(arg.span, f"trace field '{arg.name}' appears twice; "
                     f"name one of them: trace(other_name = ...)")
        names[arg.name] = arg


def _trace_arg(env: Env, arg: A.TraceArg, i: int) -> None:
    st = env.state
    t = scalar(env, arg.expr)
    if not arg.name:
        arg.name = trace_name(arg.expr, i)
    if t is None:
        return
    if isinstance(t, A.LitT):
        finalize(env, arg.expr)
    elif not isinstance(t, A.IntT):
        st.error(arg.expr.span, f"trace values must be integers, found {t}; convert it with 'as u8'")
        return
    secret = mentions_secret(env, arg.expr)
    if secret:
        st.error(arg.expr.span, f"{secret} may not leave the kernel; "
                 f"hook '{st.hook_name}' does not allow tracing it")


def trace_name(e: A.Expr, i: int) -> str:
    """The record field name for an unnamed trace value: `ctx.idle` -> idle, `y[0]` -> y_0."""
    if isinstance(e, A.CtxField):
        return e.name
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Cast):
        return trace_name(e.expr, i)
    if isinstance(e, A.Index) and e.index.const is not None:
        base = trace_name(e.base, i)
        if not base.startswith("arg"):
            return f"{base}_{e.index.const}"
    return f"arg{i}"


def _apply_table(env: Env, s: A.ApplyTable) -> None:
    st = env.state
    if env.kind != "apply":
        st.error(s.span, f"'{s.table}.apply()' is only allowed in the apply block")
        return
    if s.table not in st.tables:
        st.error(s.span, f"unknown table '{s.table}'" + did_you_mean(s.table, st.tables))
        return
    st.applied.add(s.table)


def _block(env: Env, s: A.Block) -> None:
    check_block(env, s)


_STMT: dict[type, Callable] = {
    A.Let: _let, A.Assign: _assign, A.ExprStmt: _expr_stmt, A.If: _if, A.For: _for,
    A.Decide: _decide, A.Trace: _trace, A.ApplyTable: _apply_table, A.Block: _block,
}
