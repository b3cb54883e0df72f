"""`rmtctl model load` proves the program's properties before the weights reach the target.

On the sim target (the check runs in rmtctl on the host, before the engine or the
/dev/rmt ioctl sees the weights, so the kernel target takes the same path): weights that
violate a property are refused with the counterexample at the property's line, and the
weights already loaded keep running; the counterexample replayed with `rmtctl prog run
--ctx` shows the violation; `--no-prove` loads anyway and is logged.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rmt.contract import weights as W
from rmt.contract import objfile
from rmt.ctl.cli import main

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).parent / "props"

GOOD = [([[1, 0], [0, 0]], [0, 0], 0), ([[1, 0]], [-600], 0)]
LOW_BIAS = [([[1, 0], [0, 0]], [0, 0], 0), ([[1, 0]], [-1000], 0)]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """score.rmt without its always-violated property, compiled with `rmtc compile` (which
    writes score.rmtp beside score.rmtb), inserted into a fresh sim state."""
    src = (HERE / "score.rmt").read_text().split("// violated by any weights")[0]
    (tmp_path / "score.rmt").write_text(src)
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(tmp_path / "score.rmt")],
                   check=True, capture_output=True)
    assert (tmp_path / "score.rmtp").exists()
    prog = objfile.read((tmp_path / "score.rmtb").read_bytes())
    for name, layers in (("good", GOOD), ("bad", LOW_BIAS)):
        (tmp_path / f"{name}.bin").write_bytes(W.blob_for(prog.models[0], layers=layers))
    monkeypatch.delenv("RMT_PROPS_DIR", raising=False)
    state = str(tmp_path / "state")
    assert main(["--state", state, "insert", str(tmp_path / "score.rmtb")]) == 0
    return tmp_path, state


def _ctl(capsys, state: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--state", state, *argv])
    c = capsys.readouterr()
    return rc, c.out, c.err


def test_refused_with_counterexample_old_weights_keep_running(setup, capsys):
    d, state = setup
    rc, out, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"))
    assert rc == 0, err
    assert re.search(r"score.rmt:\d+:1: property busy_src: proved \(\d+\.\d\d s\)", err)
    rc, out, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "bad.bin"))
    assert rc == 1
    line = (d / "score.rmt").read_text().splitlines().index(
        next(x for x in (d / "score.rmt").read_text().splitlines()
             if x.startswith("property busy_src"))) + 1
    assert f"score.rmt:{line}:1: property busy_src: VIOLATED" in err
    assert "weights refused" in err and "keeps its current weights" in err
    cx = json.loads(re.search(r"counterexample ctx: (\{.*\})", err).group(1))
    assert cx["idle"] == 0 and cx["src_nr_running"] == 3
    # the old weights keep running: version 1, and the counterexample's context is allowed
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", "1")
    assert json.loads(out)[0]["version"] == 1
    ctx = json.dumps(cx)
    rc, out, _ = _ctl(capsys, state, "prog", "run", "1", "--ctx", ctx)
    assert rc == 0 and out.strip() == "decision ALLOW"
    # loaded anyway (explicitly, logged), the bad weights show the violation on replay
    rc, out, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "bad.bin"),
                        "--no-prove")
    assert rc == 0 and "NOT proved" in err
    log = (Path(state) / "props" / "props.log").read_text()
    assert "--no-prove" in log and "bad.bin" in log
    rc, out, _ = _ctl(capsys, state, "prog", "run", "1", "--ctx", ctx)
    assert rc == 0 and out.strip() == "decision DENY"


def test_props_file_bound_to_its_object(setup, capsys):
    """A stale .rmtp (compiled with another object) is refused at insert, nothing inserted."""
    d, state = setup
    other = d / "other.rmtb"
    other.write_bytes((d / "score.rmtb").read_bytes())
    props = json.loads((d / "score.rmtp").read_text())
    props["object_sha256"] = "0" * 64
    (d / "other.rmtp").write_text(json.dumps(props))
    rc, _, err = _ctl(capsys, state, "insert", str(other))
    assert rc == 1 and "compiled with another object" in err and "not inserted" in err
    rc, out, _ = _ctl(capsys, state, "-j", "list")
    assert len(json.loads(out)) == 1
    (d / "other.rmtp").write_text("{not json")
    rc, _, err = _ctl(capsys, state, "insert", str(other))
    assert rc == 1 and "not a properties file" in err and "Traceback" not in err


def test_timeout_refuses(setup, capsys):
    d, state = setup
    rc, _, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"),
                      "--timeout", "0.001")
    if "TIMED OUT" not in err:
        pytest.skip("every proof finished within 1 ms on this machine")
    assert rc == 1 and "not proved within" in err
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", "1")
    assert json.loads(out)[0]["loaded"] is False


def test_kernel_target_refuses_before_the_ioctl(tmp_path, monkeypatch, capsys):
    """On the kernel target the proof runs in rmtctl too, before KernelTarget.model_load (the
    RMT_IOC_MODEL_LOAD ioctl): refused weights never reach it.  The target here is the sim
    under the kernel target's name (no /dev/rmt on the host); the store is the host's
    $XDG_STATE_HOME/rmt/props, as for rmt.ko."""
    from rmt.ctl import cli
    from rmt.ctl.sim import SimTarget
    calls = []

    class KernelLike(SimTarget):
        name = "kernel"

        def model_load(self, prog_id, model, blob):
            calls.append(blob)
            return super().model_load(prog_id, model, blob)

    monkeypatch.delenv("RMT_PROPS_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cli, "make_target", lambda g: KernelLike(tmp_path / "kstate"))
    src = (HERE / "score.rmt").read_text().split("// violated by any weights")[0]
    (tmp_path / "score.rmt").write_text(src)
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(tmp_path / "score.rmt")],
                   check=True, capture_output=True)
    prog = objfile.read((tmp_path / "score.rmtb").read_bytes())
    good = W.blob_for(prog.models[0], layers=GOOD)
    (tmp_path / "good.bin").write_bytes(good)
    (tmp_path / "bad.bin").write_bytes(W.blob_for(prog.models[0], layers=LOW_BIAS))
    assert main(["--target", "kernel", "insert", str(tmp_path / "score.rmtb")]) == 0
    assert list((tmp_path / "xdg" / "rmt" / "props").glob("*.rmtp"))
    assert main(["--target", "kernel", "model", "load", "1", "m", str(tmp_path / "good.bin")]) == 0
    assert main(["--target", "kernel", "model", "load", "1", "m", str(tmp_path / "bad.bin")]) == 1
    assert "property busy_src: VIOLATED" in capsys.readouterr().err
    assert calls == [good]


@pytest.mark.parametrize("term", [["ctx", "no_such_field", -1], ["out", "m", 99],
                                  ["==", ["int", "x"], ["int", 1]]])
def test_damaged_property_is_an_error_not_a_traceback(setup, capsys, term):
    """A .rmtp whose term does not fit the program (edited, or from another program) makes
    that property an ERROR, which refuses the weights with a one-line reason."""
    d, state = setup
    store = next((Path(state) / "props").glob("*.rmtp"))
    doc = json.loads(store.read_text())
    doc["properties"][0]["conclusion"] = term
    store.write_text(json.dumps(doc))
    rc, _, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"))
    assert rc == 1 and "property busy_src: ERROR" in err and "does not fit" in err
    assert "Traceback" not in err


def test_candidates_are_proved_before_they_can_act(setup, capsys):
    """A candidate is proved when staged; a promote or a rollback proves the weights it
    makes live (with the other models' live weights as they are then); weights that did
    not come through rmtctl cannot be proved and are refused unless --no-prove."""
    d, state = setup
    assert _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"))[0] == 0
    rc, _, err = _ctl(capsys, state, "model", "stage", "1", "m", str(d / "bad.bin"))
    assert rc == 1 and "property busy_src: VIOLATED" in err and "weights refused" in err
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", "1")
    assert not json.loads(out)[0].get("candidate")               # nothing staged
    # staged past the proof (logged), it is proved again at promote, and refused there
    rc, _, err = _ctl(capsys, state, "model", "stage", "1", "m", str(d / "bad.bin"),
                      "--no-prove")
    assert rc == 0 and "NOT proved" in err
    rc, _, err = _ctl(capsys, state, "model", "promote", "1", "m")
    assert rc == 1 and "property busy_src: VIOLATED" in err
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", "1")
    row = json.loads(out)[0]
    assert row["version"] == 1 and row["candidate"] == 2         # live unchanged, still staged
    assert _ctl(capsys, state, "model", "unstage", "1", "m")[0] == 0
    # good weights: staged, promoted; the rollback target (good, version 1) proves and acts
    assert _ctl(capsys, state, "model", "stage", "1", "m", str(d / "good.bin"))[0] == 0
    rc, _, err = _ctl(capsys, state, "model", "promote", "1", "m")
    assert rc == 0 and "property busy_src: proved" in err, err
    rc, _, err = _ctl(capsys, state, "model", "rollback", "1", "m")
    assert rc == 0 and "property busy_src: proved" in err, err
    # a rollback to weights rmtctl never saw (its store lost): refused, said why
    for f in (Path(state) / "props").glob("*.rmtw"):
        f.unlink()
    assert _ctl(capsys, state, "model", "stage", "1", "m", str(d / "good.bin"))[0] == 0
    for f in (Path(state) / "props").glob("*.candidate.rmtw"):
        f.unlink()
    rc, _, err = _ctl(capsys, state, "model", "promote", "1", "m")
    assert rc == 1 and "did not come through rmtctl" in err and "not promoted" in err


@pytest.mark.parametrize("t", ["nan", "inf", "-1", "0", "1e308", "abc"])
def test_a_time_limit_must_be_a_finite_positive_number(setup, capsys, t):
    d, state = setup
    rc, _, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"),
                      "--timeout", t)
    assert rc == 2 and "--timeout" in err and "Traceback" not in err
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", "1")
    assert not json.loads(out)[0].get("version")


def test_each_program_keeps_its_own_properties_and_weights(setup, capsys):
    """Two programs inserted from one object: weights loaded unproved into one never enter
    the other's proofs; a removed program's store is dropped."""
    d, state = setup
    assert main(["--state", state, "insert", str(d / "score.rmtb")]) == 0     # program 2
    assert _ctl(capsys, state, "model", "load", "2", "m", str(d / "bad.bin"), "--no-prove")[0] == 0
    rc, _, err = _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"))
    assert rc == 0 and "property busy_src: proved" in err, err
    store = Path(state) / "props"
    assert any(f.name.startswith("p2-") for f in store.iterdir())
    assert _ctl(capsys, state, "remove", "2")[0] == 0
    assert not any(f.name.startswith("p2-") for f in store.iterdir())


def test_a_failed_batch_leaves_the_store_following_what_is_live(setup, capsys):
    d, state = setup
    assert _ctl(capsys, state, "model", "load", "1", "m", str(d / "good.bin"))[0] == 0
    live = next((Path(state) / "props").glob("p1-*.m.rmtw"))
    before = live.read_bytes()
    b = d / "b.txt"
    b.write_text(f"model load 1 m {d / 'bad.bin'} --no-prove\nmodel show 99\n")
    rc, _, err = _ctl(capsys, state, "batch", str(b))
    assert rc == 1 and "nothing was applied" in err
    assert live.read_bytes() == before


@pytest.mark.parametrize("term,why", [
    (["ctx", "no_such_field", -1], "no context field 'no_such_field'"),
    (["ctx", "idle", 5], "ctx.idle index 5: out of range"),
    (["out", "m", 99], "no output 99 of a model 'm'"),
    (["==", ["int", "x"], ["int", 1]], "not an integer"),
    (["xor", ["int", 1], ["int", 1]], "unknown operator"),
    (["int"], "wrong number of operands"),
    (["action", "policy", "predict", [1, 2]], "wrong arguments"),
    (["action", "policy", "nope", None], "no action 'nope'"),
    (["not", "x"], "is not a term")])
def test_a_damaged_properties_file_is_refused_at_insert(tmp_path, capsys, term, why):
    """The terms are checked against the program where the file is read (insert, rmtc
    verify), with the property and the reason, not at the first proof."""
    src = (HERE / "score.rmt").read_text().split("// violated by any weights")[0]
    (tmp_path / "score.rmt").write_text(src)
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(tmp_path / "score.rmt")],
                   check=True, capture_output=True)
    rmtp = tmp_path / "score.rmtp"
    doc = json.loads(rmtp.read_text())
    doc["properties"][0]["conclusion"] = term
    rmtp.write_text(json.dumps(doc))
    state = str(tmp_path / "state")
    rc, _, err = _ctl(capsys, state, "insert", str(tmp_path / "score.rmtb"))
    assert rc == 1 and "property 'busy_src'" in err and why in err and "not inserted" in err
    assert "Traceback" not in err
    prog = objfile.read((tmp_path / "score.rmtb").read_bytes())
    (tmp_path / "good.bin").write_bytes(W.blob_for(prog.models[0], layers=GOOD))
    r = subprocess.run([str(ROOT / ".venv/bin/rmtc"), "verify", str(tmp_path / "score.rmtb"),
                        "--weights", f"m={tmp_path / 'good.bin'}"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and why in r.stdout + r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("false_too", [True, False])
def test_properties_of_a_program_without_models_are_proved_at_verify_and_insert(
        tmp_path, capsys, false_too):
    """No `model load` would ever prove them (once they were kept and never proved: a false
    property was accepted by `rmtc verify` and `rmtctl insert`)."""
    from rmt.verifier import cli_verify
    src = (HERE / "no_model.rmt").read_text()
    if not false_too:
        src = src.split("// false:")[0]
    (tmp_path / "no_model.rmt").write_text(src)
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(tmp_path / "no_model.rmt")],
                   check=True, capture_output=True)
    obj = str(tmp_path / "no_model.rmtb")
    capsys.readouterr()
    rc = cli_verify([obj])
    out = capsys.readouterr().out
    assert "property high_above_ten: proved" in out
    if false_too:
        assert rc == 1 and "no_model.rmt:11:1: property high_above_five: VIOLATED" in out, out
        assert '"a":' in out                            # the counterexample's context
    else:
        assert rc == 0, out
    rc, _, err = _ctl(capsys, str(tmp_path / "state"), "insert", obj)
    if false_too:
        assert rc == 1 and "high_above_five: VIOLATED" in err and "not inserted" in err, err
    else:
        assert rc == 0 and "1 properties proved" in err, err


MODEL_INDEX = """hook test.sandbox;
model m: linear(in = 1, out = 1, weight = i8, input = 0..10);
apply {
    let x: i32[1];
    x[0] = min(ctx.a, 10) as i32;
    let a: u32[4];
    a[0] = 0; a[1] = 1; a[2] = 2; a[3] = 3;
    decide(min(a[m(x)[0]], 100) as i64);
}
"""


def test_weights_must_keep_within_the_bounds_insert_was_verified_with(tmp_path, capsys):
    """`insert --weights` proves the index a[m(x)[0]] in bounds from those weights' output
    bounds; weights with larger outputs were then loaded and the program aborted (BOUNDS) on
    contexts the verifier had accepted.  Refused now, --no-prove or not; the same bounds
    pass; a program inserted without weights (proved for any) is unaffected."""
    from rmt.compiler import compile_source
    prog = compile_source(MODEL_INDEX, "model_index.rmt")
    obj = tmp_path / "model_index.rmtb"
    obj.write_bytes(objfile.write(prog))
    m = prog.models[0]
    small, same, other, big = (tmp_path / f"{n}.bin" for n in ("small", "same", "other", "big"))
    small.write_bytes(W.blob_for(m, layers=[([[0]], [2])]))       # outputs [2, 2]
    same.write_bytes(W.blob_for(m, layers=[([[0]], [4], 1)]))     # [2, 2] too
    other.write_bytes(W.blob_for(m, layers=[([[0]], [2], 1)]))    # [1, 1]
    big.write_bytes(W.blob_for(m, layers=[([[100]], [0])]))       # [0, 1000]
    state = str(tmp_path / "state")
    assert _ctl(capsys, state, "insert", str(obj), "--weights", f"m={small}")[0] == 0
    assert _ctl(capsys, state, "model", "load", "1", "m", str(small))[0] == 0
    for argv in (("load",), ("load", "--no-prove"), ("stage",)):
        rc, _, err = _ctl(capsys, state, "model", argv[0], "1", "m", str(big), *argv[1:])
        assert rc == 1 and "leave [2, 2]" in err and "keeps its current weights" in err, err
    rc, _, err = _ctl(capsys, state, "model", "load", "1", "m", str(other))
    assert rc == 1 and "leave [2, 2]" in err, err          # [1, 1] is not within [2, 2] either
    assert _ctl(capsys, state, "model", "load", "1", "m", str(same))[0] == 0
    rc, out, _ = _ctl(capsys, state, "prog", "run", "1", "--ctx", '{"a": 5}')
    assert rc == 0 and "decision 2" in out and "aborted" not in out
    # without weights at insert the verifier cannot bound the output: rejected, as before
    assert _ctl(capsys, state, "insert", str(obj))[0] == 1
