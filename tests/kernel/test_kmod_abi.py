"""rmt.ko in Debian's 6.1 kernel under QEMU: /dev/rmt, its ioctl ABI and `rmtctl --target kernel`.

One guest boot (tests/kernel/kmod_helpers/guest_main.py does the guest side):
- rmt.ko built against the guest kernel's headers loads; /dev/rmt appears;
- both examples are compiled (on the host), verified and inserted with `rmtctl --target kernel`,
  entries added/modified/deleted, weights loaded, programs run, maps, stats and traces read;
  a batch file with one refused line leaves the table unchanged (RMT_IOC_TABLE_BATCH), and a
  trace drain whose output fails (a directory, /dev/full) loses no record (peek, then ack);
  the same session on the sim target (reference engine, on the host) gives the same results;
- a storm of >= 10,000 malformed ioctls from 4 threads: every call fails with an errno, and the
  programs, entries and model versions are unchanged afterwards;
- models swapped and entries modified while CPU load runs (and the hooks fire, when the hooks
  code attached the programs);
- rmmod with a program still loaded succeeds; the kernel log has no BUG/WARNING/Oops/RCU stall.
Budget: about 2-3 minutes of TCG time.
"""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rmt.qemu import harness
import kmod_inputs
from session import RUN_TS, run_session

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).parent / "kmod_helpers"


MIN_STORM_CALLS = 10_000


def _inputs(files: Path) -> None:
    """Both examples compiled, and weight blobs that fit their model signatures (seeded, so
    runs repeat): the shared predictors, then random trees for forced_migration's
    tree_predictor (tree_fm.bin) and swap_prefetch's next-page model (next.bin)."""
    from rmt.contract import weights as W
    rng = random.Random(5)
    kmod_inputs.write_examples_and_predictors(files, rng)

    def tree(n_in: int, n_out: int) -> W.Tree:
        nodes = [W.Node(rng.randrange(n_in), rng.randint(-512, 512), 1, 2),
                 W.Node(-1, leaf=0), W.Node(-1, leaf=1)]
        leaves = [[rng.randint(-4, 4) for _ in range(n_out)] for _ in range(2)]
        leaves[0][0] = leaves[1][0] = 3        # swap: a window of 3 pages
        return W.Tree(nodes, leaves)

    (files / "tree_fm.bin").write_bytes(kmod_inputs.tree_weights(tree(17, 2), 17))
    (files / "next.bin").write_bytes(kmod_inputs.tree_weights(tree(8, 17), 8))


def _storm_binary(dst: Path) -> Path:
    out = dst / "rmt_ioctl_storm"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-pthread", "-I", str(ROOT / "vm_kernel"),
                    "-o", str(out), str(HELPERS / "rmt_ioctl_storm.c")], check=True)
    return out


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("kmod")
    ko = rmt_ko
    share = work / "share"
    files = share / "files"
    files.mkdir(parents=True)
    _inputs(files)
    storm = _storm_binary(share)
    r = harness.run_in_guest(
        f"""
        set -e
        insmod {ko}
        test -c /dev/rmt
        {kmod_inputs.GUEST_ENV} python3 {HELPERS / 'guest_main.py'} {files} "$RMT_OUT" {storm}
        # the installed console script, as a user runs it
        {ROOT / '.venv' / 'bin' / 'rmtctl'} --target kernel --json list > "$RMT_OUT/list_cli.json"
        # every VM case file on the module (4 vCPUs: the per-CPU cases use CPUs 0..3)
        {kmod_inputs.GUEST_ENV} python3 {HELPERS / 'run_cases.py'} "$RMT_OUT/cases.json"
        rmmod rmt
        test ! -e /dev/rmt
        """,
        timeout=600, cpus=4, out_dir=share, cwd=ROOT, harness_env=qemu_env)
    out = {"r": r, "files": files, "share": share}
    gj = share / "guest.json"
    out["res"] = json.loads(gj.read_text()) if gj.exists() else None
    return out


def _check(guest: dict) -> dict[str, Any]:
    r = guest["r"]
    if guest["res"] is None or r.exit_status != 0:
        r.check()
    return guest["res"]


def test_module_loads_runs_the_session_and_unloads_cleanly(guest: dict) -> None:
    r = guest["r"]
    r.check()       # exit 0 (insmod, session, rmmod all succeeded), kernel log clean
    assert "rmt: VM loaded, /dev/rmt ready" in r.dmesg
    assert "rmt: unloaded" in r.dmesg
    res = guest["res"]
    print(f"\nguest: session {res['session_s']} s, storm {res['storm_s']} s, "
          f"total {res['total_s']} s (boot {r.boot_seconds} s, run {r.duration:.0f} s)")


def test_examples_inserted_and_controlled_with_rmtctl_kernel(guest: dict) -> None:
    res = _check(guest)
    s = res["session"]
    fm, sp = s["ids"]
    assert [p["name"] for p in s["list"]] == ["forced_migration", "swap_prefetch"]
    assert all(p["verdict"] == "accepted" for p in s["list"])     # the verifier ran in the guest
    assert s["show_fm"]["hook"] == "sched.can_migrate_task"
    assert [(e["match"], e["action"], e["args"]) for e in s["dump_fm"]] == [
        (["2", "0..1000"], "allow", []), (["0", "5..9"], "deny", []),
        (["1", "0..1023"], "predict", [1, 0])]
    assert [(e["match"], e["action"], e["args"]) for e in s["dump_sp"]] == [
        (["7"], "learned", [8, 1, 0])]
    assert "EEXIST" in s["dup_insert"] and "ENOENT" in s["del_missing"]
    assert "EINVAL" in s["bad_weights"]
    assert "EPERM" in s["private_dump"] and "map succ is private" in s["private_dump"]
    assert s["model_versions"][3] > s["model_versions"][0] > 0
    assert {m["name"]: m["version"] for m in s["models_fm"]} == {
        "predictor": s["model_versions"][3], "tree_predictor": s["model_versions"][1]}
    assert s["run_fm"]["runs"] == 3 and s["run_fm"]["abort"] is None
    assert s["stats_fm"]["runs"] >= 3
    assert res["hooks_abi"]         # the rmt_ko fixture builds the hooks in
    hook = s["stats_fm"]["hook"]    # attached: `rmtctl stats` shows the probe's own counters
    assert hook["prog_id"] == fm and hook["registered"] and "nmissed" in hook
    cli_list = json.loads((guest["share"] / "list_cli.json").read_text())
    assert [p["id"] for p in cli_list] == [fm]     # swap_prefetch was removed by then
    assert "ENOENT" in res["remove_again"] or "no program" in res["remove_again"]


def test_same_session_on_the_sim_target_gives_the_same_results(guest: dict,
                                                               tmp_path: Path) -> None:
    res = _check(guest)
    k = res["session"]
    s = run_session(["--target", "sim", "--state", str(tmp_path / "state"), "--engine", "ref"],
                    guest["files"], tmp_path)
    for key in ("ids", "model_versions", "run_fm", "run_sp", "private_dump"):
        assert k[key] == s[key], key
    strip = lambda rows: [{f: v for f, v in e.items() if f != "hits"} for e in rows]  # noqa
    # batches: a refused line leaves the table as it was, on both targets
    for res_ in (k, s):
        assert "bad.batch:3" in res_["batch_bad"] and "EEXIST" in res_["batch_bad"], \
            res_["batch_bad"]
        assert strip(res_["dump_after_bad_batch"]) == strip(res_["dump_sp"])
        assert [(e["match"], e["action"], e["args"]) for e in res_["dump_after_good_batch"]] \
            == [(["7"], "learned", [8, 1, 0]), (["12"], "learned", [1, 2, 3])]
        # the failed drains: the records they read are in trace.jsonl below (compared)
        assert "the records stay in the ring" in res_["trace_to_dir"], res_["trace_to_dir"]
    assert strip(k["dump_fm"]) == strip(s["dump_fm"])
    assert strip(k["dump_sp"]) == strip(s["dump_sp"])
    assert [p["name"] for p in k["list"]] == [p["name"] for p in s["list"]]
    # trace records: the sim's JSON lines, byte for byte, for the records of the prog runs
    # (the kernel may also hold records of hooks that fired; their ts is a real clock)
    sim_lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    kern = [ln for ln in (guest["share"] / "trace.jsonl").read_text().splitlines()
            if json.loads(ln)["ts"] in RUN_TS]
    assert sim_lines and kern == sim_lines
    # the hooks ran the attached program too: the kernel counted at least the sim's runs
    assert k["stats_fm"]["runs"] >= s["stats_fm"]["runs"] > 0


def test_malformed_ioctl_storm_fails_every_call_and_changes_nothing(guest: dict) -> None:
    res = _check(guest)
    storm = res["storm"]
    assert storm is not None, res["storm_err"]
    assert storm["threads"] >= 4 and storm["total"] >= MIN_STORM_CALLS
    assert storm["succeeded"] == 0, storm
    for kind, errs in storm["kinds"].items():
        assert errs and "OK" not in errs, kind
    assert res["after_storm_equal"], "programs, entries or model versions changed"
    assert res["run_after_storm"]["abort"] is None
    summary = {k: v for k, v in storm["kinds"].items()}
    print(f"\nioctl storm: {storm['total']} calls from {storm['threads']} threads in "
          f"{res['storm_s']} s, all refused:\n" +
          "\n".join(f"  {k}: {v}" for k, v in summary.items()))


def test_models_swapped_and_entries_modified_under_load(guest: dict) -> None:
    res = _check(guest)
    v = res["swap_versions"]
    assert len(v) == 10 and v == sorted(v) and len(set(v)) == 10
    dump = res["dump_after_swaps"]
    assert any(e["match"] == ["1", "0..1023"] and e["args"] == [9 % 3, 9] for e in dump)
    assert res["stats_after_swaps"]["runs"] >= 3 + 1 + 10


def test_every_vm_case_passes_on_the_kernel_module(guest: dict) -> None:
    """tests/vmcases/ through /dev/rmt: the module computes what every other engine does."""
    _check(guest)
    path = guest["share"] / "cases.json"
    assert path.exists(), "the guest did not run the case files"
    results = json.loads(path.read_text())
    assert len(results) == len(list((ROOT / "tests" / "vmcases").glob("*.case")))
    failed = {k: v for k, v in results.items() if v.startswith("FAIL")}
    assert not failed, "\n".join(f"{k}: {v}" for k, v in failed.items())
    assert all(v == "ok" for v in results.values()), \
        {k: v for k, v in results.items() if v != "ok"}
