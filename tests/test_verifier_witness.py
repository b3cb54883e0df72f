"""The decision report's concrete witnesses (verifier/witness.py): a value is reported
reachable from a sample only when a real run returns it -- the sample satisfies every input
constraint and the exit's path -- and values no sample reaches still go to the solver."""
from __future__ import annotations

import z3
from hypothesis import HealthCheck, given, settings

from progen import gen_cases
from rmt.compiler import compile_source
from rmt.verifier import verify
from rmt.verifier.inputs import Inputs
from rmt.verifier.symexec import Executor
from rmt.verifier.symstate import to_z3
from rmt.verifier.witness import Witnesses


def _run(src: str):
    prog = compile_source(src, "w.rmt")
    inputs = Inputs()
    ex = Executor(prog, inputs, set())
    ex.run()
    return prog, inputs, ex


def test_value_behind_an_infeasible_path_is_not_reported() -> None:
    # no a in [0, 1000] has a * a == 2: the abstraction keeps {0, 1}, the path rules out 1
    src = """hook test.sandbox;
apply {
    if ctx.a * ctx.a == 2 { decide(1); } else { decide(0); }
}"""
    prog, inputs, ex = _run(src)
    assert 1 not in Witnesses(inputs).reach(ex.exits, lambda f: True, samples=400)
    assert verify(prog).decisions == {"values": [0]}


def test_sample_breaking_an_input_constraint_is_no_run() -> None:
    # random(4) < 4: a sample with r == 5 lies outside the input constraints
    src = """hook test.sandbox;
apply {
    let r = random(4);
    if r == 5 { decide(1); } else { decide(0); }
}"""
    prog, inputs, ex = _run(src)
    assert 1 not in Witnesses(inputs).reach(ex.exits, lambda f: True, samples=400)
    assert verify(prog).decisions == {"values": [0]}


def test_value_no_sample_reaches_is_left_to_the_solver() -> None:
    # only a == 500 decides 1: the samples miss it, the solver finds it
    src = """hook test.sandbox;
apply {
    if ctx.a * 7 == 3500 { decide(1); } else { decide(0); }
}"""
    prog, inputs, ex = _run(src)
    assert 1 not in Witnesses(inputs).reach(ex.exits, lambda f: True)
    assert verify(prog).decisions == {"values": [0, 1]}


def test_bounds_from_witnesses_match_the_search() -> None:
    # a wide range: min and max come from runs (0 and 100 are the clamp's ends) or the search
    src = """hook test.sandbox;
apply {
    decide(min(ctx.a * 3, 100));
}"""
    prog, inputs, ex = _run(src)
    rep = verify(prog)
    assert rep.decisions == {"default": False, "min": 0, "max": 100}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(gen_cases())
def test_every_witness_is_a_model(case) -> None:
    """Each reported value is satisfiable with the solver: constraints, a path, the value."""
    inputs = Inputs()
    ex = Executor(case.program, inputs, set())
    ex.run()
    found = Witnesses(inputs).reach(ex.exits, lambda f: True, samples=24)
    d = z3.BitVec("__d", 64)
    for v in found:
        s = z3.Solver()
        s.set("timeout", 20_000)
        s.add(*inputs.constraints)
        s.add(z3.Or(*[z3.And(to_z3(e.path), e.value == d) for e in ex.exits]), d == v)
        assert s.check() != z3.unsat, f"value {v} has no run"
