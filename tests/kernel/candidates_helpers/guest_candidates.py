"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_candidates.py).

    python guest_candidates.py FILES OUT

A shadow program whose every run calls its one model is attached to
sched.can_migrate_task under stress-ng.  The live weights always say DENY (output -1), the
candidate always says ALLOW (+1), so every evaluation of the candidate disagrees and
which weights decided shows in the VM's decision counters.  Every load phase runs until a
count is reached (hook calls, candidate evaluations, decisions), never for a set time.
Writes OUT/candidates.json; the host test asserts on it.
"""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from pathlib import Path

from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.cli import main as cli_main
from rmt.ctl.candidates import check_stage_cost
from rmt.ctl.kernel import KernelEngine, RmtDevice

from guest_hooks import report, stop, stress  # the same scheduler load (PYTHONPATH: GUEST_ENV)

N = 150                     # evaluations / decisions each phase waits for
MAX_LOAD_S = 120
CYCLES = 25                 # stage + promote + rollback rounds while the hook fires
RMTCTL = [str(Path(sys.executable).parent / "rmtctl"), "--target", "kernel"]
ALLOW, DENY = "1", "0"
DEV: RmtDevice | None = None


def rmtctl(*argv: str) -> dict:
    """rmtctl as a process (its start-up takes many seconds under TCG: not under load)."""
    r = subprocess.run([*RMTCTL, *argv], capture_output=True, text=True)
    return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}


def cli(*argv: str) -> dict:
    """rmtctl's own code (rmt.ctl.cli.main) in this process: the same commands without a
    Python start-up, so a promote under load happens while the load runs."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(["--target", "kernel", *argv])
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue()}


def decisions(eng: KernelEngine) -> dict[str, int]:
    return {str(k): v for k, v in eng.stats().decisions.items()}


def state(eng: KernelEngine) -> dict:
    s = eng.model_state(0)
    return {"version": s.version, "cand": s.cand_version, "prev": s.prev_version,
            "agree": s.agree, "disagree": s.disagree,
            "history": [(h.op, h.version, h.agree, h.disagree) for h in s.history]}


def load_until(pred, action=None, max_s: float = MAX_LOAD_S) -> tuple[float, object]:
    """The scheduler load; once the hook has counted some calls under it, `action()` (if
    any), then on until pred() holds (at most max_s; the load restarts if it ends first).
    Returns how long the load ran after the action, and what the action returned."""
    t0 = time.monotonic()
    p = stress(max_s)
    got = None
    try:
        h0 = H.stats(DEV, H.HOOK_SCHED).hits
        while H.stats(DEV, H.HOOK_SCHED).hits < h0 + 20 and time.monotonic() - t0 < max_s:
            time.sleep(0.2)                  # the load is running: now act
        if action is not None:
            got = action()
        t1 = time.monotonic()
        while not pred() and time.monotonic() - t0 < 2 * max_s:
            if p.poll() is not None:
                p = stress(max_s)
            time.sleep(0.3)
    finally:
        stop(p)
    return round(time.monotonic() - t1, 1), got


def phase(dev: RmtDevice, files: Path, btf: Btf) -> dict:
    global DEV
    DEV = dev
    res: dict = {"load_s": []}
    eng = KernelEngine.load(dev, (files / "cand.rmtb").read_bytes(), trace_capacity=65536)
    pid = str(eng.id)
    res["v_live"] = eng.model_load(0, (files / "deny.bin").read_bytes())
    H.attach(dev, H.HOOK_SCHED, eng.id, btf=btf)

    # 1. live weights only
    res["load_s"].append(load_until(lambda: decisions(eng).get(DENY, 0) >= N)[0])
    res["before_stage"] = {"decisions": decisions(eng), "state": state(eng)}
    check_stage_cost(eng.prog, 0)           # imports the verifier before the load starts

    # 2. a candidate staged while the hook fires: evaluated, never acted on
    t, res["stage"] = load_until(lambda: eng.model_state(0).disagree >= N,
                                 lambda: cli("-j", "model", "stage", pid, "m",
                                             str(files / "allow.bin")))
    res["load_s"].append(t)
    res["staged"] = {"decisions": decisions(eng), "state": state(eng)}
    res["show_staged"] = rmtctl("-j", "model", "show", pid)       # a real rmtctl process
    recs = [r for r in dev.read_trace(eng.id)]
    res["after_drain"] = state(eng)
    res["trace"] = {"records": len(recs),
                    "candidate": sum(r.fmt == 0xFFFFFFFF for r in recs),
                    "values": sorted({tuple(r.vals[:r.nvals]) for r in recs
                                      if r.fmt == 0xFFFFFFFF})[:4]}
    res["trace_drops"] = eng.stats().trace_drops

    # 3. promote while the hook fires: from the swap on, the candidate decides
    def promote() -> dict:
        r = cli("-j", "model", "promote", pid, "m")
        res["at_promote"] = decisions(eng)
        return r
    t, res["promote"] = load_until(
        lambda: decisions(eng).get(ALLOW, 0) >= res["at_promote"].get(ALLOW, 0) + N, promote)
    res["load_s"].append(t)
    res["promoted"] = {"decisions": decisions(eng), "state": state(eng)}

    # 4. roll back while the hook fires: the first weights decide again
    def rollback() -> dict:
        r = cli("-j", "model", "rollback", pid, "m")
        res["at_rollback"] = decisions(eng)
        return r
    t, res["rollback"] = load_until(
        lambda: decisions(eng).get(DENY, 0) >= res["at_rollback"].get(DENY, 0) + N, rollback)
    res["load_s"].append(t)
    res["rolled_back"] = {"decisions": decisions(eng), "state": state(eng)}

    # 5. bad requests: one line each, nothing changes
    before = state(eng)
    res["bad"] = {
        "promote_none": cli("model", "promote", pid, "m"),
        "rollback_none": cli("model", "rollback", pid, "m"),
        "wrong_sig": cli("model", "stage", pid, "m", str(files / "tree.bin")),
        "unknown_model": cli("model", "stage", pid, "nosuch", str(files / "allow.bin")),
    }
    res["bad_state_same"] = state(eng) == before

    # 6. stage, promote and roll back over and over while the hook fires (RCU swaps under
    # load: the host checks dmesg for warnings, and the counters add up)
    allow, deny = (files / "allow.bin").read_bytes(), (files / "deny.bin").read_bytes()
    def cycles() -> int:
        n = 0
        for _ in range(CYCLES):
            eng.model_stage(0, allow)
            time.sleep(0.05)
            eng.model_promote(0)
            time.sleep(0.05)
            eng.model_rollback(0)
            n += 1
        eng.model_stage(0, deny)
        return n
    runs0 = eng.stats().runs
    t, res["cycles"] = load_until(lambda: eng.stats().runs >= runs0 + N, cycles)
    res["load_s"].append(t)
    res["cycled"] = {"decisions": decisions(eng), "state": state(eng)}
    res["history"] = rmtctl("-j", "model", "history", pid, "m")
    H.detach(dev, H.HOOK_SCHED)
    eng.unload()
    return res


def main() -> int:
    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    btf = Btf.load()
    with RmtDevice() as dev:
        return report(out, "candidates", lambda: phase(dev, files, btf))


if __name__ == "__main__":
    sys.exit(main())
