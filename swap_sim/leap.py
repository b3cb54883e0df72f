"""Leap (Maruf and Chowdhury, USENIX ATC 2020), as its public kernel patch does it.

- Every swap fault (the patch logs in `lookup_swap_cache`, so readahead hits
  too) appends the delta from the previous fault to a 32-entry history.
- `find_trend`: a Boyer–Moore majority vote over the latest 8 deltas, then
  16, then 32, until one delta is a strict majority of the region (entries
  not yet logged read as delta 0, like the patch's zeroed ring).
- The window is `swapin_nr_pages` with the patch's change: with no hits it
  is not dropped to 1 but rounded up to 4; capped at 8; never below half the
  previous window.  With a trend Leap reads `window - 1` pages along the
  majority stride from the fault; without one it falls back to the aligned
  swap-slot cluster around the fault (Linux's `swap_cluster_readahead`).

The patch logs swap offsets; the paper speaks of a process's page access
history.  `space="page"` (the default here) runs the trend detector on the
task's virtual pages, the view the RMT hook gets, so both learned and
Leap's detectors see the same history; `space="slot"` follows the patch.
`fallback="page"` reads the aligned block of virtual pages around the fault
instead of swap slots when there is no trend: what `examples/leap_prefetch.rmt`
can do with the hook's context, which has pages and no slots.
"""
from __future__ import annotations

from collections import deque

from rmt.swap_sim.prefetch import Fault, SwapView
from rmt.swap_sim.readahead import PAGE_CLUSTER

HISTORY = 32


def majority(deltas: list[int], size: int) -> tuple[int, int, bool]:
    """`find_trend_in_region`: (candidate, its count, count > size / 2) over the
    latest `size` deltas, deltas[0] the latest; missing entries are 0."""
    region = (deltas + [0] * size)[:size]
    cand, count = region[0], 1
    for d in region[1:]:
        count += 1 if d == cand else -1
        if count == 0:
            cand, count = d, 1
    n = sum(1 for d in region if d == cand)
    return cand, n, n > size // 2


def find_trend(deltas: list[int], history: int = HISTORY) -> tuple[bool, int]:
    """`find_trend`: regions of history/4, history/2, history."""
    size = history // 4
    while size <= history:
        cand, _, found = majority(deltas, size)
        if found:
            return True, cand
        size *= 2
    return False, 0


class Leap:
    name = "leap"

    def __init__(self, space: str = "page", page_cluster: int = PAGE_CLUSTER,
                 fallback: str = "slot"):
        if space not in ("page", "slot"):
            raise ValueError(f"Leap space {space!r}: 'page' or 'slot'")
        if fallback not in ("page", "slot"):
            raise ValueError(f"Leap fallback {fallback!r}: 'page' or 'slot'")
        self.space, self.fallback = space, fallback
        self.max_pages = 1 << page_cluster
        self.reset()

    def reset(self) -> None:
        self.hist: deque[int] = deque(maxlen=HISTORY)     # deltas, [0] latest
        self.last: int | None = None
        self.hits = 0
        self.last_pages = 0

    def _log(self, x: int) -> None:
        self.hist.appendleft(0 if self.last is None else x - self.last)
        self.last = x

    def window(self) -> int:
        """The patch's `swapin_nr_pages` (custom-prefetch branch)."""
        pages = self.hits + 2
        self.hits = 0
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = min(roundup, self.max_pages)
        pages = max(pages, self.last_pages // 2)
        self.last_pages = pages
        return pages

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        x = f.page if self.space == "page" else f.slot
        self._log(x)
        if f.pf_hit:
            self.hits += 1
        if not f.major:
            return []
        mask = self.window() - 1
        trend, delta = find_trend(list(self.hist))
        if trend:
            out = []
            for k in range(1, mask + 1):
                y = x + k * delta
                p = y if self.space == "page" else swap.page_at(y)
                if p is not None and swap.in_swap(p):
                    out.append(p)
            return out
        if self.fallback == "page":
            return [p for p in range(f.page & ~mask, (f.page | mask) + 1)
                    if p != f.page and swap.in_swap(p)]
        start, end = max(f.slot & ~mask, 1), min(f.slot | mask, swap.max_slot)
        out = []
        for s in range(start, end + 1):
            p = swap.page_at(s)
            if s != f.slot and p is not None and swap.in_swap(p):
                out.append(p)
        return out
