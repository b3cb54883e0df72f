"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_alloc.py).

    python3 guest_alloc.py OBJ OUT

Allocation fault injection through /sys/module/rmt/parameters/fail_alloc_nth,
driven over /dev/rmt (rmtctl.kernel's KernelEngine):

1. load a program, seed its tables, weights and maps (alloc_program.py);
2. for each of a few ioctls (program load, table insert on every table kind,
   model load, map write): fail allocation n = 1, 2, ... until the ioctl runs
   with no injected failure, recording per failure the errno, the message,
   whether the state (program list, table dumps, model versions, maps) and the
   behaviour (prog runs and their trace records) are unchanged, and the
   alloc_live delta;
3. the same sweep over attaching the second program to sched.can_migrate_task (shadow
   mode; the hook binding must not change on failure), when rmt.ko has the hooks code;
4. detach and unload with every allocation failing (they must not need memory);
5. alloc_live after everything is unloaded (RCU callbacks given time to run).

Everything goes to OUT/alloc.json; the host test asserts on it.
"""
from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable


from alloc_program import EX, HOOK, LP, PROBES, RA, SEED, TE, tag, weights

from rmt.ctl import hook_abi
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import KernelEngine, KernelTarget, RmtDevice
from rmt.contract import codec
from rmt.contract.engine import EngineError, Entry, Exact, Lpm, Range, Ternary

PARAMS = Path("/sys/module/rmt/parameters")
MAX_SWEEP = 300


def param(name: str) -> int:
    return int((PARAMS / name).read_text())


def set_param(name: str, value: int) -> None:
    (PARAMS / name).write_text(f"{value}\n")


def settle(want: int, seconds: float = 5.0) -> int:
    """alloc_live once it equals `want` or after `seconds`: frees queued with
    call_rcu() land after a grace period, not when the ioctl returns."""
    end = time.monotonic() + seconds
    while True:
        live = param("alloc_live")
        if live == want or time.monotonic() > end:
            return live
        time.sleep(0.02)


def quiesce(quiet_s: float = 0.5, limit_s: float = 10.0) -> int:
    """alloc_live once the frees a successful operation queued with call_rcu() have run:
    nothing allocates while the guest script waits, so the count only falls, and it is
    taken as settled after `quiet_s` without a change."""
    last, since, end = param("alloc_live"), time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() - since < quiet_s and time.monotonic() < end:
        time.sleep(0.05)
        live = param("alloc_live")
        if live != last:
            last, since = live, time.monotonic()
    return last


class Guest:
    def __init__(self, dev: RmtDevice, obj: bytes):
        self.dev, self.obj = dev, obj
        self.target = KernelTarget()
        self.eng = KernelEngine.load(dev, obj, trace_capacity=256)
        for t, entries in SEED.items():
            for e in entries:
                self.eng.table_insert(t, e)
        self.eng.model_load(0, weights(2))
        self.eng.map_write(0, 7, 70)
        self.eng.map_write(1, 3, 33)
        self.behaviour()

    def snapshot(self) -> Any:
        e = self.eng
        tables = [[(str(s.entry), s.hits) for s in e.table_entries(t)] for t in range(4)]
        maps = [sorted(e.map_read(m).items()) for m in range(3)]
        return {"progs": self.target.ids(), "tables": tables, "maps": maps,
                "model_version": e.model_info(0).version}

    def behaviour(self) -> Any:
        out = []
        for p in PROBES:
            r = self.eng.run(codec.ctx_encode(HOOK, p))
            out.append([r.decision, r.abort, [[t.fmt, list(t.values)]
                                              for t in self.eng.trace_drain()]])
        return out


def jit_nomem() -> int:
    """Loads the JIT left on the interpreter after a failed allocation (rmt_kmod_jit.c)."""
    f = PARAMS / "jit_stats"
    stats = dict(kv.split("=") for kv in f.read_text().split()) if f.exists() else {}
    return int(stats.get("nomem", 0))


def sweep(g: Guest, op: Callable[[], object], what: str,
          extra: Callable[[], Any] = lambda: None) -> dict[str, Any]:
    """Fail allocation n = 1, 2, ... of `op` until it runs with none failed.
    `extra`: more state that a failure must not change (the hook binding).
    A program load's allocations end with the JIT's, whose failure falls back to the
    interpreter instead of failing the load: such a failure is "absorbed", and counted by the
    module as a JIT fallback ("jit_nomem"); the sweep stops there (tests/kernel/
    test_kmod_jit.py sweeps the JIT's own allocations)."""
    beh0 = g.behaviour()
    quiesce()       # the previous operation's deferred frees are not this one's
    failures = []
    for n in range(1, MAX_SWEEP):
        state = (g.snapshot(), extra())
        live, failed, nomem = param("alloc_live"), param("alloc_failed"), jit_nomem()
        set_param("fail_alloc_nth", n)
        try:
            op()
            err = None
        except EngineError as e:
            err = e
        set_param("fail_alloc_nth", 0)
        injected = param("alloc_failed") - failed
        if err is None:
            return {"op": what, "allocations": n - 1, "failures": failures,
                    "absorbed": injected, "jit_nomem": jit_nomem() - nomem}
        failures.append({
            "n": n, "injected": injected, "errno": errno.errorcode.get(err.code, err.code),
            "message": str(err), "live_delta": settle(live) - live,
            # rmtctl falls back to strerror() when the module wrote no message
            "kernel_message": not str(err).endswith(os.strerror(err.code)),
            "state_equal": (g.snapshot(), extra()) == state,
            "behaviour_equal": g.behaviour() == beh0})
    return {"op": what, "allocations": None, "failures": failures, "absorbed": 0,
            "jit_nomem": 0}


def attach_sweep(g: Guest, prog_id: int, res: dict[str, Any]) -> None:
    """RMT_IOC_HOOK_ATTACH (rmt_kmod_hooks.c) of the second program, in shadow mode (the
    scheduler keeps its own decisions), then what the hook reports once attached."""
    btf = Btf.load()        # once: parsing it in the guest is slow

    def binding() -> Any:
        st = hook_abi.stats(g.dev, hook_abi.HOOK_SCHED)
        return [st.prog_id, st.state]

    res["sweeps"].append(sweep(
        g, lambda: hook_abi.attach(g.dev, hook_abi.HOOK_SCHED, prog_id, hook_abi.F_SHADOW, btf),
        "hook attach", binding))
    st = hook_abi.stats(g.dev, hook_abi.HOOK_SCHED)
    res["attached"] = {"prog_id": st.prog_id, "registered": st.registered,
                       "shadow": st.shadow, "want_prog_id": prog_id}


def main() -> int:
    obj, out = Path(sys.argv[1]).read_bytes(), Path(sys.argv[2])
    res: dict[str, Any] = {"live_at_start": param("alloc_live"), "sweeps": []}
    t0 = time.monotonic()
    with RmtDevice() as dev:
        g = Guest(dev, obj)
        res["live_loaded"] = param("alloc_live")
        loaded: list[KernelEngine] = []
        res["sweeps"].append(sweep(
            g, lambda: loaded.append(KernelEngine.load(dev, obj, trace_capacity=256)),
            "prog load"))
        inserts = {
            "exact insert": (EX, Entry((Exact(5),), 0, tag(105))),
            "lpm insert": (LP, Entry((Lpm(0x0844, 14),), 0, tag(206))),
            "ternary insert": (TE, Entry((Ternary(0x40, 0x40), Exact(1)), 0, tag(304), 9)),
            "range insert": (RA, Entry((Range(12, 150),), 0, tag(404), 6)),
        }
        for what, (t, e) in inserts.items():
            res["sweeps"].append(sweep(g, lambda t=t, e=e: g.eng.table_insert(t, e), what))
        res["sweeps"].append(sweep(g, lambda: g.eng.model_load(0, weights(5)), "model load"))
        res["sweeps"].append(sweep(g, lambda: g.eng.map_write(0, 9, 99), "map write"))
        res["final_tables"] = [[str(s.entry) for s in g.eng.table_entries(t)]
                               for t in range(4)]
        res["hooks_abi"] = dev.version.hooks
        if dev.version.hooks:
            attach_sweep(g, loaded[0].id, res)
        # Detach and unload need no memory: they succeed with every allocation failing.
        set_param("fail_alloc_every", 1)
        set_param("fail_alloc_nth", 1)
        unload_errs = []
        if dev.version.hooks:
            try:
                hook_abi.detach(dev, hook_abi.HOOK_SCHED)
            except EngineError as e:
                unload_errs.append(str(e))
        for eng in [g.eng, *loaded]:
            try:
                eng.unload()
            except EngineError as e:
                unload_errs.append(str(e))
        set_param("fail_alloc_nth", 0)
        set_param("fail_alloc_every", 0)
        res["unload_errors"] = unload_errs
        res["progs_after_unload"] = g.target.ids()
    res["live_after_unload"] = settle(res["live_at_start"])
    res["total"] = param("alloc_total")
    res["failed"] = param("alloc_failed")
    res["seconds"] = round(time.monotonic() - t0, 1)
    (out / "alloc.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
