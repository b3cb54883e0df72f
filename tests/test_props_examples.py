"""The examples' properties, proved with their trained weights at `rmtctl model load`.

tests/props/weights/ holds the weights `make demo` trained (forced_migration's predictor
and tree_predictor, swap_prefetch's next).  Each load proves the program's properties and
prints the time of each proof; a deliberately bad weights file is refused with its
counterexample, and that counterexample, replayed with `rmtctl prog run --ctx` (and the table
entry it names) once the bad weights are loaded anyway (--no-prove), shows the violation.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from rmt.contract import objfile
from rmt.contract import weights as W
from rmt.ctl.cli import main

ROOT = Path(__file__).resolve().parent.parent
TRAINED = Path(__file__).parent / "props" / "weights"
PROOF = re.compile(r"property (\w+): (proved|VIOLATED|TIMED OUT|deferred) \((\d+\.\d\d) s\)")


def _compile(tmp: Path, name: str) -> tuple[Path, objfile.Program]:
    obj = tmp / f"{name}.rmtb"
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile", str(ROOT / "examples" / f"{name}.rmt"),
                    "-o", str(obj)], check=True, capture_output=True)
    assert obj.with_suffix(".rmtp").exists()
    return obj, objfile.read(obj.read_bytes())


def _ctl(capsys, state: Path, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--state", str(state), *[str(a) for a in argv]])
    c = capsys.readouterr()
    return rc, c.out, c.err


def _proofs(err: str) -> dict[str, str]:
    for name, status, secs in PROOF.findall(err):
        print(f"  {name}: {status} in {secs} s")           # the time per proof (pytest -s)
    return {name: status for name, status, _ in PROOF.findall(err)}


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.delenv("RMT_PROPS_DIR", raising=False)
    return tmp_path / "state"


def test_forced_migration(tmp_path, state, capsys):
    obj, prog = _compile(tmp_path, "forced_migration")
    assert _ctl(capsys, state, "insert", obj)[0] == 0
    rc, _, err = _ctl(capsys, state, "model", "load", 1, "tree_predictor",
                      TRAINED / "tree_predictor.bin")
    assert rc == 0, err
    assert _proofs(err) == {"hard_constraints_stay": "proved", "tree_vetoes_only_forced": "proved",
                            "tree_grows_with_failures": "proved"}
    # deliberately bad: the trained tree, every leaf voting "forced migration" (output 1)
    tree_m = prog.models[1]
    w = W.read_weights((TRAINED / "tree_predictor.bin").read_bytes(), tree_m)
    for t in w.trees:
        t.leaves = [[leaf[0], 1024] for leaf in t.leaves]
    bad = tmp_path / "tree_predictor.bad.bin"
    bad.write_bytes(W.write_weights(w))
    rc, _, err = _ctl(capsys, state, "model", "load", 1, "tree_predictor", bad)
    assert rc == 1 and "weights refused" in err
    assert _proofs(err)["tree_vetoes_only_forced"] == "VIOLATED"
    src = (ROOT / "examples/forced_migration.rmt").read_text().splitlines()
    line = next(i for i, s in enumerate(src, 1) if s.startswith("property tree_vetoes_only_forced"))
    assert f"forced_migration.rmt:{line}:1: property tree_vetoes_only_forced: VIOLATED" in err
    cx = json.loads(re.search(r"counterexample ctx: (\{.*\})", err).group(1))
    assert cx["nr_balance_failed"] <= cx["cache_nice_tries"] and cx["hard_veto"] == 0
    assert re.search(r"table policy: predict\(policy=3, threshold=0\)", err)
    # the trained weights keep running, and they do not veto this context
    rc, out, _ = _ctl(capsys, state, "-j", "model", "show", 1)
    assert json.loads(out)[1]["version"] == 1
    rc, _, err = _ctl(capsys, state, "model", "load", 1, "predictor", TRAINED / "predictor.bin")
    assert rc == 0 and set(_proofs(err).values()) == {"proved"}, err
    nbf = cx["nr_balance_failed"]
    assert _ctl(capsys, state, "table", "add", 1, "policy", cx["idle"], f"{nbf}..{nbf}",
                "action", "predict", 3, 0)[0] == 0
    rc, out, _ = _ctl(capsys, state, "prog", "run", 1, "--ctx", json.dumps(cx))
    assert rc == 0 and out.strip() == "decision DEFAULT"
    # loaded anyway, the bad weights show the violation on the counterexample
    assert _ctl(capsys, state, "model", "load", 1, "tree_predictor", bad, "--no-prove")[0] == 0
    rc, out, _ = _ctl(capsys, state, "prog", "run", 1, "--ctx", json.dumps(cx))
    assert rc == 0 and out.strip() == "decision DENY"


def test_swap_prefetch(tmp_path, state, capsys):
    """The trained tree is proved (bad trees are refused by test_forced_migration here, and by
    bench/bench_props.py's swap_prefetch bad-tree rows)."""
    obj, prog = _compile(tmp_path, "swap_prefetch")
    assert _ctl(capsys, state, "insert", obj)[0] == 0
    rc, _, err = _ctl(capsys, state, "model", "load", 1, "next", TRAINED / "next.bin")
    assert rc == 0, err
    assert set(_proofs(err).values()) == {"proved"} and len(_proofs(err)) == 3
