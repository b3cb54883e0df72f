"""A load from an indexed slot reads back exactly what a store at the same index wrote
(symstate.given), and nothing more: a store at another index, or a later store that may
hit the slot, keeps the load's other possibilities."""
from __future__ import annotations

from rmt.contract.hooks import HOOKS
from rmt.contract.isa import Region, insn, mem_imm
from rmt.contract.objfile import Program
from rmt.verifier import verify

HOOK = HOOKS["test.sandbox"]
SCR = mem_imm(Region.SCRATCH, 0, 128)


def _idx(reg: int, field: str) -> list:
    """reg = (ctx.field & 15) * 8: a slot index of a 16 x u64 scratch array."""
    return [insn("LDU32", reg, imm=mem_imm(Region.CTX), off=HOOK.layout[field]),
            insn("AND_I", reg, imm=15), insn("SHL_I", reg, imm=3)]


def _prog(code: list) -> Program:
    return Program("idx", HOOK, code, 128)


def test_load_at_the_stored_index_reads_the_value() -> None:
    code = _idx(1, "a") + [insn("MOV_I", 8, imm=7), insn("ST64", 8, 1, imm=SCR),
                           insn("LD64", 10, 1, imm=SCR), insn("EXIT", src=10)]
    rep = verify(_prog(code))
    assert rep.accepted, [r.obligation.describe() for r in rep.failures]
    assert rep.decisions == {"values": [7]}


def test_load_at_another_index_may_be_uninitialized() -> None:
    code = _idx(1, "a") + _idx(2, "b") + [insn("MOV_I", 8, imm=7), insn("ST64", 8, 1, imm=SCR),
                                          insn("LD64", 10, 2, imm=SCR), insn("EXIT", src=10)]
    rep = verify(_prog(code))
    assert [r.obligation.kind for r in rep.failures] == ["Initialized"]
    cex = rep.failures[0].outcome.values
    assert (cex["ctx.a"] & 15) != (cex["ctx.b"] & 15)


def test_a_later_store_that_may_hit_the_slot_is_kept() -> None:
    # [a] = 1; [b] = 2; decide [a]: 2 when a and b pick the same slot
    code = _idx(1, "a") + _idx(2, "b") + [
        insn("MOV_I", 8, imm=1), insn("ST64", 8, 1, imm=SCR),
        insn("MOV_I", 9, imm=2), insn("ST64", 9, 2, imm=SCR),
        insn("LD64", 10, 1, imm=SCR), insn("EXIT", src=10)]
    rep = verify(_prog(code))
    assert rep.accepted
    assert rep.decisions == {"values": [1, 2]}


def test_xor_of_one_value_with_itself_is_zero() -> None:
    # r10 reads back r8, so r8 ^ r10 is 0 whatever ctx.x is
    code = _idx(1, "a") + [insn("LDU32", 8, imm=mem_imm(Region.CTX), off=HOOK.layout["x"]),
                           insn("ST64", 8, 1, imm=SCR), insn("LD64", 10, 1, imm=SCR),
                           insn("XOR_R", 8, 10), insn("EXIT", src=8)]
    assert verify(_prog(code)).decisions == {"values": [0]}


def test_slot_written_at_two_other_indexes_may_be_uninitialized() -> None:
    # [a] = 7; [b] = 7; read [y]: written only where y's slot is a's or b's
    code = _idx(1, "a") + _idx(2, "b") + _idx(3, "y") + [
        insn("MOV_I", 8, imm=7), insn("ST64", 8, 1, imm=SCR), insn("ST64", 8, 2, imm=SCR),
        insn("LD64", 10, 3, imm=SCR), insn("EXIT", src=10)]
    rep = verify(_prog(code))
    assert [r.obligation.kind for r in rep.failures] == ["Initialized"]
    cex = rep.failures[0].outcome.values
    assert (cex["ctx.y"] & 15) not in (cex["ctx.a"] & 15, cex["ctx.b"] & 15)
