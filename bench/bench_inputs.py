"""Random inputs of a program's declared shapes, for the benchmarks that run the examples on
several engines (bench/bench_jit.py in userspace, bench/bench_kmod_jit.py in rmt.ko): table
entries, model weights and hook contexts.

Weights are random but of the declared shape -- every layer, every tree to its declared depth
-- so a model costs what a trained one of that declaration costs at most (a trained tree may
be shallower); zero biases, small weights.
"""
from __future__ import annotations

import errno
import random

from rmt.contract import codec
from rmt.contract import weights as W
from rmt.contract.engine import EngineError, Entry, Exact, Lpm, Range, Ternary
from rmt.contract.objfile import Program
from rmt.contract.objformat import LayerKind, MatchKind, ModelKind


def random_match(kind: MatchKind, bits: int, rng: random.Random):
    top = (1 << bits) - 1
    v = rng.randint(0, top)
    if kind == MatchKind.EXACT:
        return Exact(v)
    if kind == MatchKind.LPM:
        plen = rng.randint(0, bits)
        return Lpm(v & ~((1 << (bits - plen)) - 1) & top, plen)
    if kind == MatchKind.TERNARY:
        return Ternary(v, rng.randint(0, top))
    lo = rng.randint(0, top)
    return Range(lo, rng.randint(lo, top))


def fill_tables(eng, prog: Program, rng: random.Random, n: int = 64) -> None:
    for t, tb in enumerate(prog.tables):
        prio = any(k.kind in (MatchKind.TERNARY, MatchKind.RANGE) for k in tb.keys)
        for _ in range(min(n, tb.max_entries)):
            a = rng.randrange(len(tb.actions))
            e = Entry(tuple(random_match(k.kind, k.bits, rng) for k in tb.keys), a,
                      bytes(rng.randrange(256) for _ in range(tb.actions[a].param_size)),
                      rng.randrange(1000) if prio else 0)
            try:
                eng.table_insert(t, e)
            except EngineError as err:
                if err.code not in (errno.EEXIST, errno.ENOSPC):
                    raise


def model_weights(m, rng: random.Random) -> bytes:
    """Random weights of model m's declared shape (zero biases, small weights)."""
    wmax = min(m.max_abs_weight or 127, (1 << (m.weight_bits - 1)) - 1, 127)
    w = lambda: rng.randint(-wmax, wmax)  # noqa: E731
    if m.kind in (ModelKind.TREE, ModelKind.FOREST):
        trees = []
        for _ in range(max(m.trees, 1)):
            nodes, leaves = [], []

            def grow(depth: int) -> int:
                idx = len(nodes)
                nodes.append(None)
                if depth == m.depth:
                    nodes[idx] = W.Node(-1, leaf=len(leaves))
                    leaves.append([rng.randint(-100, 100) for _ in range(m.n_out)])
                else:
                    left = grow(depth + 1)
                    right = grow(depth + 1)
                    nodes[idx] = W.Node(rng.randrange(m.n_in), rng.randint(-1000, 1000),
                                        left, right)
                return idx
            grow(0)
            trees.append(W.Tree(nodes, leaves))
        return W.write_weights(W.forest(trees, m.n_in, kind=m.kind,
                                        weight_bits=m.weight_bits))
    layers = []
    for ly in m.layers:
        relu = ly.act.name == "RELU"
        if ly.kind == LayerKind.CONV1D:
            layers.append(W.Conv1dLayer([[[w() for _ in range(ly.kernel)]
                                          for _ in range(ly.in_ch)] for _ in range(ly.out_ch)],
                                        [0] * ly.out_ch, ly.n_in, 8, relu))
        else:
            layers.append(W.DenseLayer([[w() for _ in range(ly.n_in)] for _ in range(ly.n_out)],
                                       [0] * ly.n_out, 8, relu))
    return W.write_weights(W.mlp(layers, m.weight_bits, kind=m.kind))


def random_ctxs(prog: Program, rng: random.Random, n: int = 16) -> list[bytes]:
    out = []
    for _ in range(n):
        vals = {}
        for f in prog.hook.fields:
            pick = lambda: rng.randint(f.lo, f.hi)  # noqa: E731
            vals[f.name] = [pick() for _ in range(f.count)] if f.count > 1 else pick()
        out.append(codec.ctx_encode(prog.hook, vals))
    return out


def prepare(eng, prog: Program, seed: int):
    rng = random.Random(seed)
    fill_tables(eng, prog, rng)
    for i, m in enumerate(prog.models):
        eng.model_load(i, model_weights(m, rng))
    return eng
