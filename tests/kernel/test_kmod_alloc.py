"""rmt.ko's allocation counters and fault injection, in Debian's 6.1 kernel under QEMU (issue 9).

One guest boot (tests/kernel/alloc_helpers/guest_alloc.py does the guest side):
- `insmod rmt.ko fail_alloc_nth=n` for n = 1, 2, ... until it loads: every failed load
  leaves nothing allocated (rmt_init prints the count);
- /sys/module/rmt/parameters/ has alloc_live, alloc_total, alloc_failed,
  fail_alloc_nth and fail_alloc_every;
- a program with exact, lpm, ternary and range tables, a model and maps is loaded, seeded
  and given weights through /dev/rmt;
- for program load, an insert into each table kind, model load and map write, allocation
  n = 1, 2, ... is failed (fail_alloc_nth) until the ioctl runs with none failed: every
  failure is ENOMEM, leaves the program list, table dumps (with hit counts), maps, model
  version and the behaviour (prog runs, trace records) as they were, and leaks nothing;
- attaching the second program to sched.can_migrate_task (shadow mode), swept the same way;
- detach and unload work with every allocation failing; alloc_live is back to its value at start;
- rmmod: dmesg says "allocations live at unload: 0", and has no WARNING/BUG.
Budget: well under 2 minutes of TCG time.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rmt.qemu import harness

import kmod_inputs
from alloc_program import SOURCE

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).parent / "alloc_helpers"


# Allocations made before the error buffer exists fail with ENOMEM alone (rmtctl shows
# strerror): the error buffer itself, and before it the request when the request holds the
# buffer's address (table updates, hook attach, whose buffer is in the request).  Every
# later failure point writes a message: the copy of the user's object or blob included.
SILENT_ALLOCS = {"prog load": 1, "model load": 1, "hook attach": 1}
IOCTL_LAYER_ALLOCS = 2          # the most any operation makes before it can say anything


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    work = tmp_path_factory.mktemp("kmod_alloc")
    ko = rmt_ko
    share = work / "share"
    share.mkdir()
    obj = share / "alloc_faults.rmtb"
    obj.write_bytes(objfile.write(compile_source(SOURCE, "alloc_faults.rmt")))
    r = harness.run_in_guest(
        f"""
        set -e
        # insmod itself, its n-th allocation failing, until it loads with none failed;
        # then disarm (an n past insmod's allocations is still counting down)
        n=1
        while ! insmod {ko} fail_alloc_nth=$n 2>> "$RMT_OUT/insmod_err.txt"; do
            echo $n >> "$RMT_OUT/insmod_failed.txt"
            n=$((n + 1))
            test $n -le 50
        done
        cat /sys/module/rmt/parameters/fail_alloc_nth > "$RMT_OUT/insmod_pending.txt"
        echo 0 > /sys/module/rmt/parameters/fail_alloc_nth
        ls /sys/module/rmt/parameters > "$RMT_OUT/params.txt"
        {kmod_inputs.GUEST_ENV} python3 {HELPERS / 'guest_alloc.py'} {obj} "$RMT_OUT"
        rmmod rmt
        """,
        timeout=300, cpus=2, out_dir=share, cwd=ROOT, harness_env=qemu_env)
    aj = share / "alloc.json"
    return {"r": r, "share": share,
            "res": json.loads(aj.read_text()) if aj.exists() else None}


def _res(guest: dict) -> dict[str, Any]:
    if guest["res"] is None or guest["r"].exit_status != 0:
        guest["r"].check()
    return guest["res"]


def test_parameters_exist_and_unload_reports_zero_live(guest: dict) -> None:
    r = guest["r"]
    r.check()       # exit 0 (insmod, the sweeps, rmmod), no BUG/WARNING/Oops in dmesg
    params = set((guest["share"] / "params.txt").read_text().split())
    assert {"alloc_live", "alloc_total", "alloc_failed", "fail_alloc_nth",
            "fail_alloc_every"} <= params
    assert "rmt: allocations live at unload: 0" in r.dmesg, r.dmesg[-2000:]
    assert "allocations leaked" not in r.dmesg
    res = guest["res"]
    print(f"\nguest: sweeps {res['seconds']} s (boot {r.boot_seconds} s, run {r.duration:.0f} s); "
          f"{res['total']} allocations, {res['failed']} failed by injection")


def test_insmod_failures_free_everything(guest: dict) -> None:
    """`insmod rmt.ko fail_alloc_nth=n`: each of init's allocations failed in turn; the
    module refuses to load, with nothing left allocated (rmt_init prints the count)."""
    r = guest["r"]
    share = guest["share"]
    failed_path = share / "insmod_failed.txt"
    failed = failed_path.read_text().split() if failed_path.exists() else []
    # the VM instance and the two hooks' per-CPU counters, at least
    assert len(failed) >= 3 and failed == [str(i) for i in range(1, len(failed) + 1)], failed
    assert "Cannot allocate memory" in (share / "insmod_err.txt").read_text()
    # the load that succeeded had one allocation to go: the sweep stopped exactly there
    assert (share / "insmod_pending.txt").read_text().strip() == "1"
    reports = re.findall(r"rmt: allocations live after a failed load: (-?\d+)", r.dmesg)
    assert reports == ["0"] * len(failed), reports
    print(f"\ninsmod: {len(failed)} allocations, each failed once, nothing left allocated")


def test_every_failed_allocation_is_enomem_and_changes_nothing(guest: dict) -> None:
    res = _res(guest)
    lines = []
    for s in res["sweeps"]:
        what = s["op"]
        assert s["allocations"] is not None, f"{what}: still failing after the sweep"
        # only the JIT absorbs a failure: it falls back to the interpreter, counted
        assert s["absorbed"] == s["jit_nomem"], f"{what}: succeeded with an injected failure"
        assert s["absorbed"] in ((0, 1) if what == "prog load" else (0,)), s
        assert len(s["failures"]) == s["allocations"]
        for f in s["failures"]:
            where = f"{what}, allocation {f['n']}"
            assert f["injected"] == 1, f"{where}: {f}"
            assert f["errno"] == "ENOMEM", f"{where}: {f}"
            assert f["state_equal"], f"{where}: the state changed"
            assert f["behaviour_equal"], f"{where}: the behaviour changed"
            assert f["live_delta"] == 0, f"{where}: {f['live_delta']} allocations leaked"
            assert "memory" in f["message"], f"{where}: message {f['message']!r}"
            if f["n"] > SILENT_ALLOCS.get(what, IOCTL_LAYER_ALLOCS):
                assert f["kernel_message"], f"{where}: rmt.ko wrote no message"
        silent = [f["n"] for f in s["failures"] if not f["kernel_message"]]
        lines.append(f"  {what}: {s['allocations']} allocations, each failed once"
                     + (f" (no message from rmt.ko at allocation {silent})" if silent else ""))
    by_op = {s["op"]: s["allocations"] for s in res["sweeps"]}
    # Each of these must allocate more than the ioctl layer's buffers: the sweep reached
    # the VM's own allocations.
    for what in ("prog load", "exact insert", "lpm insert", "ternary insert",
                 "range insert", "model load"):
        assert by_op[what] > IOCTL_LAYER_ALLOCS, (what, by_op[what])
    print("\nrmt.ko allocation sweeps:\n" + "\n".join(lines))


def test_hook_attach_sweep(guest: dict) -> None:
    """Attach (rmt_kmod_hooks.c) allocates its argument copy and the new binding; a failure
    of either leaves the hook as it was (checked in the sweep), the retry attaches."""
    res = _res(guest)
    assert res["hooks_abi"]         # the rmt_ko fixture builds the hooks in
    by_op = {s["op"]: s["allocations"] for s in res["sweeps"]}
    assert by_op["hook attach"] >= 2
    a = res["attached"]
    assert a["prog_id"] == a["want_prog_id"] and a["registered"] and a["shadow"], a


def test_operations_took_effect_after_the_sweeps(guest: dict) -> None:
    res = _res(guest)
    ex, lp, te, ra = res["final_tables"]
    assert any("Exact(value=5)" in e for e in ex)
    assert any("Lpm(value=2116, plen=14)" in e for e in lp)
    assert any("Ternary(value=64, mask=64)" in e for e in te)
    assert any("Range(lo=12, hi=150)" in e for e in ra)


def test_unload_needs_no_memory_and_frees_everything(guest: dict) -> None:
    res = _res(guest)
    assert res["unload_errors"] == [], res["unload_errors"]
    assert res["progs_after_unload"] == []
    assert res["live_loaded"] > res["live_at_start"]
    assert res["live_after_unload"] == res["live_at_start"], (
        f"{res['live_after_unload'] - res['live_at_start']} allocations left after "
        f"every program was unloaded")
