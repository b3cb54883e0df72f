"""The swap simulator and its baselines on hand-built sequences.

Expected values are worked out by hand from Linux 6.1's mm/swap_state.c
(`__swapin_nr_pages`, `swap_cluster_readahead`, `swap_vma_readahead`) and
Leap's patch (`find_trend`, its `swapin_nr_pages`), as the comments show.
"""
from __future__ import annotations

import numpy as np
import pytest

from rmt.swap_sim.leap import Leap, find_trend, majority
from rmt.swap_sim.metrics import CostModel, figures
from rmt.swap_sim.prefetch import Fault, NoPrefetch
from rmt.swap_sim.readahead import ClusterReadahead, VmaReadahead, swapin_window
from rmt.swap_sim.simulator import SimConfig, Simulator, simulate
from rmt.swap_sim.trace import Trace, load_trace, reduce_pages, save_trace, strided


class FakeSwap:
    """Every page 0..999 has slot page + 1 and is swapped out unless made resident."""

    def __init__(self) -> None:
        self.resident: set[int] = set()

    def slot_of(self, page):
        return page + 1

    def page_at(self, slot):
        return slot - 1 if 1 <= slot <= 1000 else None

    def in_swap(self, page):
        return 0 <= page < 1000 and page not in self.resident

    @property
    def max_slot(self):
        return 1000


def major(sw: FakeSwap, page: int) -> Fault:
    sw.resident.add(page)
    return Fault(page, page + 1, True, False)


def hit(sw: FakeSwap, page: int) -> Fault:
    sw.resident.add(page)
    return Fault(page, page + 1, False, True)


@pytest.mark.parametrize("prev,off,hits,prev_pages,want", [
    (5, 6, 0, 0, 2),      # no hits, adjacent: 2
    (5, 4, 0, 0, 2),      # adjacent backwards
    (5, 9, 0, 0, 1),      # no hits, far: 1
    (5, 9, 0, 8, 4),      # ... but never below half the previous window
    (5, 9, 1, 0, 4),      # 1 + 2 = 3, rounded up to 4
    (5, 9, 2, 0, 4),
    (5, 9, 3, 0, 8),      # 5 -> 8
    (5, 9, 40, 0, 8),     # capped at 1 << page_cluster
])
def test_swapin_window(prev, off, hits, prev_pages, want):
    assert swapin_window(prev, off, hits, 8, prev_pages) == want


def test_cluster_readahead_sequence():
    sw, ra = FakeSwap(), ClusterReadahead()
    assert ra.fault(major(sw, 10), sw) == []          # slot 11, far from offset 0: window 1
    # slot 12 follows slot 11 (prev_offset moved, no hits): window 2, block of slots 12..13
    assert ra.fault(major(sw, 11), sw) == [12]
    assert ra.fault(hit(sw, 12), sw) == []            # a hit: counted, nothing read
    # slot 14, one hit: window 4, aligned block 12..15; 11 and 12 are resident
    assert ra.fault(major(sw, 13), sw) == [14]
    assert ra.last_pages == 4 and ra.hits == 0


def test_cluster_readahead_skips_header_and_end():
    sw, ra = FakeSwap(), ClusterReadahead()
    ra.hits = 6                                       # 6 + 2 -> 8 pages: slots 0..7
    got = ra.fault(major(sw, 2), sw)                  # slot 3
    assert got == [0, 1, 3, 4, 5, 6]                  # slot 0 (the header) is never read


def test_vma_readahead_directions_and_pmd():
    sw, ra = FakeSwap(), VmaReadahead()
    assert ra.fault(major(sw, 100), sw) == []         # far from pfn 0: window 1
    assert ra.fault(major(sw, 101), sw) == [102]      # forward, window 2: [101, 103)
    ra.fault(hit(sw, 102), sw)
    # 103 is not 101 + 1: centred window of 4 (one hit), left = 1: [102, 106)
    assert ra.fault(major(sw, 103), sw) == [104, 105]
    sw2, ra2 = FakeSwap(), VmaReadahead()
    ra2.fault(major(sw2, 300), sw2)
    assert ra2.fault(major(sw2, 299), sw2) == [298]   # backward: [298, 300)
    sw3, ra3 = FakeSwap(), VmaReadahead()
    ra3.ra_pfn, ra3.ra_hits = 10, 6                   # window 8, centred: left 3
    assert ra3.fault(major(sw3, 512), sw3) == [513, 514, 515, 516]   # clamped at the PMD


def test_leap_majority_and_trend():
    assert majority([3, 3, 1, 3, 2, 3, 3, 0], 8) == (3, 5, True)
    assert majority([3, 1, 3, 1, 3, 1, 3, 1], 8)[2] is False
    assert find_trend([3, 1] * 4 + [1] * 8) == (True, 1)        # 12 of 16 at the second size
    assert find_trend([3, 1] * 16) == (False, 0)                # a full ring, no majority
    # entries not logged yet read 0, like the patch's zeroed ring: early on, "trend 0"
    assert find_trend([3, 1] * 4) == (True, 0)
    assert majority([5, 5], 8) == (0, 6, True)


def test_leap_stride_and_fallback():
    sw, lp = FakeSwap(), Leap()
    for p in (0, 3, 6, 9, 12):
        lp.fault(major(sw, p), sw)
    # deltas 3,3,3,3,0 + zeros: no majority of 8 (4 of 8); at 15: five 3s of 8 -> trend 3
    # window: no hits -> 4 (Leap never drops to 1), so 3 pages along the stride
    assert lp.fault(major(sw, 15), sw) == [18, 21, 24]
    lp.fault(hit(sw, 18), sw)
    lp.fault(hit(sw, 21), sw)
    assert lp.fault(major(sw, 27), sw) == [30, 33, 36]   # hits 2 -> 4 pages
    sw2, lp2 = FakeSwap(), Leap()
    lp2.fault(major(sw2, 40), sw2)
    assert find_trend(list(lp2.hist)) == (True, 0)        # a zero "trend": the fault page only
    lp3, sw3, p = Leap(), FakeSwap(), 500
    for k in range(32):                 # deltas 5, -2, 11, -7, ...: no majority anywhere
        lp3.fault(major(sw3, p), sw3)
        p += (5, -2, 11, -7)[k % 4]
    assert p == 556
    # no trend: the aligned cluster of slots 556..559 around slot 557 (window 4);
    # page 556 is the fault, 555, 557, 558 were never visited by this walk
    assert lp3.fault(major(sw3, p), sw3) == [555, 557, 558]
    with pytest.raises(ValueError):
        Leap(space="disk")


class Scripted:
    """Prefetches a fixed list on every major fault."""
    name = "scripted"

    def __init__(self, pages):
        self.pages, self.seen = pages, []

    def reset(self):
        self.seen = []

    def fault(self, f, swap):
        self.seen.append((f.page, f.major, f.pf_hit))
        return list(self.pages) if f.major else []


def test_simulator_counts_without_prefetch():
    c = simulate([0, 1, 2, 3, 4, 0, 1, 4], SimConfig(4))
    # 0..4 first touch; 4 evicts 0; 0 evicts 1; 1 evicts 2; 4 hits
    assert (c.first_touch, c.major, c.minor, c.accesses) == (5, 2, 0, 8)
    assert c.issued == c.used == 0


def test_simulator_prefetch_frames_and_pollution():
    pf = Scripted([1, 2, 7])
    sim = Simulator(SimConfig(4, buffer_pages=2), pf)
    c = sim.run([0, 1, 2, 3, 4, 5, 0, 1, 9])
    # 0..5 touch 4 frames; 4 evicts 0 (slot 1), 5 evicts 1 (slot 2).  0 faults major,
    # evicting 2 (slot 3); prefetch 1 (in swap) evicts 3; 2 is now swapped out too
    # and is read into the second buffer frame, evicting 4; 7 was never swapped: skipped.
    assert pf.seen[0] == (0, True, False)
    assert (c.major, c.issued) == (1, 2)
    # 1 hits in the buffer: a minor fault, no frame needed; 9 takes the buffer's oldest
    # unused page (2) before any resident page
    assert (c.minor, c.used, c.evicted_unused, c.left_unused) == (1, 1, 1, 0)
    assert pf.seen[1] == (1, False, True)
    assert sim.slots == {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}
    assert len(sim.resident) + len(sim.buffer) <= 4


def test_simulator_measures_only_held_out_part():
    tr = [0, 1, 2, 0, 1, 2, 0, 1, 2]
    full = simulate(tr, SimConfig(2))
    held = simulate(tr, SimConfig(2, measure_from=6))
    assert full.major == 6 and held.major == 3 and held.accesses == 3 and held.first_touch == 0
    with pytest.raises(ValueError):
        SimConfig(1)
    with pytest.raises(ValueError):
        SimConfig(4, buffer_pages=4)


def test_readahead_in_simulator_sequential_beats_none():
    tr = strided(rows=200, row_pages=1, passes=3).pages     # stride 1: sequential scans
    cfg = SimConfig(100, measure_from=200)
    none = simulate(tr, cfg, NoPrefetch())
    clus = simulate(tr, cfg, ClusterReadahead())
    f = figures(clus, none, 1000)
    assert none.major == 400 and f.coverage > 0.8 and f.accuracy > 0.95
    assert f.run_ms < figures(none, none, 1000).run_ms


def test_metrics():
    from rmt.swap_sim.simulator import Counters
    base = Counters(accesses=10, major=8)
    c = Counters(accesses=10, major=2, minor=6, issued=10, used=6, evicted_unused=3)
    f = figures(c, base, 0, CostModel(major_us=10, minor_us=1, transfer_us=1, zero_fill_us=0))
    assert f.coverage == pytest.approx(0.75) and f.accuracy == pytest.approx(0.6)
    assert f.pollution == pytest.approx(0.4)
    assert f.run_ms == pytest.approx((20 + 6 + 10) / 1000)
    with pytest.raises(ValueError):
        figures(Counters(accesses=9), base, 0)


def test_trace_files_and_reduction(tmp_path):
    tr = Trace("t", [5, 6, 5, 100, 7, 3], instrs=42, source="hand")
    got = load_trace(save_trace(tr, tmp_path))
    assert got.name == "t" and got.instrs == 42 and got.pages.tolist() == tr.pages.tolist()
    (tmp_path / "bad.npz").write_bytes(b"not a trace")
    with pytest.raises(ValueError, match="bad.npz"):
        load_trace(tmp_path / "bad.npz")
    # a 2-page filter drops re-accesses of the two most recent pages
    assert reduce_pages(np.array([1, 2, 1, 2, 3, 1, 3, 4]), filter_pages=2).tolist() == \
        [1, 2, 3, 1, 4]
    assert reduce_pages(np.arange(10), filter_pages=2, max_len=4).tolist() == [6, 7, 8, 9]
