"""A small dense MLP in numpy: ReLU hidden layers, one sigmoid logit per head.

Hidden activations are clamped to `clamp` (the fixed-point range the VM
clamps them to, in float units) during training too, so the float model is
the function the quantized one approximates.  Class imbalance is handled
with per-head positive weights in the binary cross-entropy.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class MLP:
    weights: list[np.ndarray]            # [n_out][n_in] per layer
    biases: list[np.ndarray]
    clamp: float = np.inf                # hidden activations are clamped to [0, clamp]

    @classmethod
    def init(cls, sizes: list[int], rng: np.random.Generator, clamp: float = np.inf) -> "MLP":
        ws = [rng.normal(0, np.sqrt(2 / a), (b, a)) for a, b in zip(sizes, sizes[1:])]
        return cls(ws, [np.zeros(b) for b in sizes[1:]], clamp)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        acts = [x]
        h = x
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = h @ w.T + b
            if j + 1 < len(self.weights):
                z = np.clip(z, 0, self.clamp)
            acts.append(z)
            h = z
        return h, acts

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.forward(np.asarray(x, dtype=float))[0]


@dataclass
class TrainConfig:
    epochs: int = 40
    batch: int = 256
    lr: float = 3e-3
    seed: int = 0
    max_pos_weight: float = 50.0
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr))


def pos_weights(y: np.ndarray, cap: float) -> np.ndarray:
    """Per head: negatives / positives, so both classes weigh the same in the loss."""
    pos = y.sum(0)
    return np.clip((len(y) - pos) / np.maximum(pos, 1), 1.0, cap)


def train(x: np.ndarray, y: np.ndarray, hidden: list[int], cfg: TrainConfig,
          val: tuple[np.ndarray, np.ndarray] | None = None, clamp: float = np.inf) -> MLP:
    """Adam on weighted BCE; prints one progress line per epoch (loss, val accuracy)."""
    rng = np.random.default_rng(cfg.seed)
    x, y = np.asarray(x, float), np.asarray(y, float)
    model = MLP.init([x.shape[1], *hidden, y.shape[1]], rng, clamp)
    pw = pos_weights(y, cfg.max_pos_weight)
    params = model.weights + model.biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step, b1, b2 = 0, 0.9, 0.999
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), cfg.batch):
            idx = order[i:i + cfg.batch]
            xb, yb = x[idx], y[idx]
            out, acts = model.forward(xb)
            p = 1 / (1 + np.exp(-out))
            wt = np.where(yb > 0, pw, 1.0)
            total += float(np.sum(wt * (np.logaddexp(0, out) - yb * out)))
            grad = wt * (p - yb) / len(xb)
            gw, gb = [], []
            for j in range(len(model.weights) - 1, -1, -1):
                gw.insert(0, grad.T @ acts[j])
                gb.insert(0, grad.sum(0))
                if j:
                    h = acts[j]
                    grad = (grad @ model.weights[j]) * ((h > 0) & (h < model.clamp))
            step += 1
            for k, g in enumerate(gw + gb):
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g * g
                mh, vh = m[k] / (1 - b1 ** step), v[k] / (1 - b2 ** step)
                params[k] -= cfg.lr * mh / (np.sqrt(vh) + 1e-8)
        msg = f"  epoch {epoch + 1:3d}/{cfg.epochs}  loss {total / len(x):.4f}"
        if val is not None and len(val[0]):
            acc = np.mean((model.logits(val[0]) > 0) == (val[1] > 0), axis=0)
            msg += "  val acc " + " ".join(f"{a:.4f}" for a in acc)
        cfg.log(msg)
    return model
