"""The loop that keeps a model fresh (`rmtctl model refresh | loop`), on rmt.ko under QEMU, in
shadow mode: one boot (tests/kernel/candidates_helpers/guest_loop.py does the guest side).

The live weights always ALLOW and the trainer's always DENY, so on every labelled run exactly
one of the two is right: the two accuracies the loop measures on the kernel's own runs add up
to 1 when it pairs every disagreement record with its run (per-CPU records, concurrent runs).
The candidate is promoted (--margin -1) and, deciding DENY, trips the program's guard; the
next round of `model loop` must roll it back.  Counts, never timings.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import rmt
from rmt.contract import weights as W
from rmt.qemu import harness
import kmod_inputs

ROOT = Path(__file__).resolve().parents[2]
HELPER = Path(__file__).parent / "candidates_helpers" / "guest_loop.py"
N = 150             # guest_loop.N


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    share = tmp_path_factory.mktemp("loop") / "share"
    files = share / "files"
    files.mkdir(parents=True)
    src = (ROOT / "examples" / "small" / "labelled.rmt").read_text()
    src = src.replace("hook sched.can_migrate_task;", "hook sched.can_migrate_task;\nmode shadow;")
    prog = rmt.compile(src, "labelled.rmt")
    (files / "loop.rmtb").write_bytes(rmt.write_object(prog))
    m = prog.models[0]
    (files / "allow.bin").write_bytes(W.blob_for(m, layers=[([[0, 0]], [1])]))
    (files / "deny.bin").write_bytes(W.blob_for(m, layers=[([[0, 0]], [-1])]))
    return kmod_inputs.run_helper(qemu_env, rmt_ko, HELPER, files, "loop.json", timeout=900)


@pytest.fixture(scope="module")
def g(guest: dict) -> dict:
    return kmod_inputs.helper_output(guest)


def test_guest_run_clean(guest: dict) -> None:
    guest["_r"].check()      # exit 0 (insmod, rounds, rmmod), no BUG/WARNING/RCU stall


def test_accuracy_measured_on_the_kernels_runs_pairs_every_disagreement(g: dict) -> None:
    print(f"\nload phases (s): {g['load_s']}; judged: {g['judge']['out'].strip()}")
    assert g["stage"]["rc"] == 0, g["stage"]
    assert json.loads(g["stage"]["out"])["action"] == "stage"
    assert g["judge"]["rc"] == 0, g["judge"]
    j = json.loads(g["judge"]["out"])
    assert j["action"] == "promote" and j["lost"] == 0 and j["runs"] >= N
    # ALLOW is right exactly where DENY is wrong: the sum is 1 but for runs whose two
    # records a drain split (at most one per CPU at each end of the window)
    assert abs(j["live_accuracy"] + j["candidate_accuracy"] - 1) <= 16 / j["runs"] + 1e-5, j
    assert g["after_judge"]["version"] == j["version"]


def test_loop_rolls_back_when_the_guard_trips_after_a_promote(g: dict) -> None:
    assert g["stats_after"]["guard_trips"] > g["stats_before"]["guard_trips"]
    assert g["loop"]["rc"] == 0, g["loop"]
    r = json.loads(g["loop"]["out"])
    assert r["round"] == 1 and r["action"] == "rollback" and r["trips"] > 0, r
    f = g["final"]
    assert f["version"] == r["version"] == 1 and f["prev"] == 0
    assert [op for op, _ in f["history"]] == ["load", "stage", "promote", "rollback"]
    assert "guard trips since the promote of version" in g["props_log"]
