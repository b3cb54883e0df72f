"""Parser: AST shape, precedence, spans, literals, soft keywords and syntax-error locations."""
from __future__ import annotations

import pytest

from rmt.lang import RmtSyntaxError, ast as A, load, parse

HEAD = "hook test.sandbox;\n"


def _expr(src: str) -> A.Expr:
    prog = parse(HEAD + f"const X = {src};\n", "t.rmt")
    return prog.of(A.ConstDecl)[0].value


def _shape(e: A.Expr) -> str:
    if isinstance(e, A.Binary):
        return f"({_shape(e.left)} {e.op} {_shape(e.right)})"
    if isinstance(e, A.Unary):
        return f"({e.op}{_shape(e.operand)})"
    if isinstance(e, A.Cast):
        return f"({_shape(e.expr)} as {e.to.name})"
    if isinstance(e, A.IntLit):
        return str(e.value)
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Index):
        return f"{_shape(e.base)}[{_shape(e.index)}]"
    if isinstance(e, A.Call):
        return f"{e.func}({', '.join(_shape(a) for a in e.args)})"
    raise AssertionError(e)


@pytest.mark.parametrize("src, shape", [
    ("a + b * c", "(a + (b * c))"),
    ("a - b - c", "((a - b) - c)"),
    ("a << 1 + 2", "(a << (1 + 2))"),          # C: shifts are looser than +
    ("a & b == c", "(a & (b == c))"),          # C: == is tighter than &
    ("a | b ^ c & d", "(a | (b ^ (c & d)))"),
    ("a || b && c", "(a || (b && c))"),
    ("a < b == c < d", "((a < b) == (c < d))"),
    ("-x as u8", "((-x) as u8)"),              # Rust: unary binds tighter than `as`
    ("a * b as u32", "(a * (b as u32))"),
    ("!a[1]", "(!a[1])"),
    ("f(x)[0] + 1", "(f(x)[0] + 1)"),
    ("(a + b) * c", "((a + b) * c)"),
    ("min(a, b + 1)", "min(a, (b + 1))"),
])
def test_precedence(src, shape):
    assert _shape(_expr(src)) == shape


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("1_000_000", 1000000), ("0xff", 255), ("0XFF_FF", 65535), ("0b1010", 10),
    ("18446744073709551615", 2**64 - 1),
])
def test_integer_literals(text, value):
    e = _expr(text)
    assert isinstance(e, A.IntLit) and e.value == value


def test_spans_are_exact():
    src = HEAD + "action go() {\n    let n: u32 = ctx.a + 12;\n}\n"
    prog = parse(src, "s.rmt")
    act = prog.of(A.ActionDecl)[0]
    assert act.name_span == A.Span("s.rmt", 2, 8, 2, 10)
    assert act.span == A.Span("s.rmt", 2, 1, 4, 2)
    let = act.body.stmts[0]
    assert let.span == A.Span("s.rmt", 3, 5, 3, 29)
    add = let.init
    assert add.span == A.Span("s.rmt", 3, 18, 3, 28)
    assert add.left.span == A.Span("s.rmt", 3, 18, 3, 23)
    assert add.right.span == A.Span("s.rmt", 3, 26, 3, 28)
    assert let.type.span == A.Span("s.rmt", 3, 12, 3, 15)


def test_comments_are_ignored():
    src = "// header\nhook /* inline */ test.sandbox; /* multi\nline */ apply { } // tail"
    prog = parse(src, "c.rmt")
    assert prog.hook.name == "test.sandbox" and len(prog.of(A.ApplyDecl)) == 1


def test_soft_keywords_are_names_elsewhere():
    src = HEAD + ("action allow(size: u32, key: u32) { let percpu = size + key; let in = 1; }\n"
                  "model per: mlp(in = 4, out = 1) { dense(1); }\n")
    prog = parse(src)
    act = prog.of(A.ActionDecl)[0]
    assert act.name == "allow" and [p.name for p in act.params] == ["size", "key"]
    assert [s.name for s in act.body.stmts] == ["percpu", "in"]
    assert prog.of(A.ModelDecl)[0].name == "per"


def test_keyword_prefix_is_not_split():
    """`constX` is a name, not `const X` (the contextual lexer would otherwise split it)."""
    with pytest.raises(RmtSyntaxError) as e:
        parse("constX = 1;", "k.rmt")
    assert "found name 'constX'; did you mean 'const'?" in str(e.value)


def test_model_and_layer_arguments():
    prog = parse(HEAD + "model p: mlp(in = 8, out = 1, weight = i8, input = -5..5) {\n"
                 "  conv1d(channels = 2, kernel = 3, relu); dense(4, relu); dense(1); }\n")
    m = prog.of(A.ModelDecl)[0]
    args = {a.name: a.value for a in m.args}
    assert isinstance(args["weight"], A.TypeRef) and args["weight"].name == "i8"
    lo, hi = args["input"]
    assert _shape(lo) == "(-5)" and _shape(hi) == "5"
    conv, d1, d2 = m.layers
    assert (conv.kind, conv.activation, [a.name for a in conv.args]) == ("conv1d", "relu", ["channels", "kernel"])
    assert (d1.activation, [a.name for a in d1.args], d1.args[0].value.value) == ("relu", ["out"], 4)
    assert d2.activation == "none"


def test_table_properties_any_order():
    prog = parse(HEAD + "table t { size = 4; actions = { a; b; } key = { ctx.a: exact; ctx.b >> 2: ternary; } "
                 "default_action = b(1, 2); }\n")
    t = prog.of(A.TableDecl)[0]
    assert [a.name for a in t.actions] == ["a", "b"]
    assert [k.match for k in t.keys] == ["exact", "ternary"]
    assert t.default.name == "b" and len(t.default.args) == 2
    assert t.keys[1].match_span.col == t.keys[1].span.col + len("ctx.b >> 2: ")


def test_trace_and_guard_syntax():
    prog = parse(HEAD + "action go() { trace(ctx.a, n = ctx.b + 1); }\n"
                 "guard { allow LOW, 7; max_streak HIGH 3 per ctx.a; }\n")
    tr = prog.of(A.ActionDecl)[0].body.stmts[0]
    assert [a.name for a in tr.args] == ["", "n"]
    g = prog.of(A.GuardDecl)[0]
    assert isinstance(g.rules[0], A.GuardAllow) and len(g.rules[0].values) == 2
    assert isinstance(g.rules[1], A.GuardStreak) and g.rules[1].limit.value == 3


def test_else_if_chain():
    prog = parse(HEAD + "action go() { if a { } else if b { } else { decide(LOW); } }\n")
    top = prog.of(A.ActionDecl)[0].body.stmts[0]
    assert isinstance(top.orelse, A.If) and isinstance(top.orelse.orelse, A.Block)


@pytest.mark.parametrize("src, line, col, words", [
    ("hook x;\nconst A = 1\nconst B = 2;\n", 2, 12, "expected ';' after number 1"),
    ("hook x;\naction a() { let y = (1 + 2; }\n", 2, 28, "expected ')', found ';'"),
    ("hook x;\naction a() {\n", 2, 13, "the '{' at 2:12 is not closed"),
    ("hook x; #", 1, 9, "unexpected character '#'"),
    ("hook x;\nmap m: counter[4] percpu percpu;\n", 2, 26,
         "expected one of ';', 'private', found name 'percpu'"),
])
def test_syntax_error_location(src, line, col, words):
    with pytest.raises(RmtSyntaxError) as e:
        parse(src, "e.rmt")
    (d,) = e.value.diagnostics
    assert (d.span.line, d.span.col) == (line, col)
    assert words in d.message


def test_load_turns_syntax_errors_into_diagnostics(tmp_path):
    p = tmp_path / "bad.rmt"
    p.write_text("hook test.sandbox\napply { }\n")
    program, diags = load(p)
    assert program is None and len(diags) == 1 and diags[0].span.file == str(p)
    program, diags = load("hook test.sandbox;\napply { }\n")
    assert program is not None and diags == []
