"""Candidate models on the sim target: `rmtctl model stage | promote | rollback | unstage |
history`, persisted in the SQLite state across commands, with one clear line for every bad
request and nothing lost; the cost rule that refuses a candidate the program cannot afford;
the schema migration of a version-1 state."""
from __future__ import annotations

import json
import shlex
import sqlite3
import sys
from pathlib import Path

import pytest

import rmt
from rmt.contract import objfile
from rmt.contract.weights import blob_for
from rmt.ctl.candidates import StageRefused, check_stage_cost, staged_worst_case
from rmt.ctl.cli import main
from rmt.verifier.costcheck import worst_case

ROOT = Path(__file__).resolve().parent.parent
CTX_SPLIT = '{"src_nr_running": 3, "dst_nr_running": 2, "task_hot": 1}'   # live ALLOW, cand DENY
CTX_SAME = '{"src_nr_running": 3, "dst_nr_running": 2, "task_hot": 0}'    # both ALLOW


@pytest.fixture(params=["c", "ref"])
def ctl(request, tmp_path, capsys):
    prog = rmt.compile_file(ROOT / "examples/small/linear.rmt")
    obj = tmp_path / "linear.rmtb"
    obj.write_bytes(rmt.write_object(prog))
    m = prog.models[0]
    files = {"live": blob_for(m, layers=[([[1, -1, 0, 0]], [0])]),
             "cand": blob_for(m, layers=[([[1, -1, -1, 0]], [2])]),
             "wrong": (ROOT / "examples/small/linear.rmt").read_bytes()}
    for k, v in files.items():
        (tmp_path / f"{k}.bin").write_bytes(v)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state", str(tmp_path / "state"), "--engine", request.param, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    run.dir = tmp_path
    assert run("insert", str(obj), "--force")[0] == 0
    return run


def _show(ctl) -> dict:
    code, out, _ = ctl("-j", "model", "show", "1")
    assert code == 0
    return json.loads(out)[0]


def _bin(ctl, name: str) -> str:
    return str(ctl.dir / f"{name}.bin")


def test_stage_evaluates_beside_live_and_promote_rollback(ctl):
    assert ctl("model", "load", "1", "score", _bin(ctl, "live"))[0] == 0
    code, out, _ = ctl("-j", "model", "stage", "1", "score", _bin(ctl, "cand"))
    assert code == 0 and json.loads(out) == {"model": "score", "candidate": 2}
    # the live weights decide; agreement accumulates across commands
    for ctx, n in ((CTX_SPLIT, 3), (CTX_SAME, 2)):
        code, out, _ = ctl("-j", "prog", "run", "1", "--ctx", ctx, "--repeat", str(n))
        assert code == 0 and json.loads(out)["decision_name"] == "ALLOW"
    s = _show(ctl)
    assert (s["version"], s["candidate"], s["agree"], s["disagree"]) == (1, 2, 2, 3)
    # the disagreements are in the trace, both outputs
    code, out, _ = ctl("trace", "1")
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["fmt"] for r in recs] == ["candidate"] * 3
    assert recs[0]["fields"] == {"model": "score", "live": [1], "candidate": [1 - 1024 + 2]}
    code, out, _ = ctl("-j", "model", "promote", "1", "score")
    assert code == 0 and json.loads(out) == {"model": "score", "version": 2, "agree": 2,
                                             "disagree": 3}
    code, out, _ = ctl("-j", "prog", "run", "1", "--ctx", CTX_SPLIT)
    assert json.loads(out)["decision_name"] == "DENY"            # the promoted weights
    s = _show(ctl)
    assert (s["version"], s["candidate"], s["previous"]) == (2, 0, 1)
    assert ctl("model", "rollback", "1", "score")[0] == 0
    code, out, _ = ctl("-j", "prog", "run", "1", "--ctx", CTX_SPLIT)
    assert json.loads(out)["decision_name"] == "ALLOW"
    code, out, _ = ctl("-j", "model", "history", "1", "score")
    hist = json.loads(out)
    assert [(h["op"], h["version"]) for h in hist] == [
        ("load", 1), ("stage", 2), ("promote", 2), ("rollback", 1)]
    assert (hist[2]["agree"], hist[2]["disagree"]) == (2, 3)
    # a new load after the rollback gets a new version, never 2 again
    code, out, _ = ctl("-j", "model", "load", "1", "score", _bin(ctl, "cand"))
    assert json.loads(out)["version"] == 3


def test_unstage_drops_the_candidate_only(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    ctl("model", "stage", "1", "score", _bin(ctl, "cand"))
    code, out, _ = ctl("model", "unstage", "1", "score")
    assert code == 0 and "candidate version 2 dropped" in out
    s = _show(ctl)
    assert (s["version"], s["candidate"]) == (1, 0)
    ctl("prog", "run", "1", "--ctx", CTX_SPLIT)
    assert ctl("trace", "1")[1] == ""                              # nothing evaluated


@pytest.mark.parametrize("argv, code, why", [
    (("model", "promote", "1", "score"), 1, "no candidate is staged"),
    (("model", "rollback", "1", "score"), 1, "no previous weights to roll back to"),
    (("model", "unstage", "1", "score"), 1, "no candidate is staged"),
    (("model", "stage", "1", "nosuch", "{live}"), 2, "no model 'nosuch'"),
    (("model", "stage", "1", "score", "{wrong}"), 1, "EINVAL: weights header"),
    (("model", "stage", "1", "score", "{missing}"), 2, "cannot read weights"),
    (("model", "stage", "1", "score"), 2, "model stage needs PROG MODEL FILE"),
    (("model", "promote", "1", "score", "{live}"), 2, "model promote needs PROG MODEL"),
    (("model", "stage", "9", "score", "{live}"), 1, "no program with id 9"),
])
def test_bad_requests_one_line_nothing_lost(ctl, argv, code, why):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    before = _show(ctl)
    hist = ctl("-j", "model", "history", "1", "score")[1]
    argv = [a.format(live=_bin(ctl, "live"), wrong=_bin(ctl, "wrong"),
                     missing=str(ctl.dir / "missing.bin")) for a in argv]
    got, out, err = ctl(*argv)
    assert got == code and why in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _show(ctl) == before
    assert ctl("-j", "model", "history", "1", "score")[1] == hist


def test_refused_stage_keeps_the_staged_candidate(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    ctl("model", "stage", "1", "score", _bin(ctl, "cand"))
    ctl("prog", "run", "1", "--ctx", CTX_SPLIT)
    before = _show(ctl)
    assert ctl("model", "stage", "1", "score", _bin(ctl, "wrong"))[0] == 1
    assert _show(ctl) == before and before["disagree"] == 1


BIG = """
hook sched.can_migrate_task;
model big: mlp(in = 32, out = 2, weight = i8, input = -64..64) { dense(72, relu); dense(2); }
apply {
    let x: i32[32];
    for i in 0..32 { x[i] = 0; }
    x[0] = min(ctx.src_nr_running, 64) as i32;
    if big(x)[0] > 0 { decide(ALLOW); } else { decide(DENY); }
}
"""


def test_stage_refused_when_twice_the_model_exceeds_the_budget(tmp_path, capsys):
    prog = rmt.compile(BIG)
    single = worst_case(prog, set())[0]
    double = staged_worst_case(prog, 0)
    assert single <= prog.hook.budget < double            # the case this test is about
    with pytest.raises(StageRefused, match="over the hook's budget"):
        check_stage_cost(prog, 0)
    assert check_stage_cost(prog, 0, budget=double) == double
    obj = tmp_path / "big.rmtb"
    obj.write_bytes(rmt.write_object(prog))
    w = tmp_path / "w.bin"
    m = prog.models[0]
    w.write_bytes(blob_for(m, layers=[([[0] * 32] * 72, [0] * 72), ([[0] * 72] * 2, [0] * 2)]))
    state = ["--state", str(tmp_path / "s")]
    assert main([*state, "insert", str(obj)]) == 0
    assert main([*state, "model", "load", "1", "big", str(w)]) == 0     # one inference: fine
    capsys.readouterr()
    assert main([*state, "model", "stage", "1", "big", str(w)]) == 1
    err = capsys.readouterr().err
    assert f"worst case becomes {double}" in err and "nothing was staged" in err
    main([*state, "-j", "model", "show", "1"])
    assert json.loads(capsys.readouterr().out)[0].get("candidate", 0) == 0


def test_version_1_state_is_migrated_in_place(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    db = sqlite3.connect(ctl.dir / "state" / "state.db")
    for t in ("candidates", "prev_models", "model_history"):
        db.execute(f"DROP TABLE {t}")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    assert _show(ctl)["version"] == 1                    # read as before
    assert ctl("model", "stage", "1", "score", _bin(ctl, "cand"))[0] == 0
    s = _show(ctl)
    assert (s["version"], s["candidate"]) == (1, 2)
    db = sqlite3.connect(ctl.dir / "state" / "state.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_remove_drops_candidates_and_history(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    ctl("model", "stage", "1", "score", _bin(ctl, "cand"))
    assert ctl("remove", "1")[0] == 0
    db = sqlite3.connect(ctl.dir / "state" / "state.db")
    for t in ("candidates", "prev_models", "model_history"):
        assert db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0, t


def _trainer(ctl, weights: str) -> str:
    """A trainer command: counts the training records (so the test sees it read them) and
    writes the given weights."""
    return (f"{shlex.quote(sys.executable)} -c 'import shutil, sys; n = len(open(sys.argv[1]).read().splitlines()); "
            f"open(sys.argv[1] + \".seen\", \"w\").write(str(n)); "
            f"shutil.copy(sys.argv[3], sys.argv[2])' {{traces}} {{out}} {_bin(ctl, weights)}")


def test_refresh_stages_waits_promotes_or_drops(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    traces = ctl.dir / "train.jsonl"
    opts = ["--traces", str(traces), "--min-runs", "5", "--min-agreement", "0.8"]
    # 1. no candidate: drain, train, stage
    code, out, err = ctl("-j", "model", "refresh", "1", "score", "--train",
                         _trainer(ctl, "cand"), *opts)
    assert code == 0, err
    assert json.loads(out) == {"model": "score", "action": "stage", "candidate": 2,
                               "records": 0}
    # 2. evaluated on too few runs: wait
    ctl("prog", "run", "1", "--ctx", CTX_SAME, "--repeat", "3")
    code, out, _ = ctl("-j", "model", "refresh", "1", "score", "--train", "false", *opts)
    assert json.loads(out)["action"] == "wait"
    # 3. enough runs, agreement 4/5 >= 0.8: promote
    ctl("prog", "run", "1", "--ctx", CTX_SAME, "--repeat", "1")
    ctl("prog", "run", "1", "--ctx", CTX_SPLIT, "--repeat", "1")
    code, out, _ = ctl("-j", "model", "refresh", "1", "score", "--train", "false", *opts)
    assert json.loads(out) == {"model": "score", "action": "promote", "version": 2,
                               "candidate": 2, "agree": 4, "disagree": 1, "records": 0}
    # 4. the next round drains the ring (the program traces nothing itself; the
    # candidate's disagreement record is not training data), trains, stages; a candidate
    # that disagrees too often is dropped
    code, out, _ = ctl("-j", "model", "refresh", "1", "score", "--train",
                       _trainer(ctl, "live"), *opts)
    assert json.loads(out) == {"model": "score", "action": "stage", "candidate": 3,
                               "records": 0}
    assert ctl("trace", "1")[1] == ""                       # drained
    assert (ctl.dir / "train.jsonl.seen").read_text() == "0"
    assert ctl("prog", "run", "1", "--ctx", CTX_SPLIT, "--repeat", "5")[0] == 0
    code, out, _ = ctl("-j", "model", "refresh", "1", "score", "--train", "false", *opts)
    assert json.loads(out)["action"] == "unstage"
    s = _show(ctl)
    assert (s["version"], s["candidate"], s["previous"]) == (2, 0, 1)
    hist = json.loads(ctl("-j", "model", "history", "1", "score")[1])
    assert [h["op"] for h in hist] == ["load", "stage", "promote", "stage", "unstage"]


def test_refresh_trainer_failure_stages_nothing_keeps_records(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    traces = ctl.dir / "train.jsonl"
    before = _show(ctl)
    code, _, err = ctl("model", "refresh", "1", "score", "--train",
                       "echo 'no data yet' >&2; exit 3", "--traces", str(traces))
    assert code == 1 and "trainer failed (exit 3: no data yet)" in err and "nothing was staged" in err
    assert len(err.strip().splitlines()) == 1
    assert _show(ctl) == before
    code, _, err = ctl("model", "refresh", "1", "score", "--traces", str(traces))
    assert code == 2 and "--train" in err


def test_refresh_trainer_is_a_shell_command_with_two_names_and_no_stale_weights(ctl):
    """Only {traces} and {out} are substituted (the shell's own braces pass through); a
    trainer that writes nothing stages nothing, even after a round that did."""
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    traces = ctl.dir / "train.jsonl"
    code, out, err = ctl("-j", "model", "refresh", "1", "score", "--traces", str(traces),
                         "--train", "awk '{print}' /dev/null; " + _trainer(ctl, "cand"))
    assert code == 0 and json.loads(out)["action"] == "stage", err
    assert ctl("model", "unstage", "1", "score")[0] == 0
    before = _show(ctl)
    code, _, err = ctl("model", "refresh", "1", "score", "--traces", str(traces),
                       "--train", "true")
    assert code == 1 and "wrote no weights" in err and "Traceback" not in err
    assert _show(ctl) == before


def test_refresh_is_refused_inside_a_batch(ctl):
    f = ctl.dir / "b.txt"
    f.write_text(f"model load 1 score {_bin(ctl, 'live')}\n"
                 f"model refresh 1 score --train true --traces {ctl.dir / 't.jsonl'}\n")
    code, _, err = ctl("batch", str(f))
    assert code == 2 and "b.txt:2: model refresh cannot run inside a batch" in err
    assert not _show(ctl).get("version")                   # the load was not applied either


def test_staging_over_a_candidate_says_which_it_replaces(ctl):
    ctl("model", "load", "1", "score", _bin(ctl, "live"))
    assert ctl("model", "stage", "1", "score", _bin(ctl, "cand"))[0] == 0
    code, out, _ = ctl("-j", "model", "stage", "1", "score", _bin(ctl, "live"))
    assert code == 0 and json.loads(out) == {"model": "score", "candidate": 3, "replaced": 2}
    code, out, _ = ctl("model", "stage", "1", "score", _bin(ctl, "cand"))
    assert "(it replaces candidate version 3)" in out


def test_model_show_of_a_program_without_models_says_so(tmp_path, capsys):
    from rmt.compiler import compile_source
    (tmp_path / "g.rmtb").write_bytes(objfile.write(compile_source(
        (ROOT / "examples" / "small" / "guard.rmt").read_text(), "guard.rmt")))
    st = str(tmp_path / "state")
    assert main(["--state", st, "insert", str(tmp_path / "g.rmtb")]) == 0
    capsys.readouterr()
    assert main(["--state", st, "model", "show", "1"]) == 0
    assert capsys.readouterr().out.strip() == "(program 1 has no models)"
