"""Runs inside the QEMU guest with rmt.ko loaded (tests/kernel/test_kmod_abi.py).

    python3 guest_main.py FILES OUT STORM_BINARY

1. the rmtctl session of session.py on `--target kernel`;
2. the malformed-ioctl storm (rmt_ioctl_storm.c), with snapshots of the programs, entries and
   model versions before and after;
3. model swaps and table updates while CPU load makes the scheduler's hooks fire (when the
   hooks code attached the programs) and prog runs go on;
4. `rmtctl remove` of one program (the other stays loaded for rmmod).
Everything measured goes to OUT/guest.json; the host test asserts on it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


from session import Transcript, run_session, snapshot

from rmt.ctl.kernel import RmtDevice

KERNEL = ["--target", "kernel"]


def main() -> int:
    files, out, storm = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    res: dict = {}
    t0 = time.monotonic()
    with RmtDevice() as dev:
        res["abi"] = dev.version.abi
        res["hooks_abi"] = dev.version.hooks
        res["nr_cpus"] = dev.version.nr_cpus
    res["session"] = run_session(KERNEL, files, out)
    res["session_s"] = round(time.monotonic() - t0, 1)
    ids = res["session"]["ids"]

    before = snapshot(KERNEL, ids)
    t1 = time.monotonic()
    p = subprocess.run([storm, "4", "2600", *map(str, ids)], capture_output=True, text=True)
    res["storm_s"] = round(time.monotonic() - t1, 1)
    res["storm_rc"], res["storm_err"] = p.returncode, p.stderr
    res["storm"] = json.loads(p.stdout) if p.returncode == 0 else None
    res["after_storm_equal"] = snapshot(KERNEL, ids) == before
    res["before_storm"] = before
    t = Transcript(KERNEL)
    res["run_after_storm"] = t("--json", "prog", "run", ids[0], "--ctx",
                               out / "ctx_fm.json").json()

    # Replacement while the hooks fire: CPU hogs keep load balancing (can_migrate_task) busy.
    hog = None
    if shutil.which("stress-ng"):
        hog = subprocess.Popen(["stress-ng", "--cpu", "3", "--timeout", "60s", "--quiet"],
                               cwd="/tmp")     # stress-ng needs a writable directory
    versions = []
    try:
        time.sleep(1)
        for i in range(10):
            blob = files / ("pred.bin" if i % 2 else "pred2.bin")
            versions.append(t("--json", "model", "load", ids[0], "predictor", blob).json()
                            ["version"])
            t("table", "mod", ids[0], "policy", 1, "0..1023", "action", "predict", i % 3, i)
            t("table", "mod", ids[1], "policy", 7, "action", "learned", 1 + i, 1, 0)
            t("--json", "prog", "run", ids[0], "--ctx", out / "ctx_fm.json")
    finally:
        if hog is not None:
            hog.terminate()
            hog.wait()
    res["swap_versions"] = versions
    res["dump_after_swaps"] = t("--json", "table", "dump", ids[0], "policy").json()
    res["stats_after_swaps"] = t("--json", "stats", ids[0]).json()
    t("remove", ids[1])
    res["list_after_remove"] = t("--json", "list").json()
    res["remove_again"] = t("remove", ids[1], expect=1).err
    res["total_s"] = round(time.monotonic() - t0, 1)
    (out / "guest.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
