"""Candidate models in rmt.ko under QEMU: stage, promote and roll back while
sched.can_migrate_task fires (tests/kernel/candidates_helpers/guest_candidates.py does the
guest side; docs/kernel-hooks.md, "Candidate models", describes the ABI).

The program's live weights always say DENY and the candidate always says ALLOW, so every
candidate evaluation is a disagreement and the VM's decision counters show which weights
decided.  Each phase runs its load until a count is reached, so the assertions hold on any
schedule; the bounds allow the runs in flight when a swap happens (at most one per vCPU).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import rmt
from rmt.contract import weights as W
from rmt.qemu import harness
import kmod_inputs

HELPER = Path(__file__).parent / "candidates_helpers" / "guest_candidates.py"
N = 150             # guest_candidates.N
IN_FLIGHT = 4       # runs that may have read the old weights pointer when a swap returns
ALLOW, DENY = "1", "0"

SRC = """
hook sched.can_migrate_task;
mode shadow;
model m: linear(in = 1, out = 1, weight = i8, input = 0..64);
apply {
    let x: i32[1];
    x[0] = min(ctx.src_nr_running, 64) as i32;
    if m(x)[0] > 0 { decide(ALLOW); } else { decide(DENY); }
}
"""


def _inputs(files: Path) -> None:
    prog = rmt.compile(SRC, "cand.rmt")
    (files / "cand.rmtb").write_bytes(rmt.write_object(prog))
    m = prog.models[0]
    (files / "deny.bin").write_bytes(W.blob_for(m, layers=[([[0]], [-1])]))
    (files / "allow.bin").write_bytes(W.blob_for(m, layers=[([[0]], [1])]))
    tree = rmt.compile("hook sched.can_migrate_task;\nmodel t: tree(in = 1, out = 1, depth = 1, "
                       "input = 0..64);\napply { let x: i32[1]; x[0] = 0; "
                       "if t(x)[0] > 0 { decide(ALLOW); } }", "t.rmt").models[0]
    (files / "tree.bin").write_bytes(W.blob_for(
        tree, trees=[W.Tree([W.Node(0, 1, 1, 2), W.Node(-1, leaf=0), W.Node(-1, leaf=1)],
                            [[1], [-1]])]))


@pytest.fixture(scope="module")
def guest(qemu_env: harness.HarnessEnv, rmt_ko: Path,
          tmp_path_factory: pytest.TempPathFactory) -> dict:
    share = tmp_path_factory.mktemp("cand") / "share"
    files = share / "files"
    files.mkdir(parents=True)
    _inputs(files)
    return kmod_inputs.run_helper(qemu_env, rmt_ko, HELPER, files, "candidates.json", timeout=900)


@pytest.fixture(scope="module")
def g(guest: dict) -> dict:
    return kmod_inputs.helper_output(guest)


def test_guest_run_clean(guest: dict) -> None:
    guest["_r"].check()      # exit 0 (insmod, phases, rmmod), no BUG/WARNING/RCU stall


def test_staged_candidate_is_evaluated_never_acted_on(g: dict) -> None:
    print(f"\nload phases (s): {g['load_s']}; staged: {g['staged']['state']}")
    assert g["before_stage"]["decisions"].get(ALLOW, 0) == 0
    assert json.loads(g["stage"]["out"]) == {"model": "m", "candidate": 2}, g["stage"]
    st = g["staged"]
    # every evaluation disagreed; none was acted on
    assert st["state"]["disagree"] >= N and st["state"]["agree"] == 0
    assert st["decisions"].get(ALLOW, 0) == 0
    # both outputs traced, one record per disagreement (none dropped: the ring is big)
    assert g["trace_drops"] == 0
    t = g["trace"]
    assert st["state"]["disagree"] <= t["candidate"] <= g["after_drain"]["disagree"]
    assert t["values"] == [[0, 1, (1 << 64) - 1, 1]]          # model 0, k=1, live -1, cand +1
    show = json.loads(g["show_staged"]["out"])[0]
    assert show["version"] == 1 and show["candidate"] == 2 and show["disagree"] >= N


def test_promote_under_load_switches_decisions_atomically(g: dict) -> None:
    assert g["promote"]["rc"] == 0, g["promote"]
    p = json.loads(g["promote"]["out"])
    assert p["version"] == 2 and p["disagree"] >= N and p["agree"] == 0
    at, after = g["at_promote"], g["promoted"]["decisions"]
    # from the swap on the candidate decides: DENY stops (but for runs in flight)
    assert after.get(ALLOW, 0) >= at.get(ALLOW, 0) + N
    assert 0 <= after.get(DENY, 0) - at.get(DENY, 0) <= IN_FLIGHT
    s = g["promoted"]["state"]
    assert (s["version"], s["cand"], s["prev"]) == (2, 0, 1)


def test_rollback_under_load_restores_the_previous_weights(g: dict) -> None:
    assert g["rollback"]["rc"] == 0 and json.loads(g["rollback"]["out"])["version"] == 1
    at, after = g["at_rollback"], g["rolled_back"]["decisions"]
    assert after.get(DENY, 0) >= at.get(DENY, 0) + N
    assert 0 <= after.get(ALLOW, 0) - at.get(ALLOW, 0) <= IN_FLIGHT
    s = g["rolled_back"]["state"]
    assert (s["version"], s["cand"], s["prev"]) == (1, 0, 0)
    assert [h[:2] for h in s["history"]] == [["load", 1], ["stage", 2], ["promote", 2],
                                             ["rollback", 1]]


def test_bad_requests_one_line_nothing_changes(g: dict) -> None:
    b = g["bad"]
    for key, rc, why in (("promote_none", 1, "no candidate is staged"),
                         ("rollback_none", 1, "no previous weights"),
                         ("wrong_sig", 1, "EINVAL"),
                         ("unknown_model", 2, "no model 'nosuch'")):
        assert b[key]["rc"] == rc and why in b[key]["err"], (key, b[key])
        assert len(b[key]["err"].strip().splitlines()) == 1 and "Traceback" not in b[key]["err"]
    assert g["bad_state_same"]


def test_swaps_while_firing_add_up(g: dict) -> None:
    s = g["cycled"]["state"]
    assert g["cycles"] == 25
    # each cycle: stage, promote, rollback; versions never reused
    # versions 1, 2 before; the cycles staged 3..27; the last stage is 28
    assert s["version"] == 1 and s["prev"] == 0 and s["cand"] == 3 + g["cycles"]
    hist = json.loads(g["history"]["out"])
    assert [h["op"] for h in hist][-4:] == ["stage", "promote", "rollback", "stage"]
    assert len(hist) == 16                                   # the module keeps the latest 16
