"""Replays a page-access trace through an LRU memory limit, a swap device and a prefetcher.

Model (kept deliberately small; every choice is one a reader can check):
- Memory holds `mem_pages` frames, shared by the LRU of resident pages and
  the prefetch buffer (swap-cache pages read ahead and not used yet, at most
  `buffer_pages`).  A read-ahead page takes a frame: from the buffer's oldest
  page when the buffer is full, else from the LRU resident page, so useless
  prefetches push out real pages.  A demand fault takes the buffer's oldest
  page first (unused readahead pages sit on Linux's inactive list and are
  reclaimed first), else the LRU resident page.  A hit in the buffer needs no
  frame: the page just becomes resident.
- The first access to a page is a zero-fill fault, not a swap fault.  An
  evicted page is written to swap and keeps its slot for the rest of the run
  (a clean page keeps its swap-cache slot, so the slot order is the order of
  first eviction; Linux frees the slot of a page written after swap-in, which
  this model ignores).  Slots are numbered from 1: slot 0 is the swap header.
- An access to a swapped-out page is a major fault (a device read); to a
  page in the buffer, a minor fault (a swap-cache hit).  Both move the page to
  the resident LRU and both reach the prefetcher; pages it returns on a major
  fault are read into the buffer when they are swapped out, oldest buffered
  page evicted first (FIFO; an evicted buffered page was never used: pollution).
- Counting can start part-way (`measure_from`): the accesses before it warm
  the memory, the swap device and the prefetcher's state.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

from rmt.swap_sim.prefetch import Fault, NoPrefetch, Prefetcher


@dataclass(frozen=True)
class SimConfig:
    mem_pages: int
    buffer_pages: int = 0          # 0: max(32, mem_pages // 8)
    measure_from: int = 0          # index of the first counted access

    def __post_init__(self) -> None:
        if self.mem_pages < 2:
            raise ValueError(f"mem_pages={self.mem_pages}: need at least 2 pages")
        if self.buffer_pages < 0 or self.buffer_pages >= self.mem_pages:
            raise ValueError(f"buffer_pages={self.buffer_pages} must be in 0..{self.mem_pages - 1}")

    @property
    def buffer(self) -> int:
        return self.buffer_pages or min(max(32, self.mem_pages // 8), self.mem_pages // 2)


@dataclass
class Counters:
    accesses: int = 0
    first_touch: int = 0           # zero-fill faults
    major: int = 0                 # swap faults read from the device
    minor: int = 0                 # swap faults served from the prefetch buffer
    issued: int = 0                # pages read ahead
    used: int = 0                  # read-ahead pages accessed before eviction
    evicted_unused: int = 0        # read-ahead pages dropped from the buffer unused
    left_unused: int = 0           # read-ahead pages still in the buffer at the end
    decisions: int = 0             # prefetcher calls on major faults
    per_fault: dict[int, int] = field(default_factory=dict)   # prefetch size histogram

    @property
    def swap_faults(self) -> int:
        return self.major + self.minor

    def as_dict(self) -> dict:
        return asdict(self)


class Simulator:
    """One run: memory, swap device, buffer and the prefetcher's answers."""

    def __init__(self, cfg: SimConfig, prefetcher: Prefetcher | None = None):
        self.cfg = cfg
        self.pf = prefetcher or NoPrefetch()
        self.resident: OrderedDict[int, None] = OrderedDict()
        self.buffer: OrderedDict[int, bool] = OrderedDict()   # page -> counted (issued while measuring)
        self.slots: dict[int, int] = {}       # page -> slot
        self.pages: dict[int, int] = {}       # slot -> page
        self.next_slot = 1
        self.c = Counters()
        self.measuring = cfg.measure_from == 0
        self.pf.reset()

    # SwapView ------------------------------------------------------------

    def slot_of(self, page: int) -> int | None:
        return self.slots.get(page)

    def page_at(self, slot: int) -> int | None:
        return self.pages.get(slot)

    def in_swap(self, page: int) -> bool:
        return page in self.slots and page not in self.resident and page not in self.buffer

    @property
    def max_slot(self) -> int:
        return self.next_slot - 1

    # the run ---------------------------------------------------------------

    def _drop_buffered(self) -> None:
        _, counted = self.buffer.popitem(last=False)
        if counted:
            self.c.evicted_unused += 1

    def _free_frame(self, for_prefetch: bool) -> None:
        if len(self.resident) + len(self.buffer) < self.cfg.mem_pages:
            return
        if self.buffer and (not for_prefetch or len(self.buffer) >= self.cfg.buffer):
            self._drop_buffered()
            return
        victim, _ = self.resident.popitem(last=False)
        if victim not in self.slots:          # swap-out: the first one allocates a slot
            self.slots[victim] = self.next_slot
            self.pages[self.next_slot] = victim
            self.next_slot += 1

    def _make_resident(self, page: int) -> None:
        self._free_frame(False)
        self.resident[page] = None

    def _prefetch(self, pages: Iterable[int], fault_page: int) -> None:
        n = 0
        for q in pages:
            if q == fault_page or not self.in_swap(q):
                continue
            self._free_frame(True)
            self.buffer[q] = self.measuring
            n += 1
        if self.measuring:
            self.c.issued += n
            self.c.decisions += 1
            self.c.per_fault[n] = self.c.per_fault.get(n, 0) + 1

    def access(self, page: int) -> None:
        c = self.c
        if page in self.resident:
            self.resident.move_to_end(page)
            if self.measuring:
                c.accesses += 1
            return
        if self.measuring:
            c.accesses += 1
        if page in self.buffer:
            counted = self.buffer.pop(page)
            if self.measuring:
                c.minor += 1
                if counted:
                    c.used += 1
            self.resident[page] = None            # its frame moves from buffer to LRU
            self.pf.fault(Fault(page, self.slots[page], False, True), self)
        elif page in self.slots:
            if self.measuring:
                c.major += 1
            self._make_resident(page)
            want = self.pf.fault(Fault(page, self.slots[page], True, False), self)
            if want:
                self._prefetch(want, page)
            elif self.measuring:
                c.decisions += 1
                c.per_fault[0] = c.per_fault.get(0, 0) + 1
        else:
            if self.measuring:
                c.first_touch += 1
            self._make_resident(page)

    def run(self, trace: Sequence[int]) -> Counters:
        start = self.cfg.measure_from
        access = self.access
        pages = trace.tolist() if hasattr(trace, "tolist") else list(trace)
        for p in pages[:start]:
            access(p)
        self.measuring = True
        for p in pages[start:]:
            access(p)
        self.c.left_unused = sum(1 for counted in self.buffer.values() if counted)
        return self.c


def simulate(trace: Sequence[int], cfg: SimConfig, prefetcher: Prefetcher | None = None
             ) -> Counters:
    """Run a whole trace and return the counters of its measured part."""
    return Simulator(cfg, prefetcher).run(trace)
