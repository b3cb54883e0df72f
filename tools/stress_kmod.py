"""Long concurrency stress of rmt.ko in the QEMU guest (issue 9; `make stress`).

    .venv/bin/python tools/stress_kmod.py [--seconds N] [--quiet-seconds N] [--min-swaps N]
        [--quiet-max N] [--json FILE] [--work DIR]

The same boot as tests/kernel/test_kmod_stress.py (tests/kernel/stress_helpers/), for
longer: table writers and model swappers on /dev/rmt, first alone until --min-swaps model
swaps (kernel memory compared before/after), then while sched.can_migrate_task and
mm.swap_fault fire under load and run the checking programs; prints the figures
(updates/s, swaps/s, entries checked in the hooks, memory) and exits 1 if any check
failed: torn or mixed reads, lost or phantom entries, ioctl errors, kernel memory growth,
an rmmod with the programs attached that failed, or a kernel complaint in dmesg.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rmt.qemu import harness

try:
    import stress_run  # tests/kernel/stress_helpers: `make stress` puts it on PYTHONPATH
except ModuleNotFoundError:
    sys.exit("stress_kmod.py: run it as `make stress` (it needs the tests' helper folders "
             "on PYTHONPATH)")
from stress_run import LOAD_TOLERANCE_KB, QUIET_TOLERANCE_KB  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def problems(s: stress_run.StressRun) -> list[str]:
    """Every failed check of one run, as sentences (empty: all passed)."""
    d = s.data
    if d is None or "error" in d:
        return [f"guest run failed: {d and d.get('error')}"]
    out = []
    for h, o in d["outcomes"].items():
        for k in ("torn_gen", "bad_csum", "wrong_key", "model_mixed"):
            if o[k]:
                out.append(f"{h}: {o[k]} {k}")
    if stress_run.checks_total(d["outcomes"]) == 0:
        out.append("the hooks checked no entry")
    t = d["tool"]
    if t["version_regressions"] or d["quiet"]["version_regressions"]:
        out.append("a model load returned a version not above the one before it")
    for run in (d["quiet"], t):
        if any(run["errors"].values()):
            out.append(f"ioctl errors {run['errors']}")
        for f in run["final"]:
            if f["lost"] or f["stale"] or f["phantom"] or f["dump_errors"]:
                out.append(f"final table of program {f['prog']}: {f}")
    mb = d["mem_before"]
    for phase, ma, tol in (("quiet run", d["mem_quiet"], QUIET_TOLERANCE_KB),
                           ("whole boot", d["mem_after"], LOAD_TOLERANCE_KB)):
        for what, grew in stress_run.mem_growth(mb, ma).items():
            if grew > tol[what]:
                out.append(f"{phase}: {what} grew by {grew} kB (bound +{tol[what]} kB; "
                           f"figures above)")
        if mb["alloc_live"] != ma["alloc_live"]:
            out.append(f"{phase}: alloc_live {mb['alloc_live']} -> {ma['alloc_live']}")
    if s.rmmod_rc != 0 or not s.dev_gone:
        out.append(f"rmmod with programs attached: status {s.rmmod_rc}")
    out += [f"dmesg: {p}" for p in s.result.kernel_problems()]
    if s.result.exit_status != 0:
        out.append(f"guest exit status {s.result.exit_status}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300,
                    help="the run under load, hooks firing (default 300)")
    ap.add_argument("--quiet-seconds", type=float, default=60,
                    help="the quiet run (no load; memory compared), at least (default 60)")
    ap.add_argument("--min-swaps", type=int, default=100_000,
                    help="model swaps the quiet run goes on until (default 100000)")
    ap.add_argument("--quiet-max", type=float, default=900,
                    help="... but at most this long (default 900)")
    ap.add_argument("--json", type=Path, help="write the guest's JSON here")
    ap.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rmt-stress-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        henv = harness.HarnessEnv.load()
        try:
            ko = harness.build_rmt_ko(work / "kbuild", harness_env=henv)
        except RuntimeError as e:
            raise SystemExit(str(e)[-6000:]) from None
        t0 = time.monotonic()
        s = stress_run.run(work, ko, args.seconds, args.quiet_seconds, args.min_swaps,
                           args.quiet_max, harness_env=henv)
        print(f"guest run: {time.monotonic() - t0:.0f} s wall, exit {s.result.exit_status}")
        if s.data and "tool" in s.data:
            print(stress_run.figures(s.data))
        if args.json and s.data is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(s.data, indent=1))
        bad = problems(s)
        if s.data and "quiet" in s.data and s.data["quiet"]["swaps"] < args.min_swaps:
            print(f"NOTE: the quiet run did {s.data['quiet']['swaps']} swaps < --min-swaps "
                  f"{args.min_swaps} (it stops at --quiet-max)")
        for p in bad:
            print("FAIL:", p)
        if not bad:
            print("OK: zero torn reads, zero mixed models, zero lost or phantom entries, "
                  "no memory growth, clean rmmod with programs attached")
        if bad and s.result.output:
            print(s.result.output[-3000:])
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
