"""What staging a candidate model costs, and the check `rmtctl model stage` makes.

A staged candidate runs beside the live weights at every CALLM of its model
(docs/semantics.md, "Candidate models"), so while it is staged the program's
worst case pays that model's inference twice.  Staging is refused when that
worst case exceeds the hook's budget: the candidate is then evaluated on every
run, never skipped, so every engine counts the same agreement on the same runs
(a budget-dependent skip would make the counts depend on timing).  The check
depends on the program and the model's declaration only, not on the weights
(a candidate has the model's signature, so its inference costs the same).
"""
from __future__ import annotations

from rmt.compiler.cost import model_cost
from rmt.contract.isa import BY_CODE, Fmt
from rmt.contract.objfile import Program


class StageRefused(Exception):
    """The program cannot afford a candidate of this model."""


def staged_worst_case(prog: Program, model: int) -> int:
    """The longest path's cost with model `model`'s inference counted twice per CALLM."""
    from rmt.verifier.costcheck import worst_case     # the verifier loads Z3: only here
    twice = model_cost(prog.models[model])
    callm = {op.code for op in BY_CODE.values() if op.fmt == Fmt.CALLM}
    cost, _ = worst_case(prog, set(),
                         lambda i: twice if i.code in callm and i.imm == model else 0)
    return cost


def check_stage_cost(prog: Program, model: int, budget: int | None = None) -> int:
    """The staged worst case, or StageRefused when it exceeds the budget (the hook's)."""
    budget = prog.hook.budget if budget is None else budget
    cost = staged_worst_case(prog, model)
    if cost > budget:
        m = prog.models[model]
        raise StageRefused(f"model {m.name}: a candidate runs beside the live weights, so the "
                           f"program's worst case becomes {cost} (the model's inference, "
                           f"{model_cost(m)}, counted twice), over the hook's budget {budget}; "
                           f"nothing was staged")
    return cost
