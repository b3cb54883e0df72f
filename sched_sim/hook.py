"""Calling an RMT program at `sched.can_migrate_task`, as the kretprobe would.

For every can_migrate_task call the simulator builds the hook context with
`rmt.contract.codec.ctx_encode`, runs the program on an engine and applies the
hook's semantics: in shadow mode the kernel's decision is used and both go to
`shadow_account`; in enforce mode the program decides only the soft part
(hard constraints always win, DEFAULT means the kernel's own decision).

Two ways to reach an engine: `EngineSession` wraps any `Engine` (the C VM by
default) and drains its trace ring into memory; `SimTargetSession` works on
a program inserted with `rmtctl insert` into the sim target's state
directory, so counters, table hits and trace records land where `rmtctl
stats` / `rmtctl trace` read them.  Both drain or flush before the trace
ring (4096 records by default) can fill.
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from rmt.contract import objfile
from rmt.contract.hooks import DEFAULT_DECISION, HOOKS, clamp_ctx
from rmt.contract import codec
from rmt.contract.engine import Engine, TraceRecord
from rmt.sched_sim.cfs import LbEnv, Verdict, hotness
from rmt.sched_sim.task import Task

HOOK = HOOKS["sched.can_migrate_task"]
FLUSH_EVERY = 2000           # calls between trace drains; below the ring's capacity


def ctx_fields(p: Task, env: LbEnv, v: Verdict) -> dict[str, int]:
    """The hook context of one call (field meanings: docs/hooks.md)."""
    src, dst = env.src_rq, env.dst_rq
    nf = p.numa_faults
    hot = v.hot if v.hot >= 0 else hotness(p, env)
    return clamp_ctx(HOOK, {
        "pid": p.pid, "src_cpu": src.cpu, "dst_cpu": dst.cpu, "idle": env.idle,
        "sd_level": env.sd.level, "same_node": int(src.node == dst.node),
        "prefer_src": int(p.numa_preferred_nid == src.node),
        "prefer_dst": int(p.numa_preferred_nid == dst.node),
        "src_non_pref": int(src.nr_running > src.nr_preferred_running),
        # task_hot()'s buddy test, as the kernel hook computes it: dst has tasks and p is
        # its cfs_rq's next or last buddy
        "buddy_hot": int(dst.nr_running > 0 and src.is_buddy(p)),
        "hard_veto": int(v.hard_veto), "kernel_verdict": int(v.migrate), "task_hot": int(hot > 0),
        "src_nr_running": min(src.nr_running, 65536), "dst_nr_running": min(dst.nr_running, 65536),
        "nr_balance_failed": min(env.sd.nr_balance_failed, 1024),
        "cache_nice_tries": env.sd.cache_nice_tries, "lb_flags": env.flags,
        "numa_faults_src": nf[src.node] if nf else 0, "numa_faults_dst": nf[dst.node] if nf else 0,
        "numa_faults_total": sum(nf) if nf else 0,
        "exec_age_ns": min(max(env.now_ns - p.exec_start_ns, 0), 1 << 40),
        "migration_cost_ns": env.sysctl.migration_cost_ns,
        "src_load": min(int(src.load), 1 << 32), "dst_load": min(int(dst.load), 1 << 32),
    })


class EngineSession:
    """A program on an engine of our own; trace records are kept in `records`."""

    def __init__(self, engine: Engine, prog: objfile.Program):
        self.engine, self.prog = engine, prog
        self.records: list[TraceRecord] = []

    def flush(self) -> None:
        self.records += self.engine.trace_drain()

    def close(self) -> None:
        self.flush()


class SimTargetSession:
    """A program inserted into the sim target (`rmtctl insert`), run in chunks.

    Each chunk rebuilds the engine from the state directory and folds its
    counters and trace records back, exactly as `rmtctl prog run` does."""

    def __init__(self, target: Any, prog_id: int):
        self.target, self.prog_id = target, prog_id
        self._stack: ExitStack | None = None
        self._open()

    def _open(self) -> None:
        self._stack = ExitStack()
        self._loaded = self._stack.enter_context(self.target.session(self.prog_id))
        self.engine, self.prog = self._loaded.engine, self._loaded.prog

    def flush(self) -> None:
        self._stack.close()            # the session folds counters and traces into the state
        self._open()

    def close(self) -> None:
        self._stack.close()


class Hook:
    """The attachment point: decides each call from the kernel verdict and the program."""

    def __init__(self, session: EngineSession | SimTargetSession | None, *, enforce: bool | None = None):
        self.session = session
        prog = session.prog if session else None
        self.enforce = (not prog.mode) if enforce is None and prog else bool(enforce)
        self.calls = self.runs = self.overrides = 0
        self._since_flush = 0

    def decide(self, p: Task, env: LbEnv, v: Verdict) -> bool:
        self.calls += 1
        if self.session is None:
            return v.migrate
        ctx = codec.ctx_encode(HOOK, ctx_fields(p, env, v))
        r = self.session.engine.run(ctx, cpu=env.dst_cpu, now=env.now_ns)
        self.runs += 1
        self._since_flush += 1
        if self._since_flush >= FLUSH_EVERY:
            self.session.flush()
            self._since_flush = 0
        if not self.enforce:
            self.session.engine.shadow_account(r.decision, int(v.migrate))
            return v.migrate
        if v.hard_veto or r.decision == DEFAULT_DECISION:
            return v.migrate
        got = bool(r.decision)
        self.overrides += got != v.migrate
        return got

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
