"""Guest side of tests/kernel/test_kmod_jit.py: rmt.ko's JIT (vm_kernel/kmod/rmt_kmod_jit.c).

    python3 guest_jit.py FILES OUT

Writes OUT/jit.json with one entry per phase (an "error" key when the phase raised):
- cases_jit / cases_nojit: every tests/vmcases case on the JIT (engine 1), then with
  net.core.bpf_jit_enable=0 on the interpreter (engine 0), as run_cases.py;
- diff: both examples, weights and entries loaded, on the JIT and on the interpreter
  (rmt.jit=0), run on the same random contexts: decisions, aborts and pcs;
- param_off: rmt.jit=0 loads on the interpreter, counted "off";
- inject: fault injection swept over one load's allocations: each fails the load
  (ENOMEM) or falls back to the interpreter (counted "nomem") or JITs;
- jit_limit: net.core.bpf_jit_limit=1 during a load;
- swap: programs and weights replaced while the sched hook fires, alternating engines;
finally forced_migration stays attached (JIT) for the shell's rmmod under load.
"""
from __future__ import annotations

import errno
import json
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path
import run_cases
from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import ENGINE_JIT, KernelEngine, RmtDevice
from rmt.contract.engine import EngineError, Entry, Exact, Range

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent


PARAMS = Path("/sys/module/rmt/parameters")
SWAPS = 4
SYSCTL = Path("/proc/sys/net/core")


def jit_stats() -> dict[str, int]:
    text = (PARAMS / "jit_stats").read_text().split()
    return {k: int(v) for k, v in (kv.split("=") for kv in text)}


def delta(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: b[k] - a[k] for k in a}


def set_jit(on: bool) -> None:
    (PARAMS / "jit").write_text("1" if on else "0")


def cases(out: Path, name: str, engine: int) -> dict:
    s0 = jit_stats()
    run_cases.main(str(out / f"{name}.json"), engine)
    res = json.loads((out / f"{name}.json").read_text())
    return {"results": res, "stats": delta(s0, jit_stats())}


def loaded(dev: RmtDevice, files: Path, name: str) -> KernelEngine:
    """An example with weights and table entries, as the hooks test sets it up."""
    eng = KernelEngine.load(dev, (files / f"{name}.rmtb").read_bytes())
    if name == "forced_migration":
        eng.model_load(0, (files / "pred.bin").read_bytes())
        eng.model_load(1, (files / "tree_fm.bin").read_bytes())
        eng.table_insert(0, Entry((Exact(2), Range(0, 1000)), 1, b""))
        eng.table_insert(0, Entry((Exact(1), Range(0, 1023)), 0, b"\x01" + bytes(7)))
    else:
        eng.model_load(0, (files / "next.bin").read_bytes())
    return eng


def phase_diff(dev: RmtDevice, files: Path) -> dict:
    """The same contexts through both engines: identical results, and both actually ran."""
    out: dict = {}
    rng = random.Random(7)
    for name in ("forced_migration", "swap_prefetch"):
        set_jit(True)
        a = loaded(dev, files, name)
        set_jit(False)
        b = loaded(dev, files, name)
        set_jit(True)
        engines = [a.info().engine, b.info().engine]
        mismatches, aborts, n = [], 0, 300
        for i in range(n):
            ctx = bytes(rng.getrandbits(8) for _ in range(a.ctx_size))
            if i % 3 == 0:      # small values too: fewer bounds aborts, more table hits
                ctx = bytes(c & 0x3 for c in ctx)
            now = rng.getrandbits(40)
            ra = a.run(ctx, cpu=i % 2, now=now)
            rb = b.run(ctx, cpu=i % 2, now=now)
            aborts += ra.abort != 0
            if (ra.decision, ra.abort, ra.abort_pc) != (rb.decision, rb.abort, rb.abort_pc):
                mismatches.append([i, str(ra), str(rb)])
        out[name] = {"engines": engines, "runs": n, "aborts": aborts,
                     "mismatches": mismatches[:5], "nmismatch": len(mismatches),
                     "stats_runs": [a.stats().runs, b.stats().runs]}
        a.unload()
        b.unload()
    return out


def rmtctl(*args: str) -> dict:
    """`rmtctl --target kernel --json ARGS`, as a user runs it."""
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "rmtctl"), "--target", "kernel", "--json",
                        *args], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def phase_param_off(dev: RmtDevice, files: Path) -> dict:
    s0 = jit_stats()
    set_jit(False)
    try:
        eng = KernelEngine.load(dev, (files / "forced_migration.rmtb").read_bytes())
    finally:
        set_jit(True)
    res = {"engine": eng.info().engine, "stats": delta(s0, jit_stats()),
           "show_jit": rmtctl("show", str(eng.id))["jit"],
           "stats_engine": rmtctl("stats", str(eng.id))["engine"]}
    eng.unload()
    return res


def phase_inject(dev: RmtDevice, files: Path) -> dict:
    """Fail the n-th allocation of a load, for n = 1, 2, ... until the load JITs."""
    blob = (files / "forced_migration.rmtb").read_bytes()
    ref = KernelEngine.load(dev, blob)          # the JIT, no injection: the reference
    ctxs = [bytes(random.Random(i).getrandbits(8) for _ in range(ref.ctx_size)) for i in range(20)]
    want = [ref.run(c, now=5) for c in ctxs]
    outcomes: list = []
    s0 = jit_stats()
    for n in range(1, 200):
        (PARAMS / "fail_alloc_nth").write_text(f"{n}\n")
        try:
            eng = KernelEngine.load(dev, blob)
        except EngineError as e:
            outcomes.append([n, errno.errorcode.get(e.code, str(e.code))])
            continue
        finally:
            (PARAMS / "fail_alloc_nth").write_text("0\n")
        engine = eng.info().engine
        same = [eng.run(c, now=5) for c in ctxs] == want
        outcomes.append([n, engine, same])
        eng.unload()
        if engine == ENGINE_JIT:
            break
    ref.unload()
    return {"outcomes": outcomes, "stats": delta(s0, jit_stats())}


def phase_jit_limit(dev: RmtDevice, files: Path) -> dict:
    limit = (SYSCTL / "bpf_jit_limit").read_text()
    s0 = jit_stats()
    (SYSCTL / "bpf_jit_limit").write_text("1\n")
    try:
        eng = KernelEngine.load(dev, (files / "forced_migration.rmtb").read_bytes())
    finally:
        (SYSCTL / "bpf_jit_limit").write_text(limit)
    res = {"engine": eng.info().engine, "stats": delta(s0, jit_stats())}
    eng.unload()
    return res


def phase_swap(dev: RmtDevice, files: Path, btf: Btf) -> dict:
    """Replace the attached program (alternating engines) and its weights while the hook
    fires: the old program is freed after a grace period, never while a handler runs it."""
    import guest_hooks
    p = guest_hooks.stress(guest_hooks.MAX_LOAD_S)
    cur = loaded(dev, files, "forced_migration")
    H.attach(dev, H.HOOK_SCHED, cur.id, btf=btf)
    swaps, engines = 0, set()
    t0 = time.monotonic()
    # a count, not a duration: a load takes seconds under TCG with the hogs running
    while swaps < SWAPS and time.monotonic() - t0 < guest_hooks.MAX_LOAD_S - 10:
        set_jit(swaps % 2 == 1)
        new = loaded(dev, files, "forced_migration")
        set_jit(True)
        engines.add(new.info().engine)
        H.attach(dev, H.HOOK_SCHED, new.id, btf=btf)       # replaces the binding
        cur.unload()
        cur = new
        cur.model_load(0, (files / ("pred2.bin" if swaps % 2 else "pred.bin")).read_bytes())
        swaps += 1
        time.sleep(0.2)
    st = H.stats(dev, H.HOOK_SCHED).to_json()
    guest_hooks.stop(p)
    cur.unload()
    return {"swaps": swaps, "engines": sorted(engines), "hook": st}


def phase_leave_attached(dev: RmtDevice, files: Path, btf: Btf) -> dict:
    eng = loaded(dev, files, "forced_migration")
    H.attach(dev, H.HOOK_SCHED, eng.id, btf=btf)
    return {"id": eng.id, "engine": eng.info().engine,
            "show_jit": rmtctl("show", str(eng.id))["jit"],
            "stats_engine": rmtctl("stats", str(eng.id))["engine"]}


def main(files: Path, out: Path) -> int:
    dev = RmtDevice()
    btf = Btf.load()
    res: dict = {"stats_at_start": jit_stats()}
    phases = [
        ("cases_jit", lambda: cases(out, "cases_jit", ENGINE_JIT)),
        ("cases_nojit", lambda: _nojit(lambda: cases(out, "cases_nojit", 0))),
        ("diff", lambda: phase_diff(dev, files)),
        ("param_off", lambda: phase_param_off(dev, files)),
        ("inject", lambda: phase_inject(dev, files)),
        ("jit_limit", lambda: phase_jit_limit(dev, files)),
        ("swap", lambda: phase_swap(dev, files, btf)),
        ("attached", lambda: phase_leave_attached(dev, files, btf)),
    ]
    for name, fn in phases:
        try:
            res[name] = fn()
        except Exception:                  # noqa: BLE001 - reported to the host test
            res[name] = {"error": traceback.format_exc()[-2000:]}
        (out / "jit.json").write_text(json.dumps(res, indent=1))
    return 0


def _nojit(fn):
    (SYSCTL / "bpf_jit_enable").write_text("0\n")
    try:
        return fn()
    finally:
        (SYSCTL / "bpf_jit_enable").write_text("1\n")


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
