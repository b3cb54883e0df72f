"""Linux 6.1 swap readahead (mm/swap_state.c), both variants, with `page_cluster` = 3.

`swapin_window` is `__swapin_nr_pages`: the window starts at hits + 2; with no
hits it stays 2 only when the fault is next to the previous one (else 1);
with hits it is rounded up to a power of two, at least 4; it is capped at
`1 << page_cluster` and never below half the previous window.

- `ClusterReadahead` (`swap_cluster_readahead`): one global hit counter and
  previous offset (`swapin_nr_pages`: the counter is exchanged with 0 on each
  readahead; the previous offset moves only when there were no hits); reads
  the window-aligned block of swap slots around the faulting slot.
- `VmaReadahead` (`swap_vma_readahead`, the 6.1 default on SSDs): the state
  (last fault address, window, hits) lives in the VMA and is reset to
  (fault, window, 0) on each readahead; reads the window in virtual pages
  after the fault when the fault follows the previous one, before it when it
  precedes it, else centred on it; clamped to the fault's 2 MiB (PMD) region.
  The traces carry no VMA boundaries, so the whole address space is one VMA.

Both count a hit when a fault finds a read-ahead page in the swap cache
(`lookup_swap_cache` testing and clearing PG_readahead).
"""
from __future__ import annotations

from rmt.swap_sim.prefetch import Fault, SwapView

PAGE_CLUSTER = 3
PMD_PAGES = 512


def swapin_window(prev_offset: int, offset: int, hits: int, max_pages: int,
                  prev_pages: int) -> int:
    """`__swapin_nr_pages` from Linux 6.1, line for line."""
    pages = hits + 2
    if pages == 2:
        if offset != prev_offset + 1 and offset != prev_offset - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    if pages > max_pages:
        pages = max_pages
    last_ra = prev_pages // 2
    if pages < last_ra:
        pages = last_ra
    return pages


class ClusterReadahead:
    """`swap_cluster_readahead`: an aligned block of swap slots around the fault."""

    name = "ra-cluster"

    def __init__(self, page_cluster: int = PAGE_CLUSTER):
        self.max_pages = 1 << page_cluster
        self.reset()

    def reset(self) -> None:
        self.hits = 0
        self.prev_offset = 0
        self.last_pages = 0

    def window(self, offset: int) -> int:
        """`swapin_nr_pages`."""
        if self.max_pages <= 1:
            return 1
        hits, self.hits = self.hits, 0
        pages = swapin_window(self.prev_offset, offset, hits, self.max_pages, self.last_pages)
        if not hits:
            self.prev_offset = offset
        self.last_pages = pages
        return pages

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        if f.pf_hit:
            self.hits += 1
        if not f.major:
            return []
        mask = self.window(f.slot) - 1
        if not mask:
            return []
        start, end = f.slot & ~mask, f.slot | mask
        start = max(start, 1)                      # slot 0 is the swap header
        end = min(end, swap.max_slot)
        out = []
        for s in range(start, end + 1):
            p = swap.page_at(s)
            if s != f.slot and p is not None and swap.in_swap(p):
                out.append(p)
        return out


class VmaReadahead:
    """`swap_vma_readahead`: a window of virtual pages next to the fault."""

    name = "ra-vma"

    def __init__(self, page_cluster: int = PAGE_CLUSTER):
        self.max_win = 1 << min(page_cluster, 4)       # SWAP_RA_ORDER_CEILING
        self.reset()

    def reset(self) -> None:
        self.ra_pfn = 0              # SWAP_RA_ADDR of vma->swap_readahead_info
        self.ra_win = 0
        self.ra_hits = 0

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        if f.pf_hit:
            self.ra_hits = min(self.ra_hits + 1, 0xff)  # SWAP_RA_HITS_MAX
        if not f.major:
            return []
        if self.max_win == 1:
            return []
        fpfn, pfn = f.page, self.ra_pfn
        win = swapin_window(pfn, fpfn, self.ra_hits, self.max_win, self.ra_win)
        self.ra_pfn, self.ra_win, self.ra_hits = fpfn, win, 0
        if win == 1:
            return []
        if fpfn == pfn + 1:
            lo, hi = fpfn, fpfn + win
        elif pfn == fpfn + 1:
            lo, hi = fpfn - win + 1, fpfn + 1
        else:
            left = (win - 1) // 2
            lo, hi = fpfn - left, fpfn + win - left
        pmd = fpfn & ~(PMD_PAGES - 1)
        lo, hi = max(lo, pmd), min(hi, pmd + PMD_PAGES)
        return [p for p in range(lo, hi) if p != fpfn and swap.in_swap(p)]
