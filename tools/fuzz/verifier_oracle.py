"""The verifier's soundness oracle over every engine, for one program.

What `verifier.verify` proves must hold when the program runs.  The program
runs, with the same table entries, map values and model weights (random,
inside the declared signature) and the same random in-range contexts, on the
reference semantics, the C interpreter and the C JIT:

* the engines agree on every run (decision, abort, abort pc, context);
* every run-time check that fails was predicted by a failing obligation of
  that kind at that pc - so an accepted program never aborts (a missing
  model is the one abort the verifier does not own: weights arrive later);
* when every DecisionAllowed obligation holds, decisions of runs that did
  not abort lie in the range the verifier reported, and none is refused.

The inputs and the judgement of each run are tests/test_verifier_soundness.py's
(`fill`, `ctx_in_range`, `Prediction`: imported, not copied); this module adds
the C engines and their agreement, and returns figures for the fuzz loop.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (str(ROOT / "tests"), str(ROOT)):        # the repo first (see seeds.py)
    if _p in sys.path:
        sys.path.remove(_p)
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rmt.contract import objfile  # noqa: E402
from rmt.contract.isa import BY_NAME  # noqa: E402
from rmt.contract.objfile import Program  # noqa: E402
from rmt.vm import CEngine, load_lib  # noqa: E402
from rmt.semantics.reference import ReferenceEngine  # noqa: E402
from test_verifier_soundness import Prediction, ctx_in_range, fill  # noqa: E402

NCPUS = 64          # the userspace C VM's CPUs


@dataclass
class Outcome:
    accepted: bool
    runs: int
    aborts: int
    has_model: bool


def engines(obj: bytes) -> dict:
    out = {"reference": ReferenceEngine(obj), "interp": CEngine(obj, jit=False)}
    if load_lib().lib.rmt_jit_supported():
        out["jit"] = CEngine(obj, jit=True)
    return out


def check_program(prog: Program, seed: int, runs: int = 8) -> Outcome:
    """Verify prog, run it everywhere, assert the verdict holds; AssertionError if not."""
    pred = Prediction.of(prog)
    obj = objfile.write(prog)
    engs = engines(obj)
    for eng in engs.values():           # the same entries, maps and weights everywhere
        fill(eng, prog, random.Random(seed))
    rng = random.Random(seed ^ 0x5EED)
    aborts = 0
    for i in range(runs):
        ctx = ctx_in_range(prog.hook, rng)
        cpu, now = rng.randrange(NCPUS), rng.randrange(1 << 40)
        results = {}
        for name, eng in engs.items():
            before = eng.stats().bad_decisions
            results[name] = (eng.run(ctx, cpu=cpu, now=now), eng.stats().bad_decisions > before)
        ref, ref_bad = results["reference"]
        for name, (r, bad) in results.items():
            assert (r.decision, r.abort, r.abort_pc, r.ctx, bad) == \
                (ref.decision, ref.abort, ref.abort_pc, ref.ctx, ref_bad), \
                f"run {i}: {name} differs from the reference: {r} vs {ref}"
        aborts += pred.judge(ref, ref_bad, f"run {i}")
    pred.judge_total(aborts)
    callm = BY_NAME["CALLM"].code
    return Outcome(pred.report.accepted, runs, aborts, any(i.code == callm for i in prog.code))
