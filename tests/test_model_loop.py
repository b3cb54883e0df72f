"""The loop that keeps a model fresh (`rmtctl model refresh|loop`) on the sim target: it
promotes a candidate that is more accurate than the live weights on the same labelled runs,
drops one that is less accurate, rolls a promote back when the guards trip after it, and
refuses bad options with one line.  Runs are counted, never timed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import rmt
from rmt.contract.weights import blob_for
from rmt.ctl.cli import main

# The label is the kernel's verdict; the live model's output 0 is traced beside it (`y_0`).
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "small" / "labelled.rmt"
# the kernel moves a cold task (A) and keeps a hot one (B)
CTX_A = '{"pid": 1, "src_nr_running": 3, "task_hot": 0, "kernel_verdict": 1}'
CTX_B = '{"pid": 2, "src_nr_running": 3, "task_hot": 1, "kernel_verdict": 0}'
WEIGHTS = {"live": [1, 0],        # ALLOW both: right on A, wrong on B (50%)
           "good": [1, -1],       # ALLOW A, DENY B: right on both (100%)
           "bad": [-1, 1]}        # DENY A, ALLOW B: wrong on both (0%)


@pytest.fixture
def ctl(tmp_path, capsys):
    prog = rmt.compile_file(EXAMPLE)
    obj = tmp_path / "labelled.rmtb"
    obj.write_bytes(rmt.write_object(prog))
    for k, w in WEIGHTS.items():
        (tmp_path / f"{k}.bin").write_bytes(blob_for(prog.models[0], layers=[([w], [0])]))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state", str(tmp_path / "state"), *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    run.dir = tmp_path
    assert run("insert", str(obj), "--force")[0] == 0
    assert run("model", "load", "1", "score", str(tmp_path / "live.bin"))[0] == 0
    return run


def _refresh(ctl, trainer: str, *extra: str) -> dict:
    code, out, err = ctl("-j", "model", "refresh", "1", "score", "--traces",
                         str(ctl.dir / "train.jsonl"), "--train", trainer, "--label", "label",
                         "--score", "y_0", "--min-runs", "10", *extra)
    assert code == 0, err
    return json.loads(out)


def _runs(ctl, a: int, b: int) -> None:
    for ctx, n in ((CTX_A, a), (CTX_B, b)):
        if n:
            assert ctl("prog", "run", "1", "--ctx", ctx, "--repeat", str(n))[0] == 0


def _version(ctl) -> int:
    return json.loads(ctl("-j", "model", "show", "1")[1])[0]["version"]


def _cp(ctl, name: str) -> str:
    return f"cp {ctl.dir / (name + '.bin')} {{out}}"


def test_promotes_a_more_accurate_candidate_on_the_same_runs(ctl):
    _runs(ctl, 3, 1)                                     # before the stage: trains, never judges
    r = _refresh(ctl, _cp(ctl, "good"))
    assert r["action"] == "stage" and r["records"] == 4
    assert r["step"] == {"runs": 4, "live_accuracy": 0.75, "candidate_accuracy": None}
    _runs(ctl, 3, 3)
    r = _refresh(ctl, "false")
    assert r["action"] == "wait" and r["runs"] == 6
    _runs(ctl, 2, 2)
    r = _refresh(ctl, "false", "--min-accuracy", "0.9", "--margin", "0.2")
    # the candidate disagreed on the 5 B runs: its records pair with them, the rest agree
    assert (r["action"], r["version"], r["runs"]) == ("promote", 2, 10)
    assert (r["live_accuracy"], r["candidate_accuracy"], r["lost"]) == (0.5, 1.0, 0)
    assert _version(ctl) == 2


def test_refuses_a_less_accurate_candidate_and_one_below_the_threshold(ctl):
    assert _refresh(ctl, _cp(ctl, "bad"))["action"] == "stage"
    _runs(ctl, 5, 5)
    r = _refresh(ctl, "false")
    assert (r["action"], r["live_accuracy"], r["candidate_accuracy"]) == ("unstage", 0.5, 0.0)
    # more accurate than the live weights, but not by the margin asked
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    _runs(ctl, 5, 5)
    r = _refresh(ctl, "false", "--margin", "0.6")
    assert (r["action"], r["candidate_accuracy"]) == ("unstage", 1.0)
    assert _version(ctl) == 1
    hist = json.loads(ctl("-j", "model", "history", "1", "score")[1])
    assert [h["op"] for h in hist] == ["load", "stage", "unstage", "stage", "unstage"]


@pytest.mark.parametrize("max_trips,rolled_back", [(0, True), (5, False)])
def test_rolls_back_a_promote_when_the_guards_trip(ctl, max_trips, rolled_back):
    watch = ("--max-trips", str(max_trips))
    assert _refresh(ctl, _cp(ctl, "good"), *watch)["action"] == "stage"
    _runs(ctl, 5, 5)                      # live: ALLOW on B, no DENY streak, no trip
    assert _refresh(ctl, "false", *watch)["action"] == "promote"
    # the promoted weights DENY B: the 3rd DENY in a row trips the guard (the streak starts
    # again), and the 6th
    _runs(ctl, 0, 6)
    stats = json.loads(ctl("-j", "stats", "1")[1])
    assert stats["guard_trips"] == 2
    r = _refresh(ctl, _cp(ctl, "live"), *watch)
    if rolled_back:
        assert (r["action"], r["version"], r["from"], r["trips"]) == ("rollback", 1, 2, 2)
        assert _version(ctl) == 1
        log = (ctl.dir / "state" / "props" / "props.log").read_text()
        assert "2 guard trips since the promote of version 2" in log
        # the watch ends with the rollback: the next round trains and stages again
        assert _refresh(ctl, _cp(ctl, "live"), *watch)["action"] == "stage"
    else:
        assert r["action"] == "stage" and _version(ctl) == 2


def test_loop_runs_rounds(ctl):
    code, out, err = ctl("-j", "model", "loop", "1", "score", "--traces",
                         str(ctl.dir / "t.jsonl"), "--train", _cp(ctl, "good"), "--rounds", "2",
                         "--every", "0.01", "--min-runs", "1", "--min-agreement", "0")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    # round 2 judges on no runs yet: it waits
    assert [(r["round"], r["action"]) for r in rows] == [(1, "stage"), (2, "wait")]


@pytest.mark.parametrize("argv,msg", [
    (["--label", "label"], "--label FIELD and --score FIELD go together"),
    (["--label", "nope", "--score", "y_0"], "--label nope: program labelled traces no field"),
    (["--label", "label", "--score", "y_0", "--output", "1"], "--output 1: model score has "
                                                              "outputs 0..0"),
    (["--min-accuracy", "0.5"], "--min-accuracy judges by accuracy: it needs --label"),
    (["--label", "label", "--score", "y_0", "--min-agreement", "0.5"],
     "--min-agreement judges by agreement"),
    (["--label", "label", "--score", "y_0", "--min-accuracy", "1.5"],
     "--min-accuracy must be within 0..1"),
    (["--max-trips", "-1"], "--max-trips must be >= 0"),
    (["--every", "5"], "--every is an option of model loop, not of model refresh"),
    (["--rounds", "2"], "--rounds is an option of model loop"),
])
def test_bad_options_are_one_line_usage_errors(ctl, argv, msg):
    code, _, err = ctl("model", "refresh", "1", "score", "--traces", str(ctl.dir / "t.jsonl"),
                       "--train", "true", *argv)
    assert code == 2 and msg in err, err
    assert len(err.strip().splitlines()) == 1
    code, _, err = ctl("model", "load", "1", "score", str(ctl.dir / "live.bin"),
                       "--max-trips", "1")
    assert code == 2 and "--max-trips is an option of model refresh and model loop" in err
    code, _, err = ctl("model", "loop", "1", "score", "--traces", "t", "--train", "true",
                       "--rounds", "-1")
    assert code == 2 and "--rounds must be >= 0" in err


@pytest.mark.parametrize("damage", [
    b"{not json", b"\xff\xfe{}",
    b'{"seen": 1, "window": {"candidate": 2, "records": -5}}',
])
def test_a_damaged_loop_state_is_one_line_and_changes_nothing(ctl, damage):
    (ctl.dir / "train.jsonl.loop.json").write_bytes(damage)
    code, _, err = ctl("model", "refresh", "1", "score", "--traces",
                       str(ctl.dir / "train.jsonl"), "--train", _cp(ctl, "good"))
    assert code == 1 and "the loop's state is damaged" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert json.loads(ctl("-j", "model", "show", "1")[1])[0].get("candidate", 0) == 0


def test_watches_a_promote_made_by_hand_from_its_next_step(ctl):
    watch = ("--max-trips", "0")
    assert _refresh(ctl, _cp(ctl, "good"), *watch)["action"] == "stage"
    assert ctl("model", "promote", "1", "score")[0] == 0          # by hand, not judged
    _runs(ctl, 0, 3)                     # one trip before the loop sees the promote: not counted
    r = _refresh(ctl, _cp(ctl, "live"), *watch)
    assert r["action"] == "stage" and _version(ctl) == 2
    _runs(ctl, 0, 3)                     # the streak goes on: the 6th DENY in a row trips
    r = _refresh(ctl, "false", *watch)
    assert (r["action"], r["version"], r["trips"]) == ("rollback", 1, 1)
    # the staged candidate was judged against the weights rolled back: its window opens again
    r = _refresh(ctl, "false", *watch)
    assert r["action"] == "wait" and r["runs"] == 0


def test_a_failing_round_is_reported_and_the_loop_goes_on(ctl):
    code, out, err = ctl("model", "loop", "1", "score", "--traces", str(ctl.dir / "t.jsonl"),
                         "--train", "echo broken >&2; exit 4", "--rounds", "2", "--every", "0.01")
    assert code == 1 and out == ""
    assert err.splitlines() == [f"rmtctl: model loop: round {n}: the trainer failed (exit 4: "
                                f"broken); nothing was staged, 0 new records are in "
                                f"{ctl.dir / 't.jsonl'}" for n in (1, 2)]


def test_one_training_file_per_model(ctl):
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    # the model named by its index is the same model: the same state
    code, out, err = ctl("-j", "model", "refresh", "1", "0", "--traces",
                         str(ctl.dir / "train.jsonl"), "--train", "true")
    assert code == 0 and json.loads(out)["action"] == "wait", err
    state = json.loads((ctl.dir / "train.jsonl.loop.json").read_text())
    state["owner"] = "program 7 model other"
    (ctl.dir / "train.jsonl.loop.json").write_text(json.dumps(state))
    code, _, err = ctl("model", "refresh", "1", "score", "--traces",
                       str(ctl.dir / "train.jsonl"), "--train", "true")
    assert code == 1 and "the loop's state of program 7 model other, not of program 1 model " \
        "score" in err and len(err.strip().splitlines()) == 1


def test_demo_refuses_to_wipe_a_directory_it_did_not_write(tmp_path, capsys) -> None:
    from rmt.casestudies.model_loop_demo import main
    keep = tmp_path / "mine.txt"
    keep.write_text("x")
    assert main(["--out", str(tmp_path)]) == 2
    assert keep.exists()
    err = capsys.readouterr().err
    assert "not an earlier demo's output" in err and len(err.strip().splitlines()) == 1


def test_a_candidate_whose_disagreements_pair_with_no_run_is_not_promoted(ctl):
    # --score names the label, not the traced output 0: no disagreement record pairs, and
    # the bad candidate would be credited with the live predictions (100% here)
    def refresh(trainer: str) -> dict:
        code, out, err = ctl("-j", "model", "refresh", "1", "score", "--traces",
                             str(ctl.dir / "train.jsonl"), "--train", trainer, "--label",
                             "label", "--score", "label", "--min-runs", "10")
        assert code == 0, err
        return json.loads(out)
    assert refresh(_cp(ctl, "bad"))["action"] == "stage"
    _runs(ctl, 5, 5)
    r = refresh("false")
    assert (r["action"], r["unpaired"], r["candidate_accuracy"]) == ("unstage", 5, 1.0)
    assert _version(ctl) == 1


def test_a_batch_boundary_between_a_disagreement_and_its_run_pairs_them() -> None:
    from rmt.contract.engine import CANDIDATE_TRACE_FMT, TraceRecord
    from rmt.ctl.accuracy import Labels, Window, score
    dis = TraceRecord(CANDIDATE_TRACE_FMT, 0, 7, (("model", "score"), ("live", [5]),
                                                  ("candidate", [-3])))
    run = TraceRecord(0, 0, 7, (("label", 0), ("y_0", 5)))
    w, pending = Window(2), {}
    for batch in ([dis], [run]):          # one drain, two batches of the sink
        score(batch, lambda r: {"fields": dict(r.values)}, "score", Labels("label", "y_0"),
              w, pending)
    assert (w.runs, w.paired, w.unpaired, w.live_ok, w.cand_ok) == (1, 1, 0, 0, 1)


def test_runs_made_while_a_step_drains_are_judged_in_a_later_step(ctl, monkeypatch):
    # on a live target runs go on between a drain and the counts read beside it: their
    # records stay in the target for the next step, and are neither lost nor judged twice
    from rmt.ctl.sim import SimTarget
    trace = SimTarget.trace

    def busy_trace(self, prog_id, drain=True, sink=None):
        recs = trace(self, prog_id, drain, sink)
        _runs(ctl, 0, 2)                  # B: the good candidate disagrees on each
        return recs
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    _runs(ctl, 5, 5)
    monkeypatch.setattr(SimTarget, "trace", busy_trace)
    r = _refresh(ctl, "false")
    assert r["action"] == "promote" and r["lost"] == 0 and r["unpaired"] == 0, r
    # the 2 runs of B made after the judging drain are not in its window; they wait
    assert (r["runs"], r["candidate_accuracy"], r["live_accuracy"]) == (10, 1.0, 0.5), r
    monkeypatch.setattr(SimTarget, "trace", trace)
    left = [json.loads(line) for line in ctl("trace", "1", "--keep")[1].splitlines()]
    assert [rec["fmt"] for rec in left] == ["candidate", "scored@28"] * 2, left


def test_records_the_ring_dropped_in_the_window_refuse_a_promote(ctl):
    # one `prog run` of many runs overfills its engine's ring (4096 records; each run of B traces
    # its disagreement and its own record): the window's accuracies are not known
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    _runs(ctl, 5, 2100)
    r = _refresh(ctl, "false")
    assert r["action"] == "unstage" and r["lost"] == 2 * 2100 - 4096, r


def test_a_window_of_an_earlier_program_under_the_same_id_is_opened_again(ctl):
    # a program loaded again under the same id starts its counters at zero: a window whose
    # drop count is above the program's own is another instance's, and never judges
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    _runs(ctl, 5, 5)
    f = ctl.dir / "train.jsonl.loop.json"
    state = json.loads(f.read_text())
    state["window"]["drops_base"] = 7          # the earlier instance had dropped 7 records
    f.write_text(json.dumps(state))
    r = _refresh(ctl, "false")
    assert (r["action"], r["runs"] if "runs" in r else 0) == ("wait", 0), r
    assert json.loads(f.read_text())["window"]["drops_base"] == 0
    _runs(ctl, 5, 5)
    assert _refresh(ctl, "false")["action"] == "promote"


def test_a_live_change_made_by_hand_reopens_the_window(ctl):
    assert _refresh(ctl, _cp(ctl, "good"))["action"] == "stage"
    _runs(ctl, 5, 5)                      # judged against the live weights 1
    assert ctl("model", "load", "1", "score", str(ctl.dir / "bad.bin"))[0] == 0
    _runs(ctl, 5, 5)                      # ... and against the weights loaded by hand
    # without --max-trips too: the window mixing two live models is dropped, opened again
    r = _refresh(ctl, "false")
    assert (r["action"], r["runs"]) == ("wait", 0)
    _runs(ctl, 5, 5)
    r = _refresh(ctl, "false")
    assert (r["action"], r["runs"], r["live_accuracy"]) == ("promote", 10, 0.0)


@pytest.mark.parametrize("argv,msg", [
    (["--min-runs", "100"], "--min-runs is an option of model refresh and model loop"),
    (["--output", "0"], "--output is an option of model refresh and model loop"),
    (["--every", "60"], "--every is an option of model loop"),
    (["--rounds", "0"], "--rounds is an option of model loop"),
])
def test_a_loop_option_given_its_default_value_elsewhere_is_refused(ctl, argv, msg):
    code, _, err = ctl("model", "load", "1", "score", str(ctl.dir / "live.bin"), *argv)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err


def test_label_and_score_in_different_traces_is_one_line(ctl):
    # each field is traced, but never in one record: no run could ever be labelled
    src = EXAMPLE.read_text().replace("trace(label = ctx.kernel_verdict, y[0]);",
                                      "trace(label = ctx.kernel_verdict);\n    trace(y[0]);")
    assert "trace(y[0]);" in src
    obj = ctl.dir / "split.rmtb"
    obj.write_bytes(rmt.write_object(rmt.compile(src, "split.rmt")))
    assert ctl("insert", str(obj), "--force")[0] == 0
    code, _, err = ctl("model", "refresh", "2", "score", "--traces", str(ctl.dir / "t.jsonl"),
                       "--train", "true", "--label", "label", "--score", "y_0")
    assert code == 2 and "no trace of program" in err and "holds both fields" in err, err
    assert len(err.strip().splitlines()) == 1
