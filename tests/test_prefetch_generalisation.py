"""Generalisation in casestudies/prefetch_eval.py: leave-one-program-out, --eval-traces, --json,
the targets for unseen programs, and trace capture of any command (mechanism tests on tiny
traces; the real evaluation is `make prefetch-loo`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rmt.swap_sim.experiment import ROOT, Result, Split, training_faults
from rmt.swap_sim.generalisation import fold_choice, unseen_targets
from rmt.swap_sim.metrics import Figures
from rmt.swap_sim.simulator import Counters
from rmt.swap_sim.trace import Trace, load_dir, load_trace, save_trace, sequential, strided


@pytest.fixture(scope="module")
def pe():
    from rmt.casestudies import prefetch_eval
    return prefetch_eval


def _res(w: str, p: str, cov: float, acc: float, run: float) -> Result:
    return Result(w, p, 100, Counters(), Figures(cov, acc, 1 - acc, 0, 0, 0, 0, 0, run))


def test_unseen_targets():
    rows = [_res("a", "ra-cluster", 0.5, 0.9, 10.0), _res("a", "ra-vma", 0.1, 0.9, 12.0),
            _res("a", "leap", 0.6, 0.8, 9.0), _res("a", "x", 0.6, 0.8, 9.09),
            _res("b", "ra-cluster", 0.0, 0.0, 10.0), _res("b", "ra-vma", 0.0, 0.0, 10.0),
            _res("b", "leap", 0.05, 0.1, 11.0), _res("b", "x", 0.0, 0.0, 10.2)]
    got = {(t.workload, t.kind): t for t in unseen_targets(rows, "x")}
    assert got[("a", "run-time")].met                  # 9.09 <= 9.0 * 1.01
    assert got[("a", "coverage")].met and got[("a", "coverage")].applies
    assert not got[("b", "run-time")].met              # 10.2 > 10.0 * 1.01
    assert not got[("b", "coverage")].applies          # Leap covers 0.05 <= 0.1
    rows[3] = _res("a", "x", 0.61, 0.79, 9.0)          # more coverage, less accuracy
    assert not {(t.workload, t.kind): t for t in unseen_targets(rows, "x")}[
        ("a", "coverage")].met


def test_fold_choice_ignores_the_held_out_workload(pe):
    """The threshold of a fold comes from the other workloads' rows only: a workload that
    alone favours threshold 50 decides nothing in its own fold."""
    def rows_for(w: str, good: int) -> list:
        out = []
        for t in (0, 50):
            out += [(t, _res(w, "none", 0, 0, 10.0)), (t, _res(w, "ra-cluster", 0.1, 0.9, 9)),
                    (t, _res(w, "ra-vma", 0.1, 0.9, 9)), (t, _res(w, "leap", 0.1, 0.9, 9)),
                    (t, _res(w, "rmt", 0.2, 0.95, 5.0 if t == good else 9.5))]
        return out
    rows = rows_for("a", 0) + rows_for("b", 0) + rows_for("c", 50)
    assert fold_choice(rows, "a", pe.choose_min_stable, pe.claims) == 0
    rows = rows_for("a", 50) + rows_for("b", 50) + rows_for("c", 0)
    assert fold_choice(rows, "c", pe.choose_min_stable, pe.claims) == 50
    assert fold_choice(rows, "a", pe.choose_min_stable, pe.claims) in (0, 50)


def _tiny_dirs(tmp_path):
    proj, user = tmp_path / "proj", tmp_path / "user"
    proj.mkdir()
    user.mkdir()
    a = strided(120, 5, 3)
    a.name = "tiny-strided"
    b = sequential(600, 3)
    b.name = "tiny-seq"
    save_trace(a, proj)
    save_trace(b, proj)
    u = strided(100, 9, 3)
    u.name = "user-stride9"
    save_trace(u, user)
    return proj, user, [a, b]


def _eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "casestudies" / "prefetch_eval.py"), *args],
                          capture_output=True, text=True)


def test_loo_and_eval_traces_on_a_tiny_directory(tmp_path):
    proj, user, project = _tiny_dirs(tmp_path)
    out, js = tmp_path / "out", tmp_path / "loo.json"
    common = ["--traces", str(proj), "--no-synthetic", "--out", str(out), "--no-plots",
              "--jobs", "1", "--min-stable", "20"]
    r = _eval(*common, "--loo", "--json", str(js))
    assert r.returncode == 0, r.stderr
    d = json.loads(js.read_text())
    loo = [r for r in d["results"] if r["prefetcher"] == "rmt-loo"]
    assert sorted(r["workload"] for r in loo) == ["tiny-seq", "tiny-strided"]
    # each fold trained on the other workload's training faults alone
    split = Split(0.5, 0.6)
    n = {t.name: len(training_faults(t, split)) for t in project}
    for f in d["unseen_targets"]["folds"]:
        other = next(k for k in n if k != f["workload"])
        assert f["trained_on_faults"] == n[other]
    kinds = {(t["workload"], t["target"]) for t in d["unseen_targets"]["targets"]}
    assert kinds == {(w, k) for w in n for k in ("run-time", "coverage")}
    # the same figures as the time split's baselines, and every figure of a row
    row = next(r for r in d["results"] if r["prefetcher"] == "leap")
    assert {"coverage", "accuracy", "pollution", "run_ms", "major", "issued"} <= set(row)
    assert (out / "loo.md").exists()

    js2 = tmp_path / "ev.json"
    r = _eval(*common, "--eval-traces", str(user), "--mem-frac", "0.25", "--json", str(js2))
    assert r.returncode == 0, r.stderr
    d2 = json.loads(js2.read_text())
    assert {r["workload"] for r in d2["results"]} == {"user-stride9"}
    assert {r["prefetcher"] for r in d2["results"]} == {"none", "ra-cluster", "ra-vma",
                                                        "leap", "rmt"}
    assert d2["config"]["mem_frac"] == 0.25
    assert {t["workload"] for t in d2["unseen_targets"]["targets"]} == {"user-stride9"}
    assert "targets for programs not trained on" in r.stdout


def test_eval_traces_bad_input(pe, tmp_path, capsys):
    proj, user, _ = _tiny_dirs(tmp_path)
    common = ["--traces", str(proj), "--no-synthetic", "--out", str(tmp_path / "o"),
              "--no-plots", "--min-stable", "20"]
    (user / "broken.npz").write_bytes(b"not a zip")
    assert pe.main(common + ["--eval-traces", str(user)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("prefetch-eval: ") and "broken.npz: not a trace file" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    (user / "broken.npz").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert pe.main(common + ["--eval-traces", str(empty)]) == 1
    assert "no *.npz traces" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pe.main(common + ["--eval-traces", str(tmp_path / "missing")])
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pe.main(common + ["--mem-frac", "1.5"])
    with pytest.raises(SystemExit):
        pe.main(common + ["--program", str(tmp_path / "missing.rmt")])
    assert "--program" in capsys.readouterr().err


def test_trace_loader_rejects_bad_files(tmp_path):
    t = Trace("x", np.array([5, 6, 7]))
    save_trace(t, tmp_path)
    assert load_trace(tmp_path / "x.npz").pages.tolist() == [5, 6, 7]
    (tmp_path / "y.npz").write_bytes((tmp_path / "x.npz").read_bytes())     # same name inside
    with pytest.raises(ValueError, match="already used"):
        load_dir(tmp_path)
    (tmp_path / "y.npz").unlink()
    np.savez(tmp_path / "neg.npz", deltas=np.array([-4, 1]),
             meta=np.array(json.dumps({"name": "neg", "len": 2})))
    with pytest.raises(ValueError, match="page numbers"):
        load_trace(tmp_path / "neg.npz")
    np.savez(tmp_path / "noname.npz", deltas=np.array([4, 1]), meta=np.array("{}"))
    with pytest.raises(ValueError, match="no trace name"):
        load_trace(tmp_path / "noname.npz")


CAPTURE = ROOT / "tools" / "swap_traces" / "capture.py"


def _capture(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CAPTURE), *args], capture_output=True,
                          text=True, cwd=cwd)


def test_capture_command_errors(tmp_path):
    r = _capture("capture", "--name", "a/b", "--", "true")
    assert r.returncode == 2 and "letters, digits" in r.stderr
    r = _capture("capture", "--name", "x", "--", "no-such-command-here")
    assert r.returncode == 2 and "not found" in r.stderr
    r = _capture("capture", "--name", "x")
    assert r.returncode == 2 and "no command" in r.stderr
    r = _capture("--only", "no-such-workload")
    assert r.returncode == 2 and "unknown workload" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not (shutil.which("valgrind") and shutil.which("gcc")),
                    reason="needs valgrind and gcc (tools/swap_traces/setup.sh installs them)")
def test_capture_any_command(tmp_path):
    """`capture --name NAME -- CMD ARGS` writes NAME.npz that the evaluation loads."""
    r = _capture("capture", "--name", "ls-usr", "--out", str(tmp_path), "--",
                 "ls", "-l", "/usr/bin", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    tr = load_trace(tmp_path / "ls-usr.npz")
    assert tr.name == "ls-usr" and len(tr) > 100 and tr.instrs > 0
    assert tr.source == "ls -l /usr/bin"
