"""`rmtc verify` / `python -m rmt.verifier`: exit codes, text and JSON output, --smt2, --budget,
--rlimit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.compiler.asm import assemble
from rmt.contract.objfile import Program
from rmt.contract.hooks import HOOKS
from rmt.verifier import cli_verify

SANDBOX = HOOKS["test.sandbox"]

GOOD = """
    ldu32 r1, ctx[0]
    and r1, 7
    shl r1, 2
    ldu32 r0, ctx[36 + r1, 32]
    and r0, 63
    exit r0
"""
BAD = """
    ldu32 r1, ctx[0]
    shl r1, 2
    ldu32 r2, ctx[36 + r1, 32]
    ldu32 r3, ctx[4]
    div r2, r3
    mov r0, r2
    exit r0
"""


def obj(tmp_path: Path, text: str, name: str = "p") -> Path:
    prog = Program(name, SANDBOX, assemble(text), 16)
    path = tmp_path / f"{name}.rmtb"
    path.write_bytes(objfile.write(prog))
    return path


def test_accept_exit_0(tmp_path, capsys) -> None:
    assert cli_verify([str(obj(tmp_path, GOOD))]) == 0
    out = capsys.readouterr().out
    assert "accepted" in out and "worst-case cost: 6 (budget 200000)" in out
    assert "decisions: [0, 63]" in out


def test_reject_reports_every_failure(tmp_path, capsys) -> None:
    assert cli_verify([str(obj(tmp_path, BAD))]) == 1
    out = capsys.readouterr().out
    assert "pc 2: index into ctx may be out of bounds" in out and "(InBounds)" in out
    assert "pc 4: division by zero" in out and "(NonZeroDivisor)" in out
    assert "DecisionAllowed" in out
    div = out.split("(NonZeroDivisor)")[1].splitlines()[1]
    assert "ctx.b=0" in div and "ctx.arr" not in div    # minimal: only the fields that matter


def test_json_schema(tmp_path, capsys) -> None:
    assert cli_verify([str(obj(tmp_path, BAD)), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "rmt-verify/1" and doc["verdict"] == "rejected"
    assert doc["hook"] == "test.sandbox"
    s = doc["summary"]
    assert s["failed"] == len(doc["failures"]) >= 3
    assert s["obligations"] == len(doc["results"]) == s["proved"] + s["failed"] + s["unknown"]
    f = next(f for f in doc["failures"] if f["kind"] == "NonZeroDivisor")
    assert f["pc"] == 4 and f["status"] == "counterexample"
    assert f["counterexample"]["ctx.b"] == 0 and f["counterexample"]["divisor"] == 0
    assert f["location"] is None                     # no srcmap in a hand-made object


def test_budget_option_and_smt2(tmp_path, capsys) -> None:
    d = tmp_path / "q"
    assert cli_verify([str(obj(tmp_path, BAD)), "--budget", "3", "--smt2", str(d)]) == 1
    out = capsys.readouterr().out
    assert "worst-case cost 7 exceeds the budget 3 (WithinBudget)" in out
    dumps = sorted(d.glob("*.smt2"))
    assert dumps and all("(check-sat)" in p.read_text() for p in dumps)


def test_rlimit_bounds_each_query_deterministically(tmp_path, capsys) -> None:
    """The bound is Z3's step count, not wall time: a tiny --rlimit gives up on the same
    obligations every time, says which knob to turn, and the default proves them."""
    # an index in range only where j == 1, i.e. where k != 0: a solver query (the interval
    # proofs see j narrowed, not k; swap_prefetch, used here before, needs none now)
    src = """hook test.sandbox;
map m: array<u64>[8] private;
apply {
    let k = ctx.a % 4;
    let j: u64 = 0;
    if k != 0 {
        j = 1;
    } else {
        j = 2;
    }
    if j == 1 {
        m[2 * k - 1] += 1;
    }
    decide(0);
}"""
    path = tmp_path / "q.rmtb"
    path.write_bytes(objfile.write(compile_source(src, "q.rmt")))
    outs = []
    for _ in range(2):
        assert cli_verify([str(path), "--rlimit", "2000"]) == 1
        outs.append([ln for ln in capsys.readouterr().out.splitlines()
                     if not ln.lstrip().startswith("time:")])
    assert outs[0] == outs[1]
    text = "\n".join(outs[0])
    assert "max. resource limit exceeded); a larger --rlimit may prove it" in text
    assert cli_verify([str(path)]) == 0
    capsys.readouterr()


def test_usage_errors_exit_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        cli_verify([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli_verify([str(obj(tmp_path, GOOD)), "--weights", "nomodel"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli_verify([str(obj(tmp_path, GOOD)), "--rlimit", "0"])
    assert e.value.code == 2
    # a --smt2 that cannot be a directory was a FileExistsError traceback
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_verify([str(obj(tmp_path, GOOD)), "--smt2", str(obj(tmp_path, GOOD))])
    assert e.value.code == 2 and "--smt2" in capsys.readouterr().err


def test_unreadable_and_malformed(tmp_path, capsys) -> None:
    assert cli_verify([str(tmp_path / "missing.rmtb")]) == 1
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "junk.rmtb"
    bad.write_bytes(b"RMTB" + b"\0" * 40)
    assert cli_verify([str(bad)]) == 1
    assert "malformed object" in capsys.readouterr().out


def test_python_dash_m(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "rmt.verifier", str(obj(tmp_path, GOOD)), "--json"],
                       capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verdict"] == "accepted"


def test_source_locations(tmp_path, capsys) -> None:
    """Failures point at file:line:col through the object's srcmap."""
    from rmt.compiler import compile_source
    src = "hook test.sandbox;\napply {\n    decide(ctx.a);\n}\n"
    prog = compile_source(src, "dec.rmt")
    p = tmp_path / "dec.rmtb"
    p.write_bytes(objfile.write(prog))
    assert cli_verify([str(p)]) == 1
    out = capsys.readouterr().out
    assert "dec.rmt:3:" in out and "(DecisionAllowed)" in out
    assert "decision=" in out and "ctx.a=" in out


def test_rmtc_help_at_every_level_and_version(capsys) -> None:
    from rmt.rmtc import main
    for argv, usage in ((["help"], "usage: rmtc [-h] [-V]"), (["help", "compile"], "rmtc compile"),
                        (["help", "verify"], "rmtc verify"), (["help", "dump"], "rmtc dump")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0 and usage in capsys.readouterr().out, argv
    with pytest.raises(SystemExit) as e:
        main(["-V"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("rmtc v")
    with pytest.raises(SystemExit) as e:
        main(["help", "bogus"])
    assert e.value.code == 2
