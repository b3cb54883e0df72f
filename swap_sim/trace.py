"""Page-access traces: the file format, the reduction, and synthetic patterns.

A trace is a sequence of virtual page numbers in access order.  Files are
`NAME.npz` with the page deltas (they compress far better than the pages)
and a JSON header (name, source, instruction count, whether synthetic).  The
instruction count feeds the run-time model: compute time between accesses.

`reduce_pages` strips the accesses that hit in a small LRU filter: such a page
is among the `filter_pages` most recently used, so any LRU memory at least
that large holds it (the stack property), and the simulator's faults at
memory limits above the filter size change little (prefetch-buffer pages and
recency order within the filter are what the stripping blurs).
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILTER_PAGES = 64
MAX_LEN = 400_000


@dataclass
class Trace:
    name: str
    pages: np.ndarray              # int64 virtual page numbers
    instrs: int = 0                # instructions executed over the trace (0: unknown)
    source: str = ""
    synthetic: bool = False

    def __post_init__(self) -> None:
        self.pages = np.asarray(self.pages, dtype=np.int64)
        if self.pages.ndim != 1:
            raise ValueError(f"trace {self.name}: pages must be one-dimensional")

    def __len__(self) -> int:
        return len(self.pages)

    @property
    def working_set(self) -> int:
        return int(len(np.unique(self.pages)))


def save_trace(tr: Trace, directory: Path) -> Path:
    path = Path(directory) / f"{tr.name}.npz"
    deltas = np.diff(tr.pages, prepend=np.int64(0))
    meta = json.dumps({"name": tr.name, "instrs": tr.instrs, "source": tr.source,
                       "synthetic": tr.synthetic, "len": len(tr)})
    np.savez_compressed(path, deltas=deltas, meta=np.array(meta))
    return path


def load_trace(path: Path) -> Trace:
    """Read a trace file; errors name the file and what is wrong with it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            deltas, meta = z["deltas"], json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a trace file ({e})") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError(f"{path}: the header has no trace name")
    if deltas.ndim != 1 or deltas.dtype.kind not in "iu":
        raise ValueError(f"{path}: deltas must be a 1-D integer array, not "
                         f"{deltas.dtype} of shape {deltas.shape}")
    if not isinstance(meta.get("instrs", 0), int) or meta.get("instrs", 0) < 0:
        raise ValueError(f"{path}: instrs {meta.get('instrs')!r} is not a count")
    pages = np.cumsum(deltas.astype(np.int64))
    if meta.get("len", len(pages)) != len(pages):
        raise ValueError(f"{path}: header says {meta['len']} accesses, file has {len(pages)}")
    if len(pages) == 0:
        raise ValueError(f"{path}: no accesses")
    if pages.min() < 0 or pages.max() >= 1 << 35:
        raise ValueError(f"{path}: page numbers must be in 0..2^35 (virtual page numbers), "
                         f"found {pages.min()}..{pages.max()}")
    return Trace(meta["name"], pages, int(meta.get("instrs", 0)), str(meta.get("source", "")),
                 bool(meta.get("synthetic", False)))


def load_dir(directory: Path) -> list[Trace]:
    """Every `*.npz` trace in a directory (sorted by file name); names must be distinct."""
    out: list[Trace] = []
    seen: dict[str, Path] = {}
    for p in sorted(Path(directory).glob("*.npz")):
        tr = load_trace(p)
        if tr.name in seen:
            raise ValueError(f"{p}: trace name {tr.name!r} already used by {seen[tr.name]}")
        seen[tr.name] = p
        out.append(tr)
    return out


def reduce_pages(pages: np.ndarray, filter_pages: int = FILTER_PAGES,
                 max_len: int = MAX_LEN) -> np.ndarray:
    """Strip the hits of a `filter_pages` LRU filter; keep at most the last `max_len`
    accesses (a program's start is loading; its steady state is the work)."""
    lru: OrderedDict[int, None] = OrderedDict()
    out = []
    for p in np.asarray(pages, dtype=np.int64).tolist():
        if p in lru:
            lru.move_to_end(p)
            continue
        lru[p] = None
        if len(lru) > filter_pages:
            lru.popitem(last=False)
        out.append(p)
    a = np.array(out, dtype=np.int64)
    return a[-max_len:] if len(a) > max_len else a


# ------------------------------------------------------------------ synthetic

BASE = 0x5_5550_0000 >> 12          # a heap-like base address, in pages


def sequential(n_pages: int = 4000, passes: int = 6) -> Trace:
    """Repeated forward scans over one array: readahead's best case."""
    pages = np.tile(np.arange(n_pages, dtype=np.int64), passes) + BASE
    return Trace("seq", pages, instrs=len(pages) * 400, source="synthetic: forward scans",
                 synthetic=True)


def strided(rows: int = 800, row_pages: int = 7, passes: int = 6) -> Trace:
    """Column-major passes over a row-major matrix (stride = one row of `row_pages`
    pages), the column offset walking across the row between passes."""
    out = []
    for p in range(passes):
        for c in range(row_pages):
            col = (c + p) % row_pages
            out.append(np.arange(rows, dtype=np.int64) * row_pages + col)
    pages = np.concatenate(out) + BASE
    return Trace("strided", pages, instrs=len(pages) * 400,
                 source=f"synthetic: column walk, stride {row_pages} pages", synthetic=True)


def random_uniform(n_pages: int = 4000, length: int = 24000, seed: int = 1) -> Trace:
    """Uniformly random pages: no prefetcher can help; shows pollution."""
    rng = np.random.default_rng(seed)
    pages = rng.integers(0, n_pages, size=length).astype(np.int64) + BASE
    return Trace("random", pages, instrs=len(pages) * 400, source="synthetic: uniform random",
                 synthetic=True)


def synthetic_traces() -> list[Trace]:
    return [sequential(), strided(), random_uniform()]
