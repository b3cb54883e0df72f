"""rmt.ko's JIT in Debian's 6.1 kernel under QEMU (vm_kernel/kmod/rmt_kmod_jit.c; guest side:
tests/kernel/kmod_helpers/guest_jit.py).

One guest boot, 4 vCPUs, about 4 minutes of TCG time:
- every tests/vmcases case runs on the kernel JIT (engine 1) with the reference results,
  aborts and pcs included; then with net.core.bpf_jit_enable=0 every program falls back to
  the interpreter (engine 0, counted "nojit") and the cases pass again;
- both examples, on the JIT and on the interpreter, agree on 300 random contexts each;
- rmt.jit=0, an injected allocation failure in the JIT and bpf_jit_limit=1 never fail a load
  the interpreter can run: each falls back (or, for the limit, JITs anyway: 6.1 charges the
  limit only to callers without CAP_BPF/CAP_SYS_ADMIN, and /dev/rmt needs CAP_SYS_ADMIN), and
  every fallback is counted in /sys/module/rmt/parameters/jit_stats;
- programs and weights are replaced (alternating engines) while the sched hook fires;
- rmmod with a JIT program attached and the hook firing; dmesg clean.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from rmt.qemu import harness
import kmod_inputs

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).parent / "kmod_helpers"
PY = ROOT / ".venv" / "bin" / "python"
KJIT, INTERP = 1, 0    # RMT_PROG_ENGINE_*

pytestmark = pytest.mark.skipif(os.environ.get("RMT_GUEST_BPF_JIT") == "0",
                                reason="RMT_GUEST_BPF_JIT=0: this file switches the BPF JIT "
                                       "off and on itself (phase cases_nojit)")


def _inputs(files: Path) -> None:
    from rmt.contract import weights as W
    rng = random.Random(23)
    kmod_inputs.write_examples_and_predictors(files, rng)
    tree = W.Tree([W.Node(1, 128, 1, 2), W.Node(-1, leaf=0), W.Node(-1, leaf=1)],
                  [[5, -1], [-5, -1]])
    (files / "tree_fm.bin").write_bytes(kmod_inputs.tree_weights(tree, 17))
    nxt = W.Tree([W.Node(0, 0, 1, 2), W.Node(-1, leaf=0), W.Node(-1, leaf=1)],
                 [[3] + [1] * 16, [2] + [-1] * 16])
    (files / "next.bin").write_bytes(kmod_inputs.tree_weights(nxt, 8))


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    share = tmp_path_factory.mktemp("kjit") / "share"
    files = share / "files"
    files.mkdir(parents=True)
    _inputs(files)
    r = harness.run_in_guest(
        f"""
        insmod {rmt_ko} || exit 3
        {kmod_inputs.GUEST_ENV} {PY} {HELPERS / 'guest_jit.py'} {files} "$RMT_OUT" || exit 5
        # rmmod while a JIT program is attached and the hook fires
        (cd /tmp && exec stress-ng --cpu 4 --yield 2 --timeout 20s --quiet) &
        sleep 4
        {PY} -c 'from rmt.ctl import hook_abi as H; \
from rmt.ctl.kernel import RmtDevice; print(H.stats(RmtDevice(), H.HOOK_SCHED).runs)' \
            > "$RMT_OUT/runs_before_rmmod" || exit 6
        rmmod rmt || exit 4
        test ! -e /dev/rmt || exit 7
        wait
        """,
        timeout=900, cpus=4, out_dir=share, cwd=ROOT, harness_env=qemu_env)
    f = share / "jit.json"
    return {"r": r, "share": share, "res": json.loads(f.read_text()) if f.exists() else None}


def _phase(guest: dict, name: str) -> dict:
    res = guest["res"]
    if res is None or name not in res:
        pytest.fail(f"the guest did not reach phase {name}:\n{guest['r'].output[-3000:]}")
    if "error" in res[name]:
        pytest.fail(f"guest phase {name} failed:\n{res[name]['error']}")
    return res[name]


def test_guest_run_clean_and_rmmod_with_hook_firing(guest: dict) -> None:
    guest["r"].check()          # exit 0 (insmod, phases, rmmod), no BUG/WARNING/Oops/RCU stall
    runs = (guest["share"] / "runs_before_rmmod").read_text().strip()
    assert int(runs) > 0, "the attached JIT program did not run before rmmod"
    a = _phase(guest, "attached")
    assert a["engine"] == KJIT
    assert a["show_jit"] is True and a["stats_engine"] == "jit", a    # rmtctl show / stats


@pytest.mark.parametrize("name,engine,counter",
                         [("cases_jit", KJIT, "jited"), ("cases_nojit", INTERP, "nojit")])
def test_every_vm_case_passes(guest: dict, name: str, engine: int, counter: str) -> None:
    """The sixth engine: each case loads on `engine` (run_cases.py fails it otherwise) and
    gives the reference results; every load is counted where it went."""
    p = _phase(guest, name)
    res = p["results"]
    assert len(res) == len(list((ROOT / "tests" / "vmcases").glob("*.case")))
    bad = {k: v for k, v in res.items() if v != "ok"}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    st = p["stats"]
    assert st[counter] > 0 and all(v == 0 for k, v in st.items() if k != counter), st


def test_examples_agree_across_engines(guest: dict) -> None:
    d = _phase(guest, "diff")
    for name, r in d.items():
        assert r["engines"] == [KJIT, INTERP], (name, r)
        assert r["nmismatch"] == 0, (name, r["mismatches"])
        assert r["stats_runs"] == [r["runs"], r["runs"]], (name, r)


def test_module_parameter_off_runs_the_interpreter(guest: dict) -> None:
    p = _phase(guest, "param_off")
    assert p["engine"] == INTERP
    assert p["stats"]["off"] == 1 and p["stats"]["jited"] == 0, p
    assert p["show_jit"] is False and p["stats_engine"] == "interpreter", p


def test_allocation_failure_in_the_jit_falls_back(guest: dict) -> None:
    """Sweeping the injected failure over one load: early failures fail the load (ENOMEM,
    nothing loaded), those in the JIT leave a working program on the interpreter (same
    results as the JIT), and the sweep ends at the first load that JITs."""
    p = _phase(guest, "inject")
    out = p["outcomes"]
    fallbacks = [o for o in out if len(o) == 3 and o[1] == INTERP]
    assert fallbacks, out
    assert all(o[2] for o in out if len(o) == 3), out       # same results on either engine
    assert out[-1][1] == KJIT, out
    assert all(o[1] == "ENOMEM" for o in out if len(o) == 2), out
    assert p["stats"]["nomem"] == len(fallbacks), p["stats"]
    assert p["stats"]["jited"] == 1, p["stats"]


def test_bpf_jit_limit_never_fails_a_load(guest: dict) -> None:
    p = _phase(guest, "jit_limit")
    st = p["stats"]
    if p["engine"] == KJIT:
        assert st["jited"] == 1, p              # CAP_SYS_ADMIN: the limit does not apply
    else:
        assert p["engine"] == INTERP and st["declined"] == 1, p


def test_hot_swap_while_the_hook_fires(guest: dict) -> None:
    p = _phase(guest, "swap")
    # each swap loads a program with weights and entries: seconds under TCG with the hogs
    # running, so the guest stops after SWAPS or its time, whichever comes first
    assert p["swaps"] >= 2, p
    assert p["engines"] == [INTERP, KJIT], p
    h = p["hook"]
    assert h["runs"] > 0 and h["ctx_errors"] == 0, h
