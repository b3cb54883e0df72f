"""rmtctl on the sim target, driven through its command line as a user would."""
from __future__ import annotations

import json

import pytest

from rmt.contract import objfile
from rmt.compiler.asm import assemble
from rmt.contract.objformat import MapKind, MatchKind
from rmt.contract.hooks import HOOKS
from rmt.ctl.cli import main

# decision = params.v of the matched entry (a exact, b range), counted per key a in a hash map
SRC = """
  ldu32 r1, ctx[0]
  st64 scratch[0], r1
  ldu32 r3, ctx[4]
  st64 scratch[8], r3
  apply r2, t0, 0
  jne r2, 0, miss
  ldu32 r0, params0[0]
  map_add map0, r1, r0
  st64 scratch[16], r3
  trace 0, 16
  exit r0
miss:
  mov r0, -1
  exit r0
"""


def program() -> objfile.Program:
    return objfile.Program(
        "demo", HOOKS["test.sandbox"], assemble(SRC), 24,
        tables=[objfile.Table("policy", [objfile.Key("a", MatchKind.EXACT, 32),
                                         objfile.Key("b", MatchKind.RANGE, 32)],
                              [objfile.Action("set", [objfile.Param("v", 0, 32, False)]),
                               objfile.Action("nop")], 16, 1)],
        maps=[objfile.Map("sum", MapKind.HASH, 32, 64, 16)],
        traces=[objfile.TraceFmt("t", [objfile.TraceField("b", 32, False)])])


@pytest.fixture
def ctl(tmp_path, capsys):
    obj = tmp_path / "demo.rmtb"
    obj.write_bytes(objfile.write(program()))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state", str(tmp_path / "state"), "--engine", "ref", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    run.obj = str(obj)
    run.dir = tmp_path
    return run


def ctx(tmp_path, **fields) -> str:
    p = tmp_path / f"ctx{len(list(tmp_path.iterdir()))}.json"
    p.write_text(json.dumps(fields))
    return str(p)


def test_rejected_insert_needs_force(ctl, monkeypatch):
    from rmt.ctl import cli as rmtctl_cli
    monkeypatch.setattr(rmtctl_cli, "verify_object", lambda blob, name: (False, "REJECTED\n"))
    code, _, err = ctl("insert", ctl.obj)
    assert code == 1 and "REJECTED" in err and "not inserted" in err
    assert ctl("--json", "list")[1].strip() == "[]"
    code, out, _ = ctl("--json", "insert", ctl.obj, "--force")
    assert code == 0 and json.loads(out)["verdict"] == "forced"


def test_full_session(ctl):
    code, out, _ = ctl("--json", "insert", ctl.obj, "--force")
    assert code == 0 and json.loads(out)["id"] == 1
    assert ctl("table", "add", "1", "policy", "5", "10..20", "action", "set", "42")[0] == 0
    assert ctl("table", "add", "1", "policy", "5", "10..20", "action", "set", "7")[0] == 1
    assert ctl("table", "mod", "1", "policy", "5", "10..20", "action", "set", "43")[0] == 0
    c = ctx(ctl.dir, a=5, b=15)
    code, out, _ = ctl("--json", "prog", "run", "1", "--ctx", c, "--repeat", "3")
    assert code == 0 and json.loads(out)["decision"] == 43
    ctl("prog", "run", "1", "--ctx", ctx(ctl.dir, a=5, b=30))        # misses the range
    rows = json.loads(ctl("--json", "table", "dump", "1", "policy")[1])
    assert rows == [{"match": ["5", "10..20"], "action": "set", "args": [43], "priority": 0,
                     "hits": 3}]
    assert json.loads(ctl("--json", "map", "dump", "1", "sum")[1]) == {"5": 129}
    stats = json.loads(ctl("--json", "stats", "1")[1])
    assert stats["runs"] == 4 and stats["decisions"] == {"DEFAULT": 1, "43": 3}
    code, out, _ = ctl("trace", "1")
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["fields"] for r in recs] == [{"b": 15}] * 3
    assert ctl("trace", "1")[1] == ""                                 # drained
    assert ctl("table", "del", "1", "policy", "5", "10..20")[0] == 0
    assert ctl("table", "del", "1", "policy", "5", "10..20")[0] == 1
    assert ctl("remove", "1")[0] == 0
    assert ctl("show", "1")[0] == 1


@pytest.mark.parametrize("engine", ["ref", "c"])
def test_private_map_is_not_read_out_but_keeps_its_state(tmp_path, capsys, engine):
    """A `private` map: `map dump` is refused (EPERM, saying why) on every engine, while the
    program keeps updating it across commands (the sim's own state saving still reads it)."""
    prog = program()
    prog.maps[0].private = True
    obj = tmp_path / "private.rmtb"
    obj.write_bytes(objfile.write(prog))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--state", str(tmp_path / "state"), "--engine", engine, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    assert run("insert", str(obj), "--force")[0] == 0
    assert run("table", "add", "1", "policy", "5", "10..20", "action", "set", "42")[0] == 0
    c = ctx(tmp_path, a=5, b=15)
    assert run("prog", "run", "1", "--ctx", c)[0] == 0
    code, out, err = run("map", "dump", "1", "sum")
    assert code == 1 and out == ""
    assert "map sum is private: its contents stay in the kernel" in err and "EPERM" in err
    # the map kept its contents across commands: the program's next add sees 42
    assert run("prog", "run", "1", "--ctx", c)[0] == 0
    from rmt.ctl.sim import SimTarget
    state = SimTarget(tmp_path / "state")
    with state.session(1) as p:                   # the in-kernel view
        assert p.engine.map_read(0) == {5: 84}


def test_bad_requests_are_usage_errors_and_change_nothing(ctl):
    ctl("insert", ctl.obj, "--force")
    ctl("table", "add", "1", "policy", "1", "0..5", "action", "set", "1")
    for argv, code, text in [
        (("table", "add", "1", "nosuch", "1", "action", "nop"), 2, "no table 'nosuch'"),
        (("table", "add", "1", "policy", "1", "action", "nop"), 2, "2 key(s)"),
        (("table", "add", "1", "policy", "1/8", "1..2", "action", "nop"), 2, "is exact"),
        (("table", "add", "1", "policy", "1", "2..3", "action", "set", "1", "2"), 2,
         "takes 1 argument"),
        (("table", "add", "1", "policy", "1", "2..3", "action", "set", "-1"), 2, "does not fit"),
        (("table", "add", "1", "policy", "1", "5..2", "action", "nop"), 1, "EINVAL"),
        (("prog", "run", "1", "--ctx", "/nonexistent.json"), 2, "cannot read context"),
    ]:
        got, _, err = ctl(*argv)
        assert got == code and text in err, (argv, got, err)
    rows = json.loads(ctl("--json", "table", "dump", "1", "policy")[1])
    assert [r["args"] for r in rows] == [[1]]


def test_malformed_object_is_refused(ctl):
    bad = ctl.dir / "bad.rmtb"
    bad.write_bytes(b"RMTB" + b"\0" * 40)
    code, _, err = ctl("insert", str(bad), "--force")
    assert code == 1 and "malformed object" in err


def test_engine_choice_is_kept_per_program(tmp_path, capsys):
    pytest.importorskip("rmt_vm")
    obj = tmp_path / "demo.rmtb"
    obj.write_bytes(objfile.write(program()))
    state = str(tmp_path / "state")
    for flag in ("--jit", "--no-jit"):
        assert main(["--state", state, "insert", str(obj), "--force", flag]) == 0
    capsys.readouterr()
    assert main(["--state", state, "--json", "list"]) == 0
    assert [p["jit"] for p in json.loads(capsys.readouterr().out)] == [True, False]
    from rmt.ctl.sim import Loaded, SimTarget
    t = SimTarget(tmp_path / "state")
    kinds = [Loaded(t, i).engine.engine_kind for i in t.list()]
    assert kinds[1] == "interp" and kinds[0] in ("jit", "interp")
