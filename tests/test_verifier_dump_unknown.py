"""`rmtc dump` and `rmtc verify` read an object with an opcode this build does not know
without raising: the dump shows it as `.insn`, the verifier rejects it as WellFormed."""
from __future__ import annotations

import dataclasses
import json

from rmt.compiler import compile_source
from rmt.contract import objfile
from rmt.rmtc import main as rmtc


def test_unknown_opcode_is_dumped_and_rejected(tmp_path, capsys) -> None:
    p = compile_source("hook test.sandbox;\napply { decide(1); }\n", "x.rmt")
    code = [dataclasses.replace(p.code[0], code=0xEE)] + list(p.code)
    path = tmp_path / "bad.rmtb"
    path.write_bytes(objfile.write(dataclasses.replace(p, code=code)))
    assert rmtc(["dump", str(path)]) == 0
    assert ".insn 0xee" in capsys.readouterr().out
    assert rmtc(["dump", "--json", str(path)]) == 0
    insns = json.loads(capsys.readouterr().out)["code"]
    assert insns[0]["cost"] == 0 and insns[0]["text"].startswith(".insn 0xee")
    assert rmtc(["verify", str(path)]) == 1
    assert "unknown opcode: 0xee (WellFormed)" in capsys.readouterr().out
