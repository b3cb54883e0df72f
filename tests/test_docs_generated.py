"""docs/isa.md and docs/object-format.md are generated from the contracts: fail when stale."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rmt.compiler import formatdoc

ROOT = Path(__file__).resolve().parent.parent


def test_generated_docs_are_fresh():
    for rel, gen in formatdoc.DOCS.items():
        assert (ROOT / rel).read_text() == gen(), f"{rel} is stale: run python -m rmt.compiler.formatdoc"


def test_check_mode_exits_nonzero_when_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(formatdoc, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    assert formatdoc.main(["--check"]) == 1          # missing files count as stale
    assert formatdoc.main([]) == 0
    assert formatdoc.main(["--check"]) == 0
    p = tmp_path / "docs/isa.md"
    p.write_text(p.read_text().replace("ADD_R", "ADD_X"))
    assert formatdoc.main(["--check"]) == 1


def test_every_opcode_and_record_is_documented():
    isa_md = (ROOT / "docs/isa.md").read_text()
    fmt_md = (ROOT / "docs/object-format.md").read_text()
    from rmt.compiler import isa, objformat
    assert all(f"`{op.name}`" in isa_md for op in isa.OPCODES)
    assert all(f"**{r.name}**" in fmt_md for r in objformat.OBJ_RECORDS + objformat.WEIGHT_RECORDS)
