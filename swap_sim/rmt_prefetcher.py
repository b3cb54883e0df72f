"""An RMT program on hook `mm.swap_fault` as a swap prefetcher.

On each major fault the adapter builds the hook's context the way the kernel
side would (`rmt.contract.codec.ctx_encode`): the task's last 8 page deltas
(hist[0] the latest, i.e. this fault's page minus the previous fault's),
hist_len, the readahead hits since the last major fault, the previous window,
the address and page; runs the program on an Engine (the C VM by default);
and prefetches `page + ctx.pf[i]` for i below the decision.  The decision
counts the pages read beyond the faulting one; `prev_window` is the previous
window counting the faulting page (decision + 1), as the kernel hook reports
Linux's own window (docs/kernel-hooks.md).  Minor faults
(readahead hits) update the history and the hit count, as in `do_swap_page`.
An abort or the DEFAULT decision (-1) means "the kernel decides": here,
nothing is prefetched, and the count is kept in `defaults`.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

from rmt.contract import objfile
from rmt.contract.hooks import HOOKS, clamp_ctx
from rmt.contract import codec
from rmt.contract.engine import Engine
from rmt.swap_sim.prefetch import Fault, SwapView

HOOK = HOOKS["mm.swap_fault"]
HIST = 8
CLAMP = 1 << 35          # hist's declared range


def default_engine_factory() -> Callable[[bytes], Engine]:
    from rmt.vm import CEngine
    return CEngine


class RmtPrefetcher:
    """Runs one loaded program (tables and models already set up) per major fault."""

    def __init__(self, engine: Engine, prog: objfile.Program, *, cgroup_id: int = 0,
                 pid: int = 1, name: str = "rmt"):
        if prog.hook.name != HOOK.name:
            raise ValueError(f"program is for hook {prog.hook.name}, not {HOOK.name}")
        self.engine, self.prog, self.name = engine, prog, name
        self.cgroup_id, self.pid = cgroup_id, pid
        self.defaults = 0
        self.reset()

    def reset(self) -> None:
        self.hist: deque[int] = deque(maxlen=HIST)
        self.last: int | None = None
        self.hits = 0
        self.prev_window = 0

    def context(self, page: int) -> bytes:
        h = list(self.hist)
        return codec.ctx_encode(HOOK, clamp_ctx(HOOK, {
            "pid": self.pid, "hist_len": len(h), "cgroup_id": self.cgroup_id,
            "addr": page << 12, "page": page,
            "hist": [max(-CLAMP, min(CLAMP, d)) for d in h] + [0] * (HIST - len(h)),
            "ra_hits": min(self.hits, 1 << 16), "prev_window": min(self.prev_window, 64)}))

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        if self.last is not None:
            self.hist.appendleft(f.page - self.last)
        self.last = f.page
        if f.pf_hit:
            self.hits += 1
        if not f.major:
            return []
        r = self.engine.run(self.context(f.page))
        self.hits = 0
        if r.decision < 0:
            self.defaults += 1
            self.prev_window = 0
            return []
        self.prev_window = r.decision + 1
        if r.decision == 0:
            return []
        pf = codec.ctx_decode(HOOK, r.ctx, ["pf"])["pf"][:r.decision]
        return [f.page + d for d in pf if d and swap.in_swap(f.page + d)]
