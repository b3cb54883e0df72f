"""Good programs check clean, and the checked AST keeps the checker's promises to the compiler."""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.lang import ast as A
from rmt.lang import load, render_all, read_source
from walk import problems

ROOT = Path(__file__).resolve().parents[1]


GOOD = sorted([*(ROOT / "examples").rglob("*.rmt"), *(ROOT / "tests" / "lang" / "good").glob("*.rmt")])


def test_examples_exist():
    names = {p.name for p in GOOD}
    assert {"forced_migration.rmt", "swap_prefetch.rmt"} <= names
    assert len(list((ROOT / "examples" / "small").glob("*.rmt"))) >= 5


@pytest.mark.parametrize("path", GOOD, ids=[str(p.relative_to(ROOT)) for p in GOOD])
def test_good_program_checks_clean(path: Path):
    program, diags = load(path)
    assert program is not None
    assert diags == [], render_all(diags, read_source(path)[0])
    assert problems(program) == []


def test_forced_migration_shape():
    program, _ = load(ROOT / "examples" / "forced_migration.rmt")
    assert program.hook.name == "sched.can_migrate_task"
    assert program.mode == "shadow"
    model, tree = program.of(A.ModelDecl)
    consts = {a.name: a.value.const for a in model.args if isinstance(a.value, A.Expr)}
    assert {k: consts[k] for k in ("in", "out", "max_weight")} == {"in": 17, "out": 2,
                                                                   "max_weight": 2048}
    assert [(l.kind, l.activation) for l in model.layers] == [("dense", "relu"), ("dense", "none")]
    assert tree.name == "tree_predictor"
    (table,) = program.of(A.TableDecl)
    assert [(k.expr.name, k.match) for k in table.keys] == [("idle", "exact"), ("nr_balance_failed", "range")]
    assert table.default.name == "predict" and table.default.args[0].const == 0
    traces = [s for a in program.of(A.ActionDecl) for s in a.body.stmts if isinstance(s, A.Trace)]
    (trace,) = traces
    assert len(trace.args) == 13
    assert trace.args[0].name == "flags" and trace.args[6].name == "verdict"
    (guard,) = program.of(A.GuardDecl)
    streak = guard.rules[1]
    assert isinstance(streak, A.GuardStreak) and streak.value.const == 0 and streak.limit.const == 8
