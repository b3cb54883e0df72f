"""Hook fs.readahead in rmt.ko under QEMU (tests/kernel/readahead_helpers/guest_readahead.py
does the guest side; docs/kernel-hooks.md, "fs.readahead", describes the hook).

One boot: a 96 MiB scratch disk read through its page cache, sequentially and at a stride of
16 pages, with a shadow program tracing every readahead call; then an enforce program that caps
every window at 0 pages, and the shadow program again on the same open file.  The hook fires,
its counters add up, the traced contexts are the kernel's (sync misses and async marker hits,
the device's own cap, the stride), the cap takes effect (many more disk reads) and is undone
after each call; rmmod and dmesg clean.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import rmt
from rmt.qemu import harness
import kmod_inputs

HELPER = Path(__file__).parent / "readahead_helpers" / "guest_readahead.py"
STRIDE = 16                 # guest_readahead.STRIDE
SPAN_PAGES = (16 << 20) // 4096

SHADOW_SRC = """
hook fs.readahead;
mode shadow;
apply {
    trace(ctx.index, ctx.req_pages, ctx.is_async, ctx.ra_size, ctx.ra_pages);
    if ctx.is_async == 1 || ctx.index == ctx.prev_index + 1 {
        decide(DEFAULT);
    } else {
        decide(NONE);
    }
}
"""
NONE_SRC = "hook fs.readahead;\napply { decide(NONE); }\n"


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    share = tmp_path_factory.mktemp("ra") / "share"
    files = share / "files"
    files.mkdir(parents=True)
    for name, src in (("shadow", SHADOW_SRC), ("none", NONE_SRC)):
        (files / f"{name}.rmtb").write_bytes(rmt.write_object(rmt.compile(src, f"{name}.rmt")))
    return kmod_inputs.run_helper(qemu_env, rmt_ko, HELPER, files, "readahead.json",
                                  timeout=600, disk_mb=96)


@pytest.fixture(scope="module")
def g(guest: dict) -> dict:
    return kmod_inputs.helper_output(guest)


def _delta(p: dict, key: str) -> int:
    return p["after"][key] - p["before"][key]


def test_guest_run_clean(guest: dict) -> None:
    guest["_r"].check()      # exit 0 (insmod, phases, rmmod), no BUG/WARNING/RCU stall


def test_shadow_hook_fires_and_its_counters_add_up(g: dict) -> None:
    assert g["attached"]["registered"] and g["attached"]["shadow"]
    for name in ("seq", "stride"):
        p = g[name]
        runs = _delta(p, "runs")
        assert runs > 0, name
        assert _delta(p, "shadow_agree") + _delta(p, "shadow_disagree") == runs, name
        # every hit ran (other readers' calls too: each one is a run or counted apart)
        assert _delta(p, "hits") == runs + _delta(p, "no_prog") + _delta(p, "ctx_errors"), name
        assert len(p["trace"]) == runs, name          # one record per run, none dropped
    assert not g["detached"]["registered"]


def test_traced_contexts_are_the_kernels(g: dict) -> None:
    cap = g["default_ra_kb"] // 4
    seq = g["seq"]["trace"]
    # sequential reads: misses at the start, then marker hits that push the window on
    assert {r[2] for r in seq} == {0, 1}
    assert all(r[4] == cap for r in seq), "ra_pages is not the device's read_ahead_kb"
    # windows never exceed the cap; they ramp up to it
    assert max(r[3] for r in seq) == cap and all(r[3] <= cap for r in seq)
    # strided one-page reads: the probe sees the reader's stride.  6.1 soon takes the reads
    # for a stream (try_context_readahead() finds earlier pages cached), so the calls are
    # marker hits a window apart (32 or 16 pages, by run), at pages the reader asks for
    stride = g["stride"]["trace"]
    idx = [r[0] for r in stride]
    steps = [b - a for a, b in zip(idx, idx[1:])]
    assert len(stride) >= SPAN_PAGES // STRIDE // 4
    assert all(r[1] == 1 for r in stride), "a one-page read asked for more"
    assert all(st > 0 and st % STRIDE == 0 for st in steps), steps[:40]


def test_enforced_cap_takes_effect_and_is_undone(g: dict) -> None:
    default, capped = g["seq_again"], g["enforce"]
    assert _delta(capped, "overrides") > 0
    # every run is counted once: acted on, or left to the kernel (its own value, or another
    # cap in flight in its slot)
    assert _delta(capped, "overrides") + _delta(capped, "hard_wins") == \
        _delta(capped, "runs") - _delta(capped, "same") - _delta(capped, "defaults")
    # a cap of 0 pages: the kernel reads what is asked, page by page, instead of windows
    assert capped["disk_reads"] >= 4 * default["disk_reads"], (capped["disk_reads"],
                                                                default["disk_reads"])
    # after the capped calls, on the same open file, the kernel's own cap is back
    restored = g["restored"]["trace"]
    assert restored and all(r[4] == g["default_ra_kb"] // 4 for r in restored)


def test_bad_payloads_are_refused_naming_the_field(g: dict) -> None:
    """The generated attach check (rmt_<hook>_offsets_check()) and the length and pad checks:
    each wrong payload is refused with EINVAL and the field it got wrong, nothing attached."""
    import errno
    bad = g["bad"]
    want = {"fs_public_offset": "ra_max_pages", "fs_public_size": "ra_size",
            "sched_private_outside": "env_idle", "sched_private_size": "lb_env_size",
            "sched_const": "pf_kthread", "swap_public_offset": "task_pid",
            "len": "bytes of offsets", "pad": "pad must be 0"}
    for name, field in want.items():
        assert bad[name].get("errno") == errno.EINVAL, (name, bad[name])
        assert field in bad[name]["msg"], (name, bad[name])
    assert not any(bad["registered_after"].values()), bad["registered_after"]


def test_one_file_read_by_two_threads_keeps_its_own_cap_through_a_detach(g: dict) -> None:
    """Readers sharing one struct file must not save each other's caps as the file's own,
    and a detach with capped calls in flight must wait for their restore."""
    sh = g["shared"]
    assert sh["overrides"] > 0, sh
    after = g["shared_after"]["trace"]
    assert after and all(r[4] == g["default_ra_kb"] // 4 for r in after), \
        sorted({r[4] for r in after})
    print(f"\nreaders alive at the detach: {g['shared_alive_at_detach']}; "
          f"hard_wins {sh['hard_wins']}")
