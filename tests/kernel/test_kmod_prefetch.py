"""mm.swap_fault's exact-page prefetch in rmt.ko, in Debian's 6.1 kernel under QEMU.

One guest boot (casestudies/kernel_prefetch_guest.py, phase ``mechanism``): swap on a virtio-blk
disk (not zram: SWP_SYNCHRONOUS_IO skips the swap cache), vm.page-cluster 0 (the kernel's
readahead off), the strided workload (16 MiB, stride 7 pages, two passes) in a cgroup v2 whose
memory.max is half its working set:
- without a program, then with a program prefetching the 8 next pages along the stride: the
  worker reads the pages the program names into the swap cache (madvise, the default
  mechanism), later faults find them there (the kernel's own hit count), and the workload's
  major faults fall;
- the same program with swap_prefetch=gup (the exported-symbols fallback): pages read,
  nothing refused;
- a program asking for pages far outside the VMA, below its start, the same page three times
  and the faulting page itself: each is skipped and counted, nothing is read for it;
- every requested page ends in exactly one outcome counter; pages read <= pswpin;
- the mechanism parameter: window mode attaches, an unknown name is refused with the reason;
- attach and detach 20+ times while the workload faults (each re-patches do_swap_page's
  ftrace site; the first version crashed the faulting task there);
- rmmod while the workload faults with the program attached: clean; dmesg clean.
Asserts the mechanism, not a speed: speed is `make kernel-prefetch-eval`'s.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmt.qemu import harness

ROOT = Path(__file__).resolve().parents[2]
GUEST = ROOT / "casestudies" / "kernel_prefetch_guest.py"
PY = ROOT / ".venv" / "bin" / "python"

STRIDED_SRC = """
hook mm.swap_fault;
mode enforce;
apply {
    let d = ctx.hist[0];
    if ctx.hist_len >= 2 && d == ctx.hist[1] && d != 0 && d >= -64 && d <= 64 {
        for i in 0..8 {
            ctx.pf[i] = (d as i32) * (i as i32 + 1);
        }
        decide(8);
    } else {
        decide(0);
    }
}
"""

# Per decision, 16 pages (the most a decision can name: the hook's decision range is 0..16):
# 2 outside the VMA (2^20 pages = 4 GiB after the fault, the VMA is 16 MiB; and 4 GiB
# before it, below the VMA's start), the faulting page itself, one real neighbour (+1) and
# 12 repeats of it: 13 duplicates.
BAD_SRC = """
hook mm.swap_fault;
mode enforce;
apply {
    ctx.pf[0] = 1048576;
    ctx.pf[1] = -1048576;
    ctx.pf[2] = 0;
    for i in 3..16 {
        ctx.pf[i] = 1;
    }
    decide(16);
}
"""
OUTCOMES = ("dropped", "mm_gone", "dup", "outside_vma", "not_swap", "resident", "cached",
            "read", "errors")


def _blob(src: str, name: str) -> bytes:
    from rmt.compiler import compile_source
    from rmt.contract import objfile
    return objfile.write(compile_source(src, name))


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    share = tmp_path_factory.mktemp("prefetch") / "share"
    files = share / "files"
    files.mkdir(parents=True)
    (files / "strided.rmtb").write_bytes(_blob(STRIDED_SRC, "strided.rmt"))
    (files / "bad.rmtb").write_bytes(_blob(BAD_SRC, "bad.rmt"))
    r = harness.run_in_guest(
        f"""
        insmod {rmt_ko} || exit 3
        {PY} {GUEST} {files} "$RMT_OUT" mechanism
        rc=$?
        if lsmod | grep -q '^rmt '; then rmmod rmt || exit 4; fi
        exit $rc
        """,
        timeout=900, out_dir=share, cwd=ROOT, harness_env=qemu_env, disk_mb=128)
    f = share / "mechanism.json"
    return {"r": r, "res": json.loads(f.read_text()) if f.exists() else None}


def _res(guest: dict) -> dict:
    res = guest["res"]
    if res is None or "error" in res:
        pytest.fail(f"guest phase failed: {res and res.get('trace', res.get('error'))}\n"
                    f"{guest['r'].output[-3000:]}\n{guest['r'].console[-3000:]}")
    return res


def _adds_up(pf: dict) -> None:
    assert pf["requested"] == sum(pf[k] for k in OUTCOMES), pf


def test_guest_run_clean(guest: dict) -> None:
    r = guest["r"]
    print(f"\nguest: {r.duration:.0f} s wall, boot {r.boot_seconds} s")
    if not r.ok:    # the backtraces of a lockup are in dmesg, not on the console
        print("--- guest dmesg (tail) ---\n" + "\n".join((r.dmesg or "").splitlines()[-400:]))
    r.check()      # exit 0, rmmod under load included; no BUG/WARNING/Oops in dmesg


def test_strided_program_pages_read_and_hit(guest: dict) -> None:
    res = _res(guest)
    off, on, pf = res["off"], res["strided"], res["strided_pf"]
    print(f"\nstrided, page-cluster 0: major faults {off['majflt']} -> {on['majflt']}, pswpin "
          f"{off['vmstat']['pswpin']} -> {on['vmstat']['pswpin']}; prefetch {pf}")
    assert "virtio" in res["swaps"] or "/dev/vda" in res["swaps"]
    assert res["strided_attached"]["mechanism"] == "madvise"
    assert off["status"] == on["status"] == 0
    assert off["majflt"] > 1000                       # the limit makes it swap
    _adds_up(pf)
    assert pf["decisions"] > 0 and pf["read"] > 0
    # pages the program named were read and later found in the swap cache by a fault
    assert pf["hits"] > pf["read"] // 2, pf
    assert pf["hits"] <= pf["read"]
    # the kernel's own counters agree: every page read is a swap-in (pswpin counts them all)
    assert pf["read"] <= on["vmstat"]["pswpin"]
    # most of the faults' reads were done ahead: major faults fall
    assert on["majflt"] < off["majflt"] * 0.6, (off, on)
    assert pf["errors"] == 0 and pf["over_cap"] == 0
    assert pf["queue_bytes"] > 0 and pf["queue_len"] > 0
    assert pf["merged"] <= pf["decisions"]
    hook = res["strided_hook"]
    assert hook["runs"] == hook["defaults"] + hook["same"] + hook["overrides"]
    assert hook["overrides"] == pf["decisions"]
    # rmtctl stats shows the same counters and the mechanism
    cli = res["strided_cli"]
    assert isinstance(cli, dict), cli
    assert cli["hook"]["prefetch"]["mechanism"] == "madvise"
    assert cli["hook"]["prefetch"]["read"] >= pf["read"]


def test_bad_pages_skipped_and_counted(guest: dict) -> None:
    res = _res(guest)
    pf = res["bad_pf"]
    print(f"\nbad program: {pf}")
    _adds_up(pf)
    d = pf["decisions"]
    assert d > 0 and pf["requested"] == 16 * d and pf["over_cap"] == 0
    # Every decision is skipped by the handler but for one page: the 2 far pages are outside
    # the VMA and the faulting page and 12 repeats of +1 are duplicates; or, when the fault is
    # on the VMA's last page (+1 past its end), the faulting page is a duplicate and the other
    # 15 are outside.
    past_end, rem = divmod(pf["outside_vma"] - 2 * d, 13)
    assert rem == 0 and 0 <= past_end < d // 10, pf
    extra_dup = pf["dup"] - (13 * d - 12 * past_end)
    assert extra_dup >= 0, pf
    # so exactly the one neighbour of every other decision was queued: checked and read, or
    # dropped, or (merged into a queued request that already had it) a duplicate
    queued = sum(pf[k] for k in ("dropped", "mm_gone", "not_swap", "resident", "cached", "read"))
    assert queued + extra_dup == d - past_end, pf
    assert pf["read"] > 0 and pf["errors"] == 0


def test_gup_fallback_reads_pages(guest: dict) -> None:
    """swap_prefetch=gup: the worker faults the named pages in with get_user_pages_remote()
    (mapped, so later accesses do not fault: no hits to count)."""
    res = _res(guest)
    pf, run = res["gup_pf"], res["gup"]
    print(f"\ngup: major faults {res['off']['majflt']} -> {run['majflt']}; prefetch {pf}")
    assert res["gup_attached"]["mechanism"] == "gup"
    assert run["status"] == 0
    _adds_up(pf)
    assert pf["decisions"] > 0 and pf["read"] > 0 and pf["errors"] == 0
    # every page it read was a swap-in
    assert pf["read"] <= run["vmstat"]["pswpin"]


def test_mechanism_choice_and_detach(guest: dict) -> None:
    res = _res(guest)
    assert res["detached"]["mechanism"] == "none"
    assert res["window_attached"]["mechanism"] == "window"
    assert res["bad_param_error"] and "swap_prefetch=nonsense" in res["bad_param_error"]


def test_attach_detach_while_faulting(guest: dict) -> None:
    """Each attach and detach re-patches do_swap_page's ftrace site while the workload
    faults; the workload must survive every one: still running when the cycles end (then
    killed by the test, -9) or finished by itself with status 0 on a faster host, never killed
    by a fault; and the guest run stays clean (test_guest_run_clean: no Oops)."""
    res = _res(guest)
    status = res["cycles_workload_status"]
    print(f"\nattach/detach cycles while faulting: {res['cycles']} (workload status {status})")
    assert res["cycles"] >= 20
    if res["cycles_workload_running"]:
        assert status == -9, status
    else:
        assert status == 0, f"the workload died during the cycles: status {status}"


def test_rmmod_under_load(guest: dict) -> None:
    res = _res(guest)
    b = res["before_rmmod"]
    print(f"\nat rmmod: {b}")
    assert res["rmmod_while_running"] and b["decisions"] > 0
    assert res["rmmod"] == 0
    assert res["workload_status_after_rmmod"] == 0
