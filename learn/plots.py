"""PNG figures for learning results (matplotlib, Agg backend, imported lazily
so the rest of `learn` works without it)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def confusion_matrices(mats: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """One panel per named 2x2 matrix [[tn, fp], [fn, tp]]."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(mats), figsize=(3.6 * len(mats), 3.4), squeeze=False)
    for ax, (name, m) in zip(axes[0], mats.items()):
        ax.imshow(m, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(int(m[i][j])), ha="center", va="center",
                        color="black" if m[i][j] < m.max() / 2 else "white")
        ax.set_xticks([0, 1], ["pred 0", "pred 1"])
        ax.set_yticks([0, 1], ["true 0", "true 1"])
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(groups: Sequence[str], series: dict[str, Sequence[float]], path: Path,
                 title: str, ylabel: str, ylim: tuple[float, float] | None = None) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups)), 3.6))
    k = len(series)
    width = 0.8 / k
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(np.arange(len(groups)) + (i - (k - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def histogram(samples: dict[str, Sequence[float]], path: Path, title: str, xlabel: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, s in samples.items():
        s = np.asarray(s)
        hi = np.percentile(s, 99) if len(s) else 1
        ax.hist(s[s <= hi], bins=60, alpha=0.6,
                label=f"{name} (median {np.median(s):.2f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("calls")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
