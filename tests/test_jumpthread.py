"""Jump threading (compiler/jumpthread.py): shape on hand-made IR, and no change in behaviour.

The behaviour test compiles every example and a nested if/else decision tree
twice, with the pass and with it replaced by the identity, and runs both
objects on the reference semantics over random contexts: decisions, aborts,
the context written back and trace records must be equal.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest

import compiler.driver as D
from compiler import compile_source
from compiler.ir import IrInsn, Label
from compiler.jumpthread import thread_jumps
from semantics.reference import ReferenceEngine

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


def _compile(text: str, file: str, threaded: bool, monkeypatch) -> bytes:
    from compiler import objfile
    with monkeypatch.context() as m:
        if not threaded:
            m.setattr(D, "thread_jumps", lambda insns: insns)
        return objfile.write(compile_source(text, file))


def _no_jump_lands_on_a_jump(code) -> bool:
    for pc, ins in enumerate(code):
        if ins.op.name == "JA":
            tgt = code[pc + 1 + ins.off]
            if tgt.op.name in ("JA", "EXIT"):
                return False
    return True


@pytest.mark.parametrize("src", [*EXAMPLES, "tree"], ids=lambda p: getattr(p, "stem", p))
def test_same_behaviour(src, monkeypatch) -> None:
    from compiler import objfile
    text, file = (TREE, "tree.rmt") if src == "tree" else (src.read_text(), str(src))
    after = _compile(text, file, True, monkeypatch)
    before = _compile(text, file, False, monkeypatch)
    prog_after = objfile.read(after)
    assert len(prog_after.code) <= len(objfile.read(before).code)
    assert _no_jump_lands_on_a_jump(prog_after.code)
    e1, e2 = ReferenceEngine(before), ReferenceEngine(after)
    rng = random.Random(7)
    size = prog_after.hook.ctx_size
    for k in range(150):
        ctx = bytes(rng.choice([0, 1, 2, 3, 255, rng.randrange(256)]) for _ in range(size))
        r1, r2 = e1.run(ctx, now=k), e2.run(ctx, now=k)
        assert (r1.decision, r1.abort, r1.ctx) == (r2.decision, r2.abort, r2.ctx)
    assert e1.trace_drain() == e2.trace_drain()


def test_tree_paths_get_shorter(monkeypatch) -> None:
    """The nested if/else's jump chains are gone: fewer JAs, none landing on a JA or EXIT."""
    from compiler import objfile
    after = objfile.read(_compile(TREE, "tree.rmt", True, monkeypatch)).code
    before = objfile.read(_compile(TREE, "tree.rmt", False, monkeypatch)).code
    assert not _no_jump_lands_on_a_jump(before)
    assert sum(i.op.name == "JA" for i in after) < sum(i.op.name == "JA" for i in before)
