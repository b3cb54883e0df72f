"""The checker: names, types, permissions and declaration rules of an .rmt program.

`check(program)` fills the typed AST in place (every expression's `ty` and,
when constant, `const`; every name's `sym`; `Index.target`, `Call.kind`,
`Let.sym`, `For.sym`, a table's implicit default action) and returns every
problem found as a list of diagnostics sorted by position.  It never stops at
the first error: each check reports and carries on, and a declaration that is
broken is still entered so later uses of it do not cascade into noise.

The work is split by what is checked: check_decls (hook, mode, names,
constants, models, maps, tables, guards), check_stmt (action bodies and the
apply block), check_expr (expression typing).  This module only orders them.
"""
from __future__ import annotations

from . import ast as A
from .check_decls import (check_const, check_guards, check_hook, check_map, check_mode,
                          check_model, check_table, collect_names)
from .check_props import check_properties
from .check_stmt import check_action, check_apply
from .errors import Diagnostic
from .state import State


def check(program: A.Program) -> list[Diagnostic]:
    st = State(program)
    check_hook(st)
    check_mode(st)
    collect_names(st)
    for c in program.of(A.ConstDecl):
        check_const(st, c)
    for m in program.of(A.ModelDecl):
        check_model(st, m)
    for m in program.of(A.MapDecl):
        check_map(st, m)
    for t in program.of(A.TableDecl):
        check_table(st, t)
    for a in program.of(A.ActionDecl):
        check_action(st, a)
    check_apply(st)
    check_guards(st)
    check_properties(st)
    _warn_unused(st)
    return sorted(st.diags, key=lambda d: (d.span.line, d.span.col))


def _warn_unused(st: State) -> None:
    """Tables never applied and actions no table lists are almost always mistakes."""
    used = {r.name for t in st.tables.values() for r in t.actions}
    for t in st.tables.values():
        if t.name not in st.applied and st.program.of(A.ApplyDecl):
            st.warn(t.name_span, f"table '{t.name}' is never applied")
    for a in st.actions.values():
        if a.name not in used:
            st.warn(a.name_span, f"action '{a.name}' is not used by any table")
