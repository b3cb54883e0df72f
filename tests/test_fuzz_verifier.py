"""The verifier's soundness oracle on programs it accepts (tools/fuzz/accept_gen.py).

tests/test_verifier_soundness.py checks the verifier on tests/progen.py
programs, which it nearly always rejects (models declare the whole int32
input range, indexes are unguarded).  Here the generator builds programs
from guarded snippets so most are accepted - with tables, maps, trace,
helpers and models (linear, MLP, conv1d) among them - and some with one
guard weakened, so the verifier must also reject.  tools/fuzz/verifier_oracle.py
runs each on the reference semantics, the C interpreter and the C JIT: an
accepted program never aborts, engines agree, decisions stay in the proved
range.  `make fuzz` runs the same oracle for long (tools/fuzz/verifier_fuzz.py).
"""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accept_gen import gen_accept_program       # noqa: E402
from verifier_oracle import check_program        # noqa: E402


def test_generator_makes_acceptable_programs_with_models() -> None:
    """The known gap of the progen-based test: accepted programs that call models."""
    outcomes = [check_program(gen_accept_program(random.Random(s)), s, runs=4) for s in range(40)]
    accepted = [o for o in outcomes if o.accepted]
    assert len(accepted) >= 36, f"only {len(accepted)} of 40 accepted"
    assert sum(o.has_model for o in accepted) >= 8
    assert not any(o.aborts for o in accepted)


def test_weakened_guards_are_rejected() -> None:
    """With every guard weakened the verifier rejects, and predicts what aborts."""
    outcomes = [check_program(gen_accept_program(random.Random(s), risk=1.0), s, runs=6)
                for s in range(40)]
    rejected = [o for o in outcomes if not o.accepted]
    # (A program without a guarded snippet has nothing to weaken: about a third have one.)
    assert len(rejected) >= 10, f"only {len(rejected)} of 40 rejected"
    assert sum(o.aborts for o in rejected) > 0      # some weakened guard did fail at run time


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.randoms(use_true_random=False), st.sampled_from([0.0, 0.0, 0.05, 0.3]),
       st.integers(0, 2**32 - 1))
def test_verdicts_hold_in_every_engine(rng: random.Random, risk: float, seed: int) -> None:
    check_program(gen_accept_program(rng, risk), seed, runs=6)
