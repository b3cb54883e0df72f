"""rmtctl's conventions (bpftool's), batch updates, P4Runtime match rules, honest statistics,
and one clear line (never a traceback) for bad input, on the sim target."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rmt.contract import objfile
from rmt.contract.objformat import MODE_SHADOW, MatchKind
from rmt.ctl import cli
from rmt.ctl.cli import main
from rmt.ctl.sim import SimTarget
from test_rmtctl_sim import ctx, program

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ctl(tmp_path, capsys):
    obj = tmp_path / "demo.rmtb"
    obj.write_bytes(objfile.write(program()))
    state = tmp_path / "state"

    def run(*argv: str, state_opt: bool = True) -> tuple[int, str, str]:
        pre = ["--state", str(state), "--engine", "ref"] if state_opt else ["--engine", "ref"]
        code = main([*pre, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    run.obj, run.dir, run.state = str(obj), tmp_path, state
    return run


def test_options_anywhere_json_and_pretty(ctl):
    assert ctl("insert", ctl.obj, "--force")[0] == 0
    for argv in (("stats", "1", "--json"), ("-j", "stats", "1"), ("stats", "-j", "1"),
                 ("stats", "1", "-p")):
        code, out, _ = ctl(*argv)
        assert code == 0 and json.loads(out)["runs"] == 0, argv
    assert "\n  " in ctl("stats", "1", "-p")[1] and "\n" not in ctl("-j", "stats", "1")[1].strip()


def test_help_at_every_level_and_version(ctl):
    for argv in (("help",), ("table", "help"), ("model", "help"), ("map", "help"),
                 ("prog", "help"), ("trace", "help"), ("insert", "help"), ("batch", "help"),
                 ("table", "-h"), ("-h",), ("--help",)):
        try:
            code, out, _ = ctl(*argv)
        except SystemExit as e:                      # argparse's own -h
            code, out = e.code, "usage"
        assert code == 0 and "usage" in out.lower(), argv
    code, out, _ = ctl("-V")
    assert code == 0 and out.startswith("rmtctl v")
    code, out, _ = ctl("--version", "-j")
    assert code == 0 and "version" in json.loads(out)


def test_programs_by_id_or_name(ctl):
    ctl("insert", ctl.obj, "--force")
    assert ctl("table", "add", "name", "demo", "policy", "5", "10..20", "action", "set",
               "1")[0] == 0
    assert json.loads(ctl("-j", "show", "name", "demo")[1])["id"] == 1
    assert json.loads(ctl("-j", "show", "id", "1")[1])["name"] == "demo"
    assert len(json.loads(ctl("-j", "table", "dump", "demo", "policy")[1])) == 1
    code, _, err = ctl("show", "name", "nosuch")
    assert code == 1 and "no program named 'nosuch'" in err
    ctl("insert", ctl.obj, "--force")
    code, _, err = ctl("show", "name", "demo")
    assert code == 2 and "2 programs are named 'demo'" in err


def test_exit_codes_and_json_errors(ctl):
    code, out, err = ctl("-j", "show", "7")
    assert code == 1 and out == "" and "no program with id 7" in json.loads(err)["error"]
    code, _, err = ctl("-j", "nosuch")
    assert code == 2 and "unknown command" in json.loads(err)["error"]
    code, _, err = ctl("table", "frob", "1", "t")
    assert code == 2 and "invalid choice" in err and "Traceback" not in err


def test_ctrl_c_during_verification_exits_130_without_a_verdict(ctl, monkeypatch):
    def verify(blob, name, opts=None):
        try:                                   # as Z3 does: the interrupt becomes "unknown"
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            pass
        return False, "REJECTED (unknown)\n"
    monkeypatch.setattr(cli, "verify_object", verify)
    code, _, err = ctl("insert", ctl.obj)
    assert code == 130 and "interrupted" in err
    assert "reject" not in err.lower() and "--force" not in err
    assert ctl("-j", "list")[1].strip() == "[]"


def test_insert_passes_verifier_options(ctl, monkeypatch):
    seen = {}

    def verify(blob, name, opts=None):
        seen["opts"] = opts
        return True, ""
    monkeypatch.setattr(cli, "verify_object", verify)
    w = ctl.dir / "w.bin"
    w.write_bytes(b"weights")
    assert ctl("insert", ctl.obj, "--rlimit", "1234", "--weights", f"m={w}")[0] == 0
    assert seen["opts"].rlimit == 1234 and seen["opts"].weights == {"m": b"weights"}
    assert ctl("insert", ctl.obj, "--weights", "nonsense")[0] == 2


def test_target_line_and_read_only_commands_create_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "typo"))
    monkeypatch.delenv("RMT_SIM_STATE", raising=False)
    monkeypatch.delenv("RMT_TARGET", raising=False)
    monkeypatch.setattr(cli, "DEVICE", str(tmp_path / "no-dev-rmt"))
    assert main(["list"]) == 0
    assert "target sim" in capsys.readouterr().err
    assert main(["show", "1"]) == 1
    assert main(["--state", str(tmp_path / "typo2"), "table", "dump", "1", "t"]) == 1
    err = capsys.readouterr().err
    assert "no program with id 1" in err and "target sim" not in err.split("\n")[-2]
    assert not (tmp_path / "typo").exists() and not (tmp_path / "typo2").exists()
    (tmp_path / "dev").touch()                       # /dev/rmt exists: the kernel is the default
    monkeypatch.setattr(cli, "DEVICE", str(tmp_path / "dev"))
    assert cli.choose_target(cli.Globals())[0] == "kernel"
    assert cli.choose_target(cli.Globals(state="x"))[0] == "sim"
    monkeypatch.setenv("RMT_SIM_STATE", str(tmp_path / "s"))
    assert cli.choose_target(cli.Globals()) == ("sim", None)


def test_state_files_are_private_wal_and_schema_versioned(ctl, tmp_path):
    ctl("insert", ctl.obj, "--force")
    db = ctl.state / "state.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(ctl.state.stat().st_mode) == 0o700
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_batch_is_all_or_nothing_and_file_input(ctl):
    ctl("insert", ctl.obj, "--force")
    good = ctl.dir / "good.txt"
    good.write_text("# comment\ntable add 1 policy 1 0..5 action set 1\n\n"
                    "table add 1 policy 2 0..5 action set 2\n")
    bad = ctl.dir / "bad.txt"
    bad.write_text("table add 1 policy 3 0..5 action set 3\ntable add 1 policy 1 0..5 "
                   "action set 9\n")
    assert ctl("batch", str(good))[0] == 0
    code, _, err = ctl("batch", str(bad))
    assert code == 1 and "bad.txt:2" in err and "EEXIST" in err and "nothing was applied" in err
    rows = json.loads(ctl("-j", "table", "dump", "1", "policy")[1])
    assert [r["args"] for r in rows] == [[1], [2]]
    entries = ctl.dir / "e.txt"
    entries.write_text("4 0..1 action set 4\n5 0..1 action nop\n")
    assert ctl("table", "add", "1", "policy", "-f", str(entries))[0] == 0
    entries.write_text("6 0..1 action set 6\n7 0..1 action nosuch\n")
    code, _, err = ctl("table", "add", "1", "policy", "-f", str(entries))
    assert code == 2 and "e.txt:2" in err and "nothing was added" in err
    assert len(json.loads(ctl("-j", "table", "dump", "1", "policy")[1])) == 4
    code, out, _ = ctl("-j", "table", "clear", "1", "policy")
    assert code == 0 and json.loads(out) == {"deleted": 4}
    assert json.loads(ctl("-j", "table", "dump", "1", "policy")[1]) == []


def _writer(args):
    state, obj_id, i = args
    with open(os.devnull, "w") as null:
        sys.stdout = sys.stderr = null
        return main(["--state", state, "--engine", "ref", "table", "add", str(obj_id), "policy",
                     str(i), "0..1", "action", "set", str(i)])


def test_100_concurrent_writers(tmp_path, capsys):
    prog = program()
    prog.tables[0].max_entries = 128
    obj = tmp_path / "demo.rmtb"
    obj.write_bytes(objfile.write(prog))
    state = str(tmp_path / "state")
    assert main(["--state", state, "insert", str(obj), "--force"]) == 0
    with multiprocessing.get_context("fork").Pool(100) as pool:
        codes = pool.map(_writer, [(state, 1, i) for i in range(100)], chunksize=1)
    assert codes == [0] * 100
    capsys.readouterr()
    main(["--state", state, "-j", "table", "dump", "1", "policy"])
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["args"][0] for r in rows) == list(range(100))


def _p4_program() -> objfile.Program:
    prog = program()
    prog.tables[0] = objfile.Table("acl", [objfile.Key("a", MatchKind.TERNARY, 32),
                                           objfile.Key("b", MatchKind.LPM, 32)],
                                   prog.tables[0].actions, 16, 1)
    return prog


def test_p4runtime_match_rules(tmp_path, capsys):
    obj = tmp_path / "p4.rmtb"
    obj.write_bytes(objfile.write(_p4_program()))
    state = str(tmp_path / "state")

    def run(*argv):
        code = main(["--state", state, "--engine", "ref", *argv])
        o = capsys.readouterr()
        return code, o.err
    run("insert", str(obj), "--force")
    code, err = run("table", "add", "1", "acl", "0x13&&&0xf0", "0/0", "action", "nop",
                    "priority", "1")
    assert code == 2 and "bits outside its mask" in err and "0x10&&&0xf0" in err
    code, err = run("table", "add", "1", "acl", "0x10&&&0xf0", "0x0a000001/8", "action", "nop",
                    "priority", "1")
    assert code == 2 and "host bits" in err
    code, err = run("table", "add", "1", "acl", "0x10&&&0xf0", "0/0", "action", "nop")
    assert code == 2 and "priority N` with N >= 1" in err
    code, err = run("table", "add", "1", "acl", "0x10&&&0xf0", "0x0a000000/8", "action", "nop",
                    "priority", "1")
    assert code == 0 and "warning" not in err
    code, err = run("table", "add", "1", "acl", "0x10&&&0x10", "0/0", "action", "nop",
                    "priority", "1")                     # overlaps the first at priority 1
    assert code == 0 and "warning" in err and "overlaps" in err
    code, err = run("table", "add", "1", "acl", "0x30&&&0xf0", "0/0", "action", "nop",
                    "priority", "1")                     # disjoint from the first on key a
    assert code == 0 and "warning: table acl: the entry overlaps 0x10&&&0x10" in err \
        and "0x10&&&0xf0" not in err


def test_stats_count_agreement_only_where_the_program_decided(tmp_path, capsys):
    prog = program()
    prog.mode = MODE_SHADOW
    obj = tmp_path / "shadow.rmtb"
    obj.write_bytes(objfile.write(prog))
    state = str(tmp_path / "state")

    def run(*argv):
        code = main(["--state", state, "--engine", "ref", *argv])
        return code, capsys.readouterr()
    run("insert", str(obj), "--force")
    c = ctx(tmp_path, a=5, b=15)
    run("prog", "run", "1", "--ctx", c, "--repeat", "4", "--kernel-decision", "42")  # misses
    j = json.loads(run("-j", "stats", "1")[1].out)
    assert j["shadow"] == {"agree": 0, "disagree": 0, "default": 4, "agreement": None}
    assert j["defaults"] == 4
    run("table", "add", "1", "policy", "5", "10..20", "action", "set", "42")
    run("prog", "run", "1", "--ctx", c, "--repeat", "3", "--kernel-decision", "42")
    run("prog", "run", "1", "--ctx", c, "--kernel-decision", "7")
    j = json.loads(run("-j", "stats", "1")[1].out)
    assert j["shadow"]["agree"] == 3 and j["shadow"]["disagree"] == 1
    assert j["shadow"]["default"] == 4 and j["shadow"]["agreement"] == 0.75
    text = run("stats", "1")[1].out
    assert "agreement 75.00% over 4 runs the program decided" in text
    assert "4 DEFAULT runs not counted" in text


def test_bad_input_ends_in_one_line(ctl):
    ctl("insert", ctl.obj, "--force")
    ctl("table", "add", "1", "policy", "5", "10..20", "action", "set", "1")
    c = ctx(ctl.dir, a=5, b=15)
    arr = ctl.dir / "arr.json"
    arr.write_text("[1, 2]")
    badjson = ctl.dir / "bad.json"
    badjson.write_text("{nope")
    for argv, code, text in [
        (("prog", "run", "1", "--ctx", c, "--repeat", "0"), 2, "--repeat 0"),
        (("prog", "run", "1", "--ctx", str(arr)), 2, "got a JSON list"),
        (("prog", "run", "1", "--ctx", str(badjson)), 2, "not JSON"),
        (("prog", "run", "1", "--ctx", c, "--repeat", "x"), 2, "invalid int"),
        (("model", "load", "1"), 2, "model load needs"),
        # numbers past what the target stores were SQLite OverflowError tracebacks
        (("prog", "run", "1", "--ctx", c, "--repeat", "1" + "0" * 20), 2, "must be in 1.."),
        (("show", "9" * 23), 1, "no program with id"),
        (("table", "add", "1", "policy", "5", "10..20", "action", "set", "1", "priority",
          "9" * 20), 2, "outside 0..2147483647"),
        (("table", "del", "1", "policy", "5", "10..20", "priority", str(1 << 63)), 2,
         "outside 0..2147483647"),
        # a context the verifier never considered (out of the hook's declared range; a
        # JSON bool) ran as given
        (("prog", "run", "1", "--ctx", '{"a": 1001}'), 2, "range hook test.sandbox declares"),
        (("prog", "run", "1", "--ctx", '{"a": true}'), 2, "true is not an integer"),
        (("prog", "run", "1", "--ctx", '{"now": -1}'), 2, "now -1 is outside"),
        (("prog", "run", "1", "--ctx", '{"cpu": true}'), 2, "must be integers"),
        (("prog", "run", "1", "--ctx", c, "--kernel-decision", str(1 << 64)), 2,
         "outside the s64 range"),
    ]:
        got, _, err = ctl(*argv)
        assert got == code and text in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert ctl("prog", "run", "1", "--ctx", c)[0] == 0           # one trace record pending
    for dest in ("/nonexistent/x", "/dev/full"):
        code, _, err = ctl("trace", "1", "-o", dest)
        assert code == 1 and "the records stay in the ring" in err, err
        assert len(err.strip().splitlines()) == 1
    assert len(ctl("trace", "1", "--keep")[1].splitlines()) == 1  # nothing was lost


def test_context_inline_from_a_file_or_stdin(ctl, monkeypatch):
    import io
    ctl("insert", ctl.obj, "--force")
    ctl("table", "add", "1", "policy", "5", "10..20", "action", "set", "1")
    f = ctx(ctl.dir, a=5, b=15)
    inline = Path(f).read_text()
    assert inline.lstrip().startswith("{")
    from_file = ctl("prog", "run", "1", "--ctx", f)
    assert from_file[0] == 0 and ctl("prog", "run", "1", "--ctx", inline) == from_file
    monkeypatch.setattr(sys, "stdin", io.StringIO(inline))
    assert ctl("prog", "run", "1", "--ctx", "-") == from_file
    code, _, err = ctl("prog", "run", "1", "--ctx", "[1, 2]")
    assert code == 2 and "got a JSON list" in err and len(err.strip().splitlines()) == 1
    assert ctl("stats", "1", "-j")[1].count("runs") and json.loads(
        ctl("stats", "1", "-j")[1])["runs"] == 3


def test_a_match_of_the_wrong_kind_says_how_to_write_the_right_one(ctl):
    ctl("insert", ctl.obj, "--force")
    code, _, err = ctl("table", "add", "1", "policy", "5", "10/4", "action", "set", "1")
    assert code != 0 and "is range" in err and "as LO..HI" in err, err


def test_broken_pipe_keeps_the_trace(ctl):
    ctl("insert", ctl.obj, "--force")
    ctl("table", "add", "1", "policy", "5", "10..20", "action", "set", "1")
    ctl("prog", "run", "1", "--ctx", ctx(ctl.dir, a=5, b=15), "--repeat", "50")
    p = subprocess.Popen([sys.executable, "-m", "rmt.ctl.cli", "--state", str(ctl.state),
                          "--engine", "ref", "trace", "1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.close()                                 # the reader goes away, as `| head` does
    err = p.stderr.read().decode()
    assert p.wait() == 1 and "broken pipe" in err and "Traceback" not in err
    assert len(ctl("trace", "1", "--keep")[1].splitlines()) == 50


def test_corrupt_state_names_the_file_and_a_way_out(ctl):
    ctl("insert", ctl.obj, "--force")
    ctl("insert", ctl.obj, "--force")
    con = sqlite3.connect(ctl.state / "state.db")
    con.execute("UPDATE progs SET blob=x'00' WHERE id=1")
    con.execute("UPDATE progs SET stats='{' WHERE id=2")
    con.commit()
    con.close()
    code, _, err = ctl("show", "1")
    assert code == 1 and "state.db: program 1" in err and "remove --force 1" in err
    code, _, err = ctl("stats", "2")
    assert code == 1 and "remove --force 2" in err
    assert ctl("remove", "--force", "1")[0] == 0 and ctl("remove", "2")[0] == 0
    (ctl.state / "state.db").write_bytes(b"garbage" * 1000)
    for f in ("state.db-wal", "state.db-shm"):
        (ctl.state / f).unlink(missing_ok=True)
    code, _, err = ctl("list")
    assert code == 1 and "state.db" in err and "mv " in err and "Traceback" not in err


def test_old_state_layout_is_imported(tmp_path, capsys):
    """A state directory written by the JSON-file sim target is read into state.db once."""
    from rmt.ctl.sim import entry_to_json
    from rmt.contract.engine import Entry, Exact, Range
    state = tmp_path / "state"
    d = state / "progs" / "3"
    d.mkdir(parents=True)
    blob = objfile.write(program())
    (d / "prog.rmtb").write_bytes(blob)
    (d / "tables.json").write_text(json.dumps({"0": [entry_to_json(
        Entry((Exact(5), Range(1, 2)), 0, (7).to_bytes(4, "little"), 0), hits=4)]}))
    (d / "maps.json").write_text(json.dumps({"0": {"5": 9}}))
    (d / "trace.jsonl").write_text(json.dumps({"fmt": 0, "cpu": 0, "ts": 0, "values": [1]})
                                   + "\n{\"half")
    (state / "state.json").write_text(json.dumps({"next_id": 4, "progs": {"3": {
        "id": 3, "name": "demo", "hook": "test.sandbox", "mode": "enforce", "sha256": "x",
        "verdict": "forced", "inserted": 0.0, "ninsns": 13, "jit": None}}}))
    t = SimTarget(state)
    assert [i.id for i in t.list()] == [3]
    assert "imported 1 program(s)" in capsys.readouterr().err
    assert [s.hits for s in t.table_dump(3, 0)] == [4]
    assert t.map_dump(3, 0) == {5: 9}
    assert len(t.trace(3)) == 1
    assert (state / "state.json").exists()               # the old files are kept


def test_bash_completion_and_man_page(tmp_path):
    pytest.importorskip("argcomplete")
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": "rmtctl table ", "COMP_POINT": "13",
           "_ARGCOMPLETE_IFS": " "}
    r = subprocess.run(f"{sys.executable} -m rmt.ctl.cli 8>&1 9>/dev/null", shell=True, env=env,
                       cwd=ROOT, text=True, capture_output=True)   # argcomplete answers on fd 8
    assert set("add mod del dump clear".split()) <= set(r.stdout.split()), r
    manpage = pytest.importorskip("argparse_manpage")
    out = tmp_path / "rmtctl.8"
    r = subprocess.run([sys.executable, "-m", "argparse_manpage", "--module", "rmt.ctl.cli",
                        "--function", "build_parser", "--prog", "rmtctl", "--output",
                        str(out)], cwd=ROOT, capture_output=True, text=True)
    if r.returncode and "No module named argparse_manpage.__main__" in r.stderr:
        r = subprocess.run([str(Path(sys.executable).parent / "argparse-manpage"), "--module",
                            "rmt.ctl.cli", "--function", "build_parser", "--prog", "rmtctl",
                            "--output", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "rmtctl table" in text.replace("\\fB", "").replace("\\fR", "") or ".B rmtctl" in text
    assert "\\-\\-json" in text and "table" in text and manpage


def test_model_versions_persist_across_commands(tmp_path, capsys):
    """Each `model load` is a new process; the versions still count 1, 2, 3 (they were 1, 2,
    2, ... when the engine rebuilt for every command numbered them)."""
    obj = tmp_path / "fm.rmtb"
    subprocess.run([str(ROOT / ".venv/bin/rmtc"), "compile",
                    str(ROOT / "examples/forced_migration.rmt"), "-o", str(obj)], check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "rmt.casestudies.example_weights", str(obj), "-o",
                    str(tmp_path)], check=True, capture_output=True)
    state = str(tmp_path / "state")
    assert main(["--state", state, "--engine", "ref", "insert", str(obj), "--force"]) == 0
    versions = []
    for _ in range(3):
        capsys.readouterr()
        assert main(["--state", state, "--engine", "ref", "-j", "model", "load", "1",
                     "predictor", str(tmp_path / "predictor.bin")]) == 0
        versions.append(json.loads(capsys.readouterr().out)["version"])
    assert versions == [1, 2, 3]
    bad = tmp_path / "bad.bin"
    bad.write_bytes((tmp_path / "tree_predictor.bin").read_bytes())
    code = main(["--state", state, "--engine", "ref", "model", "load", "1", "predictor", str(bad)])
    assert code == 1 and "EINVAL" in capsys.readouterr().err
    capsys.readouterr()
    main(["--state", state, "-j", "model", "show", "1"])
    assert json.loads(capsys.readouterr().out)[0]["version"] == 3


def test_progress_line_on_a_terminal_only(ctl, monkeypatch):
    import io
    import time as _time

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def slow(blob, name, opts=None):
        _time.sleep(1.5)
        return True, ""
    monkeypatch.setattr(cli, "verify_object", slow)
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["--state", str(ctl.state), "--engine", "ref", "insert", ctl.obj]) == 0
    assert f"\rverifying {ctl.obj} ..." in tty.getvalue()
    monkeypatch.undo()
    monkeypatch.setattr(cli, "verify_object", slow)
    code, _, err = ctl("insert", ctl.obj)              # not a terminal: no progress line
    assert code == 0 and "verifying" not in err


GUARDED = """hook sched.can_migrate_task;
apply {
    if ctx.task_hot == 1 { decide(DENY); }
    else if ctx.idle == 2 { decide(ctx.src_cpu as i64); }
}
guard { allow DENY, ALLOW; max_streak DENY 1 per ctx.pid; }
"""


def test_stats_count_guard_trips_apart(tmp_path, capsys):
    """A guard's DEFAULT is counted as a guard trip, apart from the program's own DEFAULTs
    and from aborts, in JSON and in text."""
    from rmt.compiler import compile_source
    obj = tmp_path / "guarded.rmtb"
    obj.write_bytes(objfile.write(compile_source(GUARDED, "guarded.rmt")))
    state = str(tmp_path / "state")

    def run(*argv):
        code = main(["--state", state, "--engine", "ref", *argv])
        out = capsys.readouterr()
        assert code == 0, out.err
        return out.out
    run("insert", str(obj))
    run("prog", "run", "1", "--ctx", json.dumps({"pid": 3, "task_hot": 1}), "--repeat", "2")
    run("prog", "run", "1", "--ctx", json.dumps({"pid": 3, "idle": 2, "src_cpu": 9}))
    run("prog", "run", "1", "--ctx", json.dumps({"pid": 3}), "--repeat", "2")
    j = json.loads(run("-j", "stats", "1"))
    # DENY, then the streak guard trips; src_cpu 9 trips `allow`; then 2 DEFAULTs of its own
    assert j["runs"] == 5 and j["defaults"] == 4 and j["aborted"] == 0
    assert j["decisions"]["DENY"] == 1 and j["guard_trips"] == 2
    assert "guard trips 2;" in run("stats", "1")
