"""Train the swap prefetcher's decision tree (examples/swap_prefetch.rmt, model `next`).

Data: the swap-fault stream of each workload's training part (the simulator
with no prefetching and the prefetch buffer's memory taken away, which is
exactly the fault stream every prefetcher sees: a prefetched page faults
minor instead of major, at the same point).  For fault i:
- features: the program's inputs, the last 8 fault deltas (x[0] the latest),
  clamped to +-65536, 0 where the history is shorter (`hist_len`);
- targets: for each candidate delta d of a vocabulary (the commonest deltas
  from a fault to one of the next `horizon` faults, per workload), 1 if page
  + d is among those next faults.
The tree is `learn.tree.fit` on these multi-hot targets (variance reduction
on 0/1 targets: the summed Gini impurity of "d comes soon"), with every
workload given the same total weight.  A leaf's value is the frequency of
each candidate delta among its samples; the exported leaf keeps the deltas
with frequency >= `min_freq` (best first, at most 16) and their count is
the window, so the tree trades coverage for accuracy through `min_freq`.
Integer features and thresholds make the exported tree exact (the VM's
`x[f] <= t` on the same integers): quantization loses nothing but the clamp.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from rmt.contract.objformat import ModelKind
from rmt.learn import tree as cart
from rmt.learn.quantize import emulate_tree, export_tree
from rmt.contract import weights as W

HIST = 8
X_LIM = 65536
PF_MAX = 16
PF_LIM = 1 << 20


def features(fault_pages: np.ndarray) -> np.ndarray:
    """[n, 8] delta histories at each fault; row i's x[0] = page_i - page_{i-1}."""
    p = np.asarray(fault_pages, dtype=np.int64)
    d = np.diff(p, prepend=p[:1])          # d[0] = 0: no history before the first fault
    x = np.zeros((len(p), HIST), dtype=np.int64)
    for k in range(min(HIST, len(p) - 1)):
        x[k + 1:, k] = d[1:len(p) - k]     # x[i, k] = d[i - k] for i - k >= 1
    return np.clip(x, -X_LIM, X_LIM)


def future_deltas(fault_pages: np.ndarray, horizon: int) -> list[set[int]]:
    """For each fault, the set of deltas to the pages of the next `horizon` faults."""
    p = np.asarray(fault_pages, dtype=np.int64).tolist()
    out = []
    for i in range(len(p)):
        s = {q - p[i] for q in p[i + 1:i + 1 + horizon]}
        s.discard(0)
        out.append({d for d in s if -PF_LIM <= d <= PF_LIM})
    return out


@dataclass
class SwapTree:
    """A trained prefetch tree and how to turn it into the program's model."""
    model: cart.TreeModel
    vocab: np.ndarray              # candidate deltas, one per target column
    min_freq: float

    def leaf(self, v: np.ndarray) -> list[int]:
        """A leaf's frequencies -> [window, delta_1 .. delta_16]."""
        order = np.argsort(-v, kind="stable")
        keep = [int(self.vocab[j]) for j in order if v[j] >= self.min_freq][:PF_MAX]
        return [len(keep)] + keep + [0] * (PF_MAX - len(keep))

    def weights(self) -> W.ModelWeights:
        return export_tree(self.model, leaf=self.leaf, kind=ModelKind.TREE)

    def blob(self) -> bytes:
        return W.write_weights(self.weights())

    def predict(self, x: np.ndarray) -> np.ndarray:
        """[n, 17] outputs exactly as the VM computes them."""
        return emulate_tree(self.weights(), x)


def build_vocab(future: list[list[set[int]]], per_workload: int = 24, cap: int = 96
                ) -> np.ndarray:
    """The commonest future deltas of each workload (equal say per workload)."""
    chosen: list[int] = []
    for sets in future:
        c = Counter(d for s in sets for d in s)
        for d, _ in c.most_common(per_workload):
            if d not in chosen:
                chosen.append(d)
    return np.array(chosen[:cap], dtype=np.int64)


def targets(sets: list[set[int]], vocab: np.ndarray) -> np.ndarray:
    col = {int(d): j for j, d in enumerate(vocab)}
    y = np.zeros((len(sets), len(vocab)), dtype=np.float32)
    for i, s in enumerate(sets):
        for d in s:
            j = col.get(d)
            if j is not None:
                y[i, j] = 1.0
    return y


def train(fault_streams: list[np.ndarray], *, horizon: int = 16, max_depth: int = 12,
          min_leaf: int = 40, min_freq: float = 0.5, max_samples: int = 40_000,
          seed: int = 0, log=print) -> SwapTree:
    """One tree over the training fault streams of several workloads."""
    rng = np.random.default_rng(seed)
    streams = [np.asarray(s, dtype=np.int64) for s in fault_streams if len(s) > HIST]
    if not streams:
        raise ValueError("no fault stream has more than 8 faults: nothing to learn from")
    futs = [future_deltas(s, horizon) for s in streams]
    vocab = build_vocab(futs)
    per = max(1, max_samples // len(streams))
    xs, ys, ws = [], [], []
    for s, fut in zip(streams, futs):
        x = features(s)
        idx = np.arange(len(s)) if len(s) <= per else np.sort(rng.choice(len(s), per, False))
        xs.append(x[idx])
        ys.append(targets([fut[i] for i in idx], vocab))
        ws.append(np.full(len(idx), 1.0 / len(idx)))      # every workload weighs the same
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    w *= len(w) / w.sum()
    log(f"swap tree: {len(x)} samples from {len(streams)} workloads, "
        f"{len(vocab)} candidate deltas, depth <= {max_depth}")
    model = cart.fit(x, y, max_depth=max_depth, sample_weight=w,
                     min_leaf_weight=min_leaf * y.shape[1])
    t = SwapTree(model, vocab, min_freq)
    nleaves = sum(1 for n in model.nodes if n.feature < 0)
    log(f"swap tree: {len(model.nodes)} nodes, {nleaves} leaves, depth {model.depth}")
    return t
