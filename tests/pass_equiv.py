"""Shared check for compiler passes: the program behaves the same with and without a pass.

Compiles a source twice, with compiler.driver's `pass_name` in place and
replaced by the identity, loads both objects into the reference semantics
with the same random table entries and model weights (bench/bench_inputs.py's
workload generators), and runs both on the same contexts: random values in
the hook's declared ranges, then random bytes.  Decisions, aborts, the
context written back, trace records and statistics must be equal.
"""
from __future__ import annotations

import random
from pathlib import Path

import rmt.compiler.driver as D
from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.semantics.reference import ReferenceEngine
from bench_inputs import fill_tables, model_weights, random_ctxs

ROOT = Path(__file__).resolve().parent.parent


def compile_with(text: str, file: str, pass_name: str, on: bool, monkeypatch) -> bytes:
    with monkeypatch.context() as m:
        if not on:
            m.setattr(D, pass_name, lambda insns: insns)
        return objfile.write(compile_source(text, file))


def _engine(obj: bytes, seed: int) -> ReferenceEngine:
    prog = objfile.read(obj)
    eng = ReferenceEngine(obj)
    rng = random.Random(seed)
    fill_tables(eng, prog, rng)
    for i, m in enumerate(prog.models):
        eng.model_load(i, model_weights(m, rng))
    return eng


def check_same_behaviour(text: str, file: str, pass_name: str, monkeypatch,
                         seed: int = 5, runs: int = 120) -> tuple[int, int]:
    """Assert equal behaviour; return (instructions without, with the pass)."""
    before = compile_with(text, file, pass_name, False, monkeypatch)
    after = compile_with(text, file, pass_name, True, monkeypatch)
    prog = objfile.read(after)
    e1, e2 = _engine(before, seed), _engine(after, seed)
    rng = random.Random(seed)
    ctxs = random_ctxs(prog, rng, runs)
    ctxs += [bytes(rng.randrange(256) for _ in range(prog.hook.ctx_size)) for _ in range(runs)]
    for k, ctx in enumerate(ctxs):
        r1, r2 = e1.run(ctx, now=k), e2.run(ctx, now=k)
        assert (r1.decision, r1.abort, r1.ctx) == (r2.decision, r2.abort, r2.ctx), (file, k)
    assert e1.trace_drain() == e2.trace_drain()
    assert e1.stats() == e2.stats()
    return len(objfile.read(before).code), len(prog.code)
