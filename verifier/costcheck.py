"""Worst-case cost: the longest path through the DAG under compiler/cost.py.

Jumps go forward, so one pass in pc order computes for each pc the most
expensive way to reach it.  The figure is an upper bound: it does not ask
whether the longest path is feasible (a sound over-approximation).
"""
from __future__ import annotations

from typing import Callable

from rmt.compiler.cost import insn_cost
from rmt.contract.isa import BY_CODE, Fmt, Insn
from rmt.contract.objfile import Program
from rmt.verifier import obligations as O
from rmt.verifier.obligations import Counterexample, Proved, Result


def worst_case(prog: Program, bad_pcs: set[int],
               extra: Callable[[Insn], int] | None = None) -> tuple[int, list[int]]:
    """(cost of the most expensive path from pc 0 to an EXIT, that path's pcs); `extra`
    adds a cost per instruction (a staged candidate model: rmt.ctl.candidates)."""
    n = len(prog.code)
    best: list[int | None] = [None] * n
    prev: list[int] = [-1] * n
    best[0] = 0
    top, top_pc = 0, -1
    for pc, i in enumerate(prog.code):
        if best[pc] is None:
            continue
        op = BY_CODE.get(i.code)
        here = best[pc] + (insn_cost(prog, i) if op else 0) + (extra(i) if extra else 0)
        if op is None or pc in bad_pcs or op.fmt == Fmt.EXIT:
            if here > top or top_pc < 0:
                top, top_pc = here, pc
            continue
        succ = [pc + 1]
        if op.fmt == Fmt.JA:
            succ = [pc + 1 + i.off]
        elif op.fmt in (Fmt.JMP_R, Fmt.JMP_I):
            succ.append(pc + 1 + i.off)
        for s in succ:
            if 0 <= s < n and (best[s] is None or here > best[s]):
                best[s], prev[s] = here, pc
    path, pc = [], top_pc
    while pc >= 0:
        path.append(pc)
        pc = prev[pc]
    return top, path[::-1]


def _cost(prog: Program, pc: int) -> int:
    """insn_cost, 0 for an unknown opcode (WellFormed rejects it; found by tools/fuzz)."""
    i = prog.code[pc]
    return insn_cost(prog, i) if i.code in BY_CODE else 0


def check_cost(prog: Program, budget: int, bad_pcs: set[int]) -> tuple[Result, int]:
    cost, path = worst_case(prog, bad_pcs)
    heavy = max(path, key=lambda pc: _cost(prog, pc), default=-1)
    ob = O.WithinBudget(heavy if cost > budget else -1, cost, budget)
    if cost <= budget:
        return Result(ob, Proved(f"worst case {cost} <= {budget}")), cost
    parts = sorted(path, key=lambda pc: -_cost(prog, pc))[:3]
    top = ", ".join(f"pc {pc} costs {_cost(prog, pc)}" for pc in parts)
    return Result(ob, Counterexample({"cost": cost, "budget": budget,
                                      "path length": len(path)},
                                     f"most expensive on the path: {top}")), cost
