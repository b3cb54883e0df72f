"""Checking `property` declarations and resolving them to the verifier's terms.

A property speaks about one run of the program: the context fields as the hook
handed them in, which action a table ran (`policy == predict`, or with its
parameters `policy == predict(0, 0)`), a model's output (`predictor[1]`), and
the program's decision (`decision`).  Arithmetic is on mathematical integers
(no wrap-around), so `ctx.src_nr_running >= 3` means what it says whatever the
field's width.  The conclusion may instead be `nondecreasing(e, ctx.f)` or
`nonincreasing(e, ctx.f)`: e is monotone in field f, all else being equal.

Each checked property is resolved to a small term (nested lists of names and
numbers, JSON-able) that the compiler writes beside the object and the verifier
proves: see `Term` below and docs/language.md, "Properties".
"""
from __future__ import annotations

from typing import Any, Optional

from . import ast as A
from .state import State
from .suggest import did_you_mean

# A term: ["int", v] | ["ctx", field, index] (index -1: a scalar field) | ["decision"]
# | ["action", table, action, [args] or None] | ["out", model, index]
# | ["not", t] | ["neg", t] | [op, t, t] for op in ARITH, COMPARE, LOGIC
# | ["mono", "nondecreasing" | "nonincreasing", t, field, index]
Term = list[Any]

ARITH = ("+", "-", "*")
COMPARE = ("==", "!=", "<", "<=", ">", ">=")
LOGIC = ("&&", "||")
MONOTONE = ("nondecreasing", "nonincreasing")


class _Bad(Exception):
    """One located error; the property is dropped after reporting it."""

    def __init__(self, span: A.Span, message: str):
        self.span, self.message = span, message


def check_properties(st: State) -> None:
    seen: dict[str, A.PropertyDecl] = {}
    for p in st.program.of(A.PropertyDecl):
        if p.name in seen:
            st.error(p.name_span, f"property '{p.name}' is already declared at line "
                     f"{seen[p.name].span.line}")
            continue
        seen[p.name] = p
        try:
            premise = _bool(st, p.premise, "a property's premise") if p.premise else None
            c = p.conclusion
            if isinstance(c, A.Call) and c.func in MONOTONE:
                conclusion = _monotone(st, c)
            else:
                conclusion = _bool(st, c, "a property")
        except _Bad as e:
            st.error(e.span, e.message)
            continue
        p.resolved = {"name": p.name, "file": p.span.file, "line": p.span.line, "col": p.span.col,
                      "premise": premise, "conclusion": conclusion}


def _monotone(st: State, c: A.Call) -> Term:
    if len(c.args) != 2:
        raise _Bad(c.span, f"{c.func}(e, ctx.f) takes 2 arguments, found {len(c.args)}")
    what, field = c.args
    t = _int(st, what, f"the first argument of {c.func}")
    f = _term(st, field)
    if f[0] != "ctx":
        raise _Bad(field.span, f"the second argument of {c.func} must be a context field "
                               "(ctx.NAME or ctx.NAME[i])")
    return ["mono", c.func, t, f[1], f[2]]


def _bool(st: State, e: A.Expr, what: str) -> Term:
    t, ty = _typed(st, e)
    if ty != "bool":
        raise _Bad(e.span, f"{what} must be a condition (bool), found an integer")
    return t


def _int(st: State, e: A.Expr, what: str) -> Term:
    t, ty = _typed(st, e)
    if ty != "int":
        raise _Bad(e.span, f"{what} must be an integer, found a condition")
    return t


def _term(st: State, e: A.Expr) -> Term:
    return _typed(st, e)[0]


def _typed(st: State, e: A.Expr) -> tuple[Term, str]:
    if isinstance(e, A.IntLit):
        return ["int", e.value], "int"
    if isinstance(e, A.BoolLit):
        return ["int", int(e.value)], "bool"
    if isinstance(e, A.CtxField):
        return _ctx(st, e, -1), "int"
    if isinstance(e, A.Name):
        return _name(st, e)
    if isinstance(e, A.Index):
        return _index(st, e), "int"
    if isinstance(e, A.Unary):
        if e.op == "!":
            return ["not", _bool(st, e.operand, "the operand of '!'")], "bool"
        if e.op == "-":
            return ["neg", _int(st, e.operand, "the operand of '-'")], "int"
        raise _Bad(e.span, f"'{e.op}' is not allowed in a property (use + - * and comparisons)")
    if isinstance(e, A.Binary):
        return _binary(st, e)
    if isinstance(e, A.Call):
        if e.func in MONOTONE:
            raise _Bad(e.span, f"{e.func}(...) must be the whole conclusion of a property")
        if e.func in st.actions:
            raise _Bad(e.span, f"an action is named only as `TABLE == {e.func}(...)`")
        raise _Bad(e.span, f"'{e.func}(...)' is not allowed in a property: name a model's "
                           f"output as MODEL[i], a table's action as TABLE == ACTION")
    if isinstance(e, A.Cast):
        raise _Bad(e.span, "casts are not needed in a property: its arithmetic is exact")
    raise _Bad(e.span, "this expression is not allowed in a property")


def _ctx(st: State, e: A.CtxField, index: int) -> Term:
    if st.spec is None:
        raise _Bad(e.span, "a property needs the program's hook to name context fields")
    f = st.spec.field(e.name)
    if f is None:
        raise _Bad(e.span, f"hook '{st.hook_name}' has no context field '{e.name}'"
                   + did_you_mean(e.name, [x.name for x in st.spec.fields]))
    if f.count > 1 and index < 0:
        raise _Bad(e.span, f"ctx.{e.name} is an array of {f.count}: index it with a constant")
    if f.count == 1 and index >= 0:
        raise _Bad(e.span, f"ctx.{e.name} is not an array")
    if index >= f.count:
        raise _Bad(e.span, f"index {index} is out of range for ctx.{e.name} ({f.count} elements)")
    return ["ctx", e.name, index]


def _const_value(st: State, e: A.Expr, what: str) -> int:
    t, ty = _typed(st, e)
    if t[0] == "int":
        return t[1]
    if t[0] == "neg" and t[1][0] == "int":
        return -t[1][1]
    raise _Bad(e.span, f"{what} must be a constant")


def _name(st: State, e: A.Name) -> tuple[Term, str]:
    if e.id == "decision":
        return ["decision"], "int"
    if e.id in st.consts:
        return ["int", st.consts[e.id].value], "int"
    decisions = st.decisions()
    if e.id in decisions:
        return ["int", decisions[e.id]], "int"
    if e.id in st.tables:
        raise _Bad(e.span, f"table '{e.id}' is named only as `{e.id} == ACTION` "
                           f"(the action it ran)")
    if e.id in st.models:
        raise _Bad(e.span, f"model '{e.id}' is named only by an output: {e.id}[i]")
    known = ["decision", *st.consts, *decisions, *st.tables, *st.models]
    raise _Bad(e.span, f"unknown name '{e.id}' in a property" + did_you_mean(e.id, known))


def _index(st: State, e: A.Index) -> Term:
    i = _const_value(st, e.index, "an index in a property")
    if isinstance(e.base, A.CtxField):
        return _ctx(st, e.base, i)
    if isinstance(e.base, A.Name) and e.base.id in st.models:
        m = st.models[e.base.id]
        n_out = _model_out(st, m)
        if not 0 <= i < (n_out if n_out is not None else 1 << 31):
            raise _Bad(e.index.span, f"model '{m.name}' has {n_out} outputs: index {i} is out "
                                     f"of range")
        return ["out", m.name, i]
    if isinstance(e.base, A.Name) and e.base.id not in st.consts and e.base.id not in st.tables:
        raise _Bad(e.base.span, f"unknown model '{e.base.id}' in a property"
                                + did_you_mean(e.base.id, list(st.models)))
    raise _Bad(e.span, "only context arrays and model outputs (MODEL[i]) can be indexed "
                       "in a property")


def _model_out(st: State, m: A.ModelDecl) -> Optional[int]:
    for a in m.args:
        if a.name == "out" and isinstance(a.value, A.Expr) and a.value.const is not None:
            return a.value.const
    return None


def _action(st: State, table: A.TableDecl, e: A.Expr) -> Term:
    if isinstance(e, A.Name):
        name, args = e.id, None
    elif isinstance(e, A.Call):
        name, args = e.func, e.args
    else:
        raise _Bad(e.span, f"compare table '{table.name}' with one of its actions")
    listed = [r.name for r in table.actions]
    if name not in listed:
        raise _Bad(e.span, f"'{name}' is not an action of table '{table.name}'"
                   + did_you_mean(name, listed))
    vals = None
    if args is not None:
        params = st.actions[name].params
        if len(args) != len(params):
            raise _Bad(e.span, f"action '{name}' takes {len(params)} argument"
                       f"{'' if len(params) == 1 else 's'}, found {len(args)}")
        vals = [_const_value(st, a, f"argument '{p.name}' of '{name}'")
                for a, p in zip(args, params)]
    return ["action", table.name, name, vals]


def _binary(st: State, e: A.Binary) -> tuple[Term, str]:
    op = e.op
    if op in ("==", "!=") and isinstance(e.left, A.Name) and e.left.id in st.tables:
        t = _action(st, st.tables[e.left.id], e.right)
        return (t if op == "==" else ["not", t]), "bool"
    if op in LOGIC:
        return [op, _bool(st, e.left, f"an operand of '{op}'"),
                _bool(st, e.right, f"an operand of '{op}'")], "bool"
    if op in COMPARE:
        lt, lty = _typed(st, e.left)
        rt, rty = _typed(st, e.right)
        if lty != rty:
            raise _Bad(e.span, f"'{op}' compares a condition with an integer")
        if lty == "bool" and op not in ("==", "!="):
            raise _Bad(e.span, f"'{op}' needs integers, found conditions")
        return [op, lt, rt], "bool"
    if op in ARITH:
        return [op, _int(st, e.left, f"an operand of '{op}'"),
                _int(st, e.right, f"an operand of '{op}'")], "int"
    raise _Bad(e.span, f"'{op}' is not allowed in a property (use + - *, comparisons, "
                       "&& || !)")
