"""Jump threading (compiler/jumpthread.py): shape on hand-made IR, and no change in behaviour.

The behaviour test (tests/pass_equiv.py) runs every example and a nested
if/else decision tree compiled with and without the pass on the reference
semantics, with the same tables, weights and contexts: everything observable
must be equal.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.compiler.ir import IrInsn, Label
from rmt.compiler.jumpthread import thread_jumps
from pass_equiv import check_same_behaviour, compile_with

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.rmt"))

TREE = """\
hook sched.can_migrate_task;

apply {
    if (ctx.nr_balance_failed > 2) {
        if (ctx.task_hot == 1) {
            if (ctx.idle == 0) { decide(DENY); } else { decide(ALLOW); }
        } else {
            if (ctx.idle == 1) { decide(ALLOW); } else { decide(DENY); }
        }
    } else {
        if (ctx.task_hot == 0) {
            if (ctx.idle == 2) { decide(DENY); } else { decide(ALLOW); }
        }
    }
}
"""


def _ops(insns: list[IrInsn]) -> list[str]:
    return [i.op if i.op != "LABEL" else f"{i.target.name}:" for i in insns]


def test_chain_is_threaded_and_dead_code_dropped() -> None:
    a, b, c = Label("a"), Label("b"), Label("c")
    ir = [
        IrInsn("JEQ_I", 1, imm=0, target=a),     # -> a: JA b -> b: JA c -> c
        IrInsn("MOV_I", 0, imm=1),
        IrInsn("JA", target=b),                  # -> b: JA c
        IrInsn("LABEL", target=a),
        IrInsn("JA", target=b),
        IrInsn("LABEL", target=b),
        IrInsn("JA", target=c),
        IrInsn("MOV_I", 0, imm=2),               # unreachable
        IrInsn("LABEL", target=c),
        IrInsn("ADD_I", 0, imm=3),
        IrInsn("EXIT", src=0),
    ]
    out = thread_jumps(ir)
    assert _ops(out) == ["JEQ_I", "MOV_I", "c:", "ADD_I", "EXIT"]
    assert out[0].target is c


def test_ja_to_exit_becomes_exit() -> None:
    end = Label("end")
    ir = [
        IrInsn("JNE_I", 1, imm=0, target=end),
        IrInsn("MOV_I", 0, imm=1),
        IrInsn("JA", target=end),
        IrInsn("MOV_I", 0, imm=2),               # unreachable
        IrInsn("LABEL", target=end),
        IrInsn("EXIT", src=0),
    ]
    out = thread_jumps(ir)
    assert _ops(out) == ["JNE_I", "MOV_I", "EXIT", "end:", "EXIT"]
    assert out[2].src == 0


def test_jump_to_next_is_dropped() -> None:
    nxt = Label("n")
    ir = [IrInsn("JGT_I", 1, imm=5, target=nxt), IrInsn("LABEL", target=nxt),
          IrInsn("EXIT", src=0)]
    assert _ops(thread_jumps(ir)) == ["EXIT"]


def _no_jump_lands_on_a_jump(code) -> bool:
    for pc, ins in enumerate(code):
        if ins.op.name == "JA":
            tgt = code[pc + 1 + ins.off]
            if tgt.op.name in ("JA", "EXIT"):
                return False
    return True


@pytest.mark.parametrize("src", [*EXAMPLES, "tree"], ids=lambda p: getattr(p, "stem", p))
def test_same_behaviour(src, monkeypatch) -> None:
    text, file = (TREE, "tree.rmt") if src == "tree" else (src.read_text(), str(src))
    before, after = check_same_behaviour(text, file, "thread_jumps", monkeypatch)
    assert after <= before
    code = compile_source(text, file).code
    assert _no_jump_lands_on_a_jump(code)



def test_tree_paths_get_shorter(monkeypatch) -> None:
    """The nested if/else's jump chains are gone: fewer JAs, none landing on a JA or EXIT."""
    after = objfile.read(compile_with(TREE, "tree.rmt", "thread_jumps", True, monkeypatch)).code
    before = objfile.read(compile_with(TREE, "tree.rmt", "thread_jumps", False,
                                       monkeypatch)).code
    assert not _no_jump_lands_on_a_jump(before)
    assert sum(i.op.name == "JA" for i in after) < sum(i.op.name == "JA" for i in before)
