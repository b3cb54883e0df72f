"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_model_loop.py).

    python guest_loop.py FILES OUT

examples/small/labelled.rmt in shadow mode (FILES/loop.rmtb) on sched.can_migrate_task under
stress-ng, driven by `rmtctl model refresh` / `model loop` (rmtctl's own code, in this
process, on the kernel target): the live weights always ALLOW, the trainer stages weights
that always DENY, so on every labelled run exactly one of the two is right and the two
accuracies the loop measures add up to 1 when every disagreement record is paired with its
run.  The judgement uses --margin -1 (promote whatever the accuracies), so that the DENY
weights go live and trip the guard (max_streak DENY 2 per pid); the next round must roll
them back.  Every load phase runs until a count is reached, never for a set time.  Writes
OUT/loop.json; the host test asserts on it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.cli import main as cli_main
from rmt.ctl.kernel import KernelEngine, RmtDevice

from guest_hooks import report, stop, stress  # the same scheduler load (PYTHONPATH: GUEST_ENV)

N = 150                     # labelled runs the candidate is judged on, at least
MAX_LOAD_S = 120


def cli(*argv: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(["--target", "kernel", *argv])
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue()}


def load_until(pred) -> float:
    """The scheduler load until pred() holds (at most 2 * MAX_LOAD_S); how long it ran."""
    t0 = time.monotonic()
    p = stress(MAX_LOAD_S)
    try:
        while not pred() and time.monotonic() - t0 < 2 * MAX_LOAD_S:
            if p.poll() is not None:
                p = stress(MAX_LOAD_S)
            time.sleep(0.3)
    finally:
        stop(p)
    return round(time.monotonic() - t0, 1)


def phase(dev: RmtDevice, files: Path, out: Path, btf: Btf) -> dict:
    os.environ["RMT_PROPS_DIR"] = str(out / "props")      # the host store of this run
    res: dict = {"load_s": []}
    eng = KernelEngine.load(dev, (files / "loop.rmtb").read_bytes(), trace_capacity=65536)
    pid = str(eng.id)
    eng.model_load(0, (files / "allow.bin").read_bytes())
    H.attach(dev, H.HOOK_SCHED, eng.id, btf=btf)
    loop = ["-j", "model", "refresh", pid, "score", "--traces", str(out / "train.jsonl"),
            "--label", "label", "--score", "y_0", "--min-runs", str(N), "--max-trips", "0",
            "--margin", "-1"]

    # 1. a round stages the trainer's weights (always DENY) beside the live ones (ALLOW)
    res["stage"] = cli(*loop, "--train", f"cp {files / 'deny.bin'} {{out}}")
    # 2. live runs: every one is labelled (the program traces each) and disagrees
    res["load_s"].append(load_until(lambda: eng.model_state(0).disagree >= 3 * N))
    # 3. the next round judges the candidate on the runs since the stage, and promotes it
    res["judge"] = cli(*loop, "--train", "false")
    res["after_judge"] = {"version": eng.model_state(0).version}
    # 4. the DENY weights decide now: the guard trips; `model loop` rolls them back
    trips0 = cli("-j", "stats", pid)
    res["stats_before"] = json.loads(trips0["out"]) if trips0["rc"] == 0 else trips0
    res["load_s"].append(load_until(
        lambda: json.loads(cli("-j", "stats", pid)["out"])["guard_trips"] >
        res["stats_before"]["guard_trips"] + 5))
    res["stats_after"] = json.loads(cli("-j", "stats", pid)["out"])
    res["loop"] = cli("-j", "model", "loop", pid, "score", "--traces",
                      str(out / "train.jsonl"), "--label", "label", "--score", "y_0",
                      "--min-runs", str(N), "--max-trips", "0", "--margin", "-1",
                      "--train", "false", "--rounds", "1", "--every", "1")
    s = eng.model_state(0)
    res["final"] = {"version": s.version, "prev": s.prev_version, "cand": s.cand_version,
                    "history": [(h.op, h.version) for h in s.history]}
    log = out / "props" / "props.log"
    res["props_log"] = log.read_text() if log.exists() else ""
    H.detach(dev, H.HOOK_SCHED)
    eng.unload()
    return res


def main() -> int:
    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    btf = Btf.load()
    with RmtDevice() as dev:
        return report(out, "loop", lambda: phase(dev, files, out, btf))


if __name__ == "__main__":
    sys.exit(main())
