"""Soundness of the verifier against the reference semantics.

What the verifier proves must hold when the program runs: for every accepted
corpus program and every hypothesis-generated program (tests/progen.py), run
in semantics.reference.ReferenceEngine on random contexts inside the hook's
declared ranges, with random table entries, map values and model weights
inside the declared signature:

* a run-time check that fails (BOUNDS, DIV_ZERO, SHIFT, MAP_INDEX, HELPER)
  must have been predicted: the verifier reported a failing obligation of
  that kind at that pc (so an accepted program never aborts);
* a decision outside the hook's set must have been predicted by a failing
  DecisionAllowed;
* when every DecisionAllowed obligation is proved, the decisions of runs
  that did not abort lie in the range the verifier reported.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings

from rmt.contract import objfile
from rmt.contract.isa import Abort
from rmt.contract.objfile import Model, Program
from rmt.contract.objformat import Activation, LayerKind, MatchKind, ModelKind
from casefile import Case, build_program
from progen import gen_cases
from rmt.contract.hooks import HookSpec
from rmt.contract.engine import Entry, Exact, Lpm, Range, RunResult, Ternary
from rmt.semantics.reference import ReferenceEngine
from rmt.contract.weights import Conv1dLayer, DenseLayer, Node, Tree, forest, mlp, write_weights
from test_verifier_corpus import CASES, load_vcase
from rmt.verifier import Report, verify
from rmt.verifier.modelcheck import bias_bound, weight_bound

PREDICTS = {Abort.BOUNDS: {"InBounds", "WellFormed"}, Abort.DIV_ZERO: {"NonZeroDivisor"},
            Abort.SHIFT: {"ShiftInRange"}, Abort.MAP_INDEX: {"MapIndexInRange"},
            Abort.HELPER: {"HelperArgValid"}}


def ctx_in_range(hook: HookSpec, rng: random.Random) -> bytes:
    """A context with every field inside its declared [lo, hi], edges often."""
    buf = bytearray(hook.ctx_size)
    for f in hook.fields:
        size = f.type.size
        for j in range(f.count):
            v = rng.choice([f.lo, f.hi, rng.randint(f.lo, f.hi), rng.randint(f.lo, f.hi),
                            min(max(0, f.lo), f.hi), rng.randint(f.lo, min(f.hi, f.lo + 16))])
            off = hook.layout[f.name] + j * size
            buf[off:off + size] = v.to_bytes(size, "little", signed=f.type.signed)
    return bytes(buf)


def weights_for(m: Model, rng: random.Random) -> bytes:
    """Random weights inside the bounds the verifier assumes (modelcheck.py)."""
    W, B = weight_bound(m), bias_bound(m) - 1

    def w() -> int:
        return rng.choice([W, -W, rng.randint(-W, W)]) if W < (1 << (m.weight_bits - 1)) \
            else rng.choice([W - 1, -W, rng.randint(-W, W - 1)])

    if m.kind in (ModelKind.MLP, ModelKind.LINEAR):
        layers = []
        for ly in m.layers:
            relu = ly.act == Activation.RELU
            shift = rng.randrange(6)
            if ly.kind == LayerKind.CONV1D:
                ws = [[[w() for _ in range(ly.kernel)] for _ in range(ly.in_ch)]
                      for _ in range(ly.out_ch)]
                layers.append(Conv1dLayer(ws, [rng.randint(-B, B) for _ in range(ly.out_ch)],
                                          ly.n_in, shift, relu))
            else:
                ws = [[w() for _ in range(ly.n_in)] for _ in range(ly.n_out)]
                layers.append(DenseLayer(ws, [rng.randint(-B, B) for _ in range(ly.n_out)],
                                         shift, relu))
        return write_weights(mlp(layers, m.weight_bits, kind=m.kind))
    trees = []
    for _ in range(1 if m.kind == ModelKind.TREE else m.trees):
        nodes = [Node(0 % m.n_in, rng.randint(-100, 100), 1, 2), Node(-1, leaf=0),
                 Node(-1, leaf=1)] if m.depth >= 1 else [Node(-1, leaf=0)]
        leaves = [[rng.randint(-(1 << 31), (1 << 31) - 1) for _ in range(m.n_out)]
                  for _ in range(2)]
        trees.append(Tree(nodes, leaves))
    shift = rng.randrange(4) if m.kind == ModelKind.FOREST else 0     # trees take none
    return write_weights(forest(trees, m.n_in, shift, kind=m.kind, weight_bits=m.weight_bits))


def fill(eng: ReferenceEngine, prog: Program, rng: random.Random) -> None:
    """Entries, map values and weights a control plane might load."""
    for t_id, t in enumerate(prog.tables):
        for _ in range(3):
            match = []
            for k in t.keys:
                top = (1 << k.bits) - 1
                match.append({MatchKind.EXACT: Exact(rng.randint(0, min(top, 8))),
                              MatchKind.LPM: Lpm(0, 0), MatchKind.TERNARY: Ternary(0, 0),
                              MatchKind.RANGE: Range(0, top)}[k.kind])
            a = rng.randrange(len(t.actions))
            params = bytes(rng.randrange(256) for _ in range(t.actions[a].param_size))
            try:
                eng.table_insert(t_id, Entry(tuple(match), a, params, rng.randrange(4)))
            except Exception:        # duplicate identities: keep the first
                pass
    streak_maps = {g.c for g in prog.guards}
    for m_id, mp in enumerate(prog.maps):
        if m_id in streak_maps:
            continue                 # the streak proof assumes the control plane keeps out
        for _ in range(3):
            key = rng.randrange(min(mp.max_entries, 16))
            eng.map_write(m_id, key, rng.randrange(1 << min(mp.value_bits, 64)))
    for m_id, m in enumerate(prog.models):
        eng.model_load(m_id, weights_for(m, rng))


def in_reported(decision: int, rep) -> bool:
    d = rep.decisions
    if "values" in d:
        return decision in d["values"]
    if "min" in d:
        return d["min"] <= decision <= d["max"] or (decision == -1 and d.get("default", True))
    return True


@dataclass(frozen=True)
class Prediction:
    """What the verifier reported on a program, in the form each observed run is judged
    against.  One definition for this test and tools/fuzz/verifier_oracle.py (which runs
    the same judgement on the C engines too)."""
    report: Report
    failing: frozenset[tuple[str, int]]     # (obligation kind, pc) of every failure
    decisions_proved: bool                  # no DecisionAllowed obligation failed

    @classmethod
    def of(cls, prog: Program) -> Prediction:
        rep = verify(prog)
        failing = frozenset((r.obligation.kind, r.obligation.pc) for r in rep.failures)
        return cls(rep, failing, not any(k == "DecisionAllowed" for k, _ in failing))

    def judge(self, r: RunResult, bad_decision: bool, where: str) -> bool:
        """Assert one run is what the report allows (`where` starts the messages): an abort
        the verifier owns was predicted at its pc, a bad decision was not ruled out, a good
        one lies in the reported range.  Returns whether it was such an abort."""
        aborted = bool(r.abort) and r.abort != Abort.MODEL_MISSING
        if aborted:
            kinds = PREDICTS[Abort(r.abort)]
            assert any((k, r.abort_pc) in self.failing for k in kinds), \
                f"{where}: {Abort(r.abort).name} at pc {r.abort_pc} was not predicted; " \
                f"the verifier reported {sorted(self.failing)}"
        if bad_decision:
            assert not self.decisions_proved, f"{where}: a bad decision the verifier ruled out"
        elif not r.abort and self.decisions_proved:
            assert in_reported(r.decision, self.report), \
                f"{where}: decision {r.decision} outside the reported {self.report.decisions}"
        return aborted

    def judge_total(self, aborts: int) -> None:
        """An accepted program never aborts (with a check the verifier owns)."""
        assert not (self.report.accepted and aborts), "an accepted program aborted"


def check_runs(prog: Program, rng: random.Random, runs: int) -> tuple[bool, int]:
    """Run prog; assert every observed failure was predicted. Returns (accepted, aborts)."""
    pred = Prediction.of(prog)
    eng = ReferenceEngine(objfile.write(prog))
    fill(eng, prog, rng)
    aborts = 0
    for _ in range(runs):
        before = eng.stats().bad_decisions
        r = eng.run(ctx_in_range(prog.hook, rng), cpu=rng.randrange(4096),
                    now=rng.randrange(1 << 40))
        aborts += pred.judge(r, eng.stats().bad_decisions > before, prog.name)
    pred.judge_total(aborts)
    return pred.report.accepted, aborts


def test_accepted_corpus_never_aborts() -> None:
    rng = random.Random(1234)
    checked = 0
    for path in CASES:
        if not path.name.endswith(".ok.case"):
            continue
        c = load_vcase(path)
        prog = build_program(Case(str(path), c.hook, asm=c.asm, rmt=c.rmt, schema=c.schema))
        if c.options.get("budget") is not None or c.weights or len(prog.code) > 400:
            continue     # accepted only under options, or slow to run many times
        accepted, aborts = check_runs(prog, rng, 6)
        assert accepted, path
        assert aborts == 0
        checked += 1
    assert checked >= 100


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(gen_cases())
def test_generated_programs_failures_are_predicted(case) -> None:
    check_runs(case.program, random.Random(7), 8)
