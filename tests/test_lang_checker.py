"""Checker rules that the bad-program corpus cannot show: folded values, chosen types, filled symbols."""
from __future__ import annotations

import pytest

from rmt.lang import ast as A, check, has_errors, parse, render_all

TAIL = """
table t { key = { ctx.a: exact; } actions = { go; } size = 4; }
apply { t.apply(); }
"""


def _checked(body: str, decls: str = "") -> A.Program:
    src = f"hook test.sandbox;\n{decls}\naction go() {{\n{body}\n}}\n{TAIL}"
    prog = parse(src, "c.rmt")
    diags = check(prog)
    assert not has_errors(diags), render_all(diags, src)
    return prog


def _lets(prog: A.Program) -> dict[str, A.Let]:
    return {s.name: s for s in prog.of(A.ActionDecl)[0].body.stmts if isinstance(s, A.Let)}


def _const(decls: str, name: str) -> A.ConstSym:
    prog = _checked("", decls)
    const = next(c for c in prog.of(A.ConstDecl) if c.name == name)
    return const.value.const, const.value.ty


@pytest.mark.parametrize("decl, value, ty", [
    ("const K: u8 = 300 - 100;", 200, "u8"),          # literal arithmetic is exact, then checked
    ("const K: i32 = -7 / 2;", -3, "i32"),            # truncation toward zero
    ("const K: i32 = -7 % 2;", -1, "i32"),            # remainder has the dividend's sign
    ("const K: u8 = ~(0 as u8);", 255, "u8"),
    ("const K = 1 << 40;", 1 << 40, "i64"),           # no context: i64
    ("const K = 0xffff_ffff_ffff_ffff;", 2**64 - 1, "u64"),   # too big for i64: u64
    ("const K: i16 = min(-5, 3) * abs(-4);", -20, "i16"),
    ("const K: u32 = (300 as u8) as u32;", 44, "u32"),        # casts wrap
    ("const K = true && !false;", 1, "bool"),
    ("const K: bool = 3 > 2;", 1, "bool"),
])
def test_constant_folding(decl, value, ty):
    v, t = _const(decl, "K")
    assert v == value and str(t) == ty


def test_typed_constant_arithmetic_wraps():
    prog = _checked("", "const A: u8 = 255;\nconst B: u8 = A + 1;\nconst C: i8 = -128;\nconst D: i8 = -C;")
    vals = {c.name: c.value.const for c in prog.of(A.ConstDecl)}
    assert vals["B"] == 0 and vals["D"] == -128


def test_untyped_constant_takes_each_use_type():
    prog = _checked("let a: u8 = N;\nlet b: i64 = N;\nlet c = ctx.small + N;", "const N = 8;")
    lets = _lets(prog)
    assert str(lets["a"].init.ty) == "u8" and str(lets["b"].init.ty) == "i64"
    assert str(lets["c"].init.right.ty) == "u8" and lets["c"].init.right.const == 8
    assert isinstance(lets["a"].init.sym, A.ConstSym) and str(lets["a"].init.sym.ty) == "i64"


def test_literal_defaults_and_inference():
    prog = _checked("let n = 0;\nlet m = ctx.a;\nlet s = ctx.a << 3;\nlet w = 1 << ctx.small;\n"
                    "let z: u16 = 1 << ctx.small;")
    lets = _lets(prog)
    assert [str(lets[k].sym.ty) for k in "nmswz"] == ["i64", "u32", "u32", "i64", "u16"]
    assert str(lets["s"].init.right.ty) == "u32"      # a literal shift amount takes the left type
    assert str(lets["z"].init.left.ty) == "u16"


def test_loop_variable_type_follows_bounds():
    prog = _checked("for i in 0..4 { }\nfor j in 0..N { }", "const N: u32 = 4;")
    loops = [s for s in prog.of(A.ActionDecl)[0].body.stmts if isinstance(s, A.For)]
    assert [str(f.sym.ty) for f in loops] == ["i64", "u32"]
    assert [(f.lo.const, f.hi.const) for f in loops] == [(0, 4), (0, 4)]


def test_symbols_targets_and_kinds():
    prog = _checked(
        "let x: i32[4];\nx[0] = ctx.arr[1] as i32;\nlet y = lin(x);\nlet z = lin(x)[0] + y[0];\n"
        "hits[ctx.a] += 1;\nlet c = cpu();\nlet m = max(ctx.a, 3);\ndecide(MID);",
        "model lin: linear(in = 4, out = 1);\nmap hits: hash<u32, u64>[16];")
    stmts = prog.of(A.ActionDecl)[0].body.stmts
    assign = stmts[1]
    assert assign.target.target == "local" and assign.value.expr.target == "ctx"
    assert isinstance(assign.target.base.sym, A.LocalSym)
    y = stmts[2]
    assert y.init.kind == "model" and str(y.sym.ty) == "i32[1]"
    z = stmts[3]
    assert z.init.left.target == "model" and z.init.right.target == "local"
    hits = stmts[4]
    assert hits.target.target == "map" and str(hits.value.ty) == "u64"
    assert stmts[5].init.kind == "helper" and str(stmts[5].sym.ty) == "u32"
    assert stmts[6].init.kind == "builtin" and str(stmts[6].init.args[1].ty) == "u32"
    decide = stmts[7]
    assert isinstance(decide.value.sym, A.DecisionSym) and decide.value.const == 50
    assert str(decide.value.ty) == "i64"


def test_implicit_default_action_is_filled():
    src = ("hook test.sandbox;\ntable t { key = { ctx.a: exact; } actions = { set; go; } size = 4; }\n"
           "action set(v: u32) { ctx.out = v; }\naction go() { }\napply { t.apply(); }\n")
    prog = parse(src)
    assert check(prog) == []
    t = prog.of(A.TableDecl)[0]
    assert t.default.name == "go" and t.default.args == []


def test_params_and_trace_names():
    src = ("hook test.sandbox;\ntable t { key = { ctx.a: exact; } actions = { go; } default_action = go(2, -1); size = 4; }\n"
           "action go(p: u32, q: i8) { let y: i32[2]; trace(p, ctx.sarr[1], y[1], q as i32, ctx.a + p, k = 3); }\n"
           "apply { t.apply(); }\n")
    prog = parse(src)
    assert check(prog) == []
    act = prog.of(A.ActionDecl)[0]
    tr = act.body.stmts[1]
    assert [a.name for a in tr.args] == ["p", "sarr_1", "y_1", "q", "arg4", "k"]
    assert isinstance(tr.args[0].expr.sym, A.ParamSym) and tr.args[0].expr.sym.index == 0
    default = prog.of(A.TableDecl)[0].default
    assert [(a.const, str(a.ty)) for a in default.args] == [(2, "u32"), (-1, "i8")]


def test_every_error_is_reported():
    src = ("hook test.sandbox;\naction go() {\n let a: u8 = 256;\n let b = ctx.nope;\n ctx.a = 1;\n"
           " trace(ctx.secret);\n}\n")
    diags = check(parse(src, "m.rmt"))
    errors = [d for d in diags if d.is_error]
    assert [d.span.line for d in errors] == [1, 3, 4, 5, 6]     # missing apply is reported at the hook
    assert all(d.span.file == "m.rmt" for d in diags)
