"""Deep nesting and huge programs end in one clean, located error, found before the
expensive work (rmt_lang/parser.py MAX_NESTING and the declaration counts)."""
from __future__ import annotations

import pytest

from rmt.compiler.driver import CompileError, compile_source
from rmt.contract.objformat import LIMITS
from rmt.lang.parser import MAX_NESTING
from rmt.verifier import verify


def _nested_ifs(n: int) -> str:
    return "hook test.sandbox;\napply {\n" + "if ctx.a > 1 {\n" * n + "decide(1);\n" + \
        "}\n" * n + "}\n"


def _negs(n: int) -> str:
    return "hook test.sandbox;\napply { decide(" + "-" * n + "1); }\n"


def _sum(n: int) -> str:
    return "hook test.sandbox;\napply { let v = " + " + ".join(["ctx.small"] * n) + \
        "; decide((v & 63) as i64); }\n"


def _ands(n: int) -> str:
    return "hook test.sandbox;\napply { let v = " + " && ".join(["ctx.a > 1"] * n) + \
        "; decide(v as i64); }\n"


SHAPES = {"if": (_nested_ifs, MAX_NESTING // 2 - 4), "neg": (_negs, MAX_NESTING - 8),
          "sum": (_sum, MAX_NESTING - 8), "and": (_ands, MAX_NESTING - 8)}


@pytest.mark.parametrize("shape", SHAPES)
def test_deep_programs_compile_and_verify_below_the_limit(shape: str) -> None:
    gen, n = SHAPES[shape]
    assert verify(compile_source(gen(n), "deep.rmt")).accepted


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factor", [2, 20])
def test_deeper_programs_get_one_located_error(shape: str, factor: int) -> None:
    gen, n = SHAPES[shape]
    with pytest.raises(CompileError) as e:
        compile_source(gen(n * factor), "deep.rmt")
    msg = str(e.value).splitlines()[0]
    assert msg.startswith("deep.rmt:") and "nested too deeply" in msg, msg


@pytest.mark.parametrize("decl,what,limit", [
    ("table t{i} {{ key = {{ ctx.a: exact; }} actions = {{ a; }} default_action = a; "
     "size = 4; }}", "tables", "MAX_TABLES"),
    ("map m{i}: array<u64>[2];", "maps", "MAX_MAPS"),
])
def test_too_many_declarations_stop_at_the_first_past_the_limit(decl, what, limit) -> None:
    n = LIMITS[limit]
    src = "hook test.sandbox;\naction a() { decide(1); }\n" + "".join(
        decl.format(i=i) + "\n" for i in range(2000)) + "apply { }\n"
    with pytest.raises(CompileError) as e:
        compile_source(src, "many.rmt")
    first = str(e.value).splitlines()[0]
    # line 1 hook, line 2 action, declaration k (0-based) on line k + 3
    assert first.startswith(f"many.rmt:{n + 3}:1: error: more than {n} {what}"), first
    assert len(e.value.diagnostics) == 1
