"""Every file generated from the contracts (the VM's C headers, docs/isa.md,
docs/object-format.md, docs/hooks.md) must match them: `python -m rmt.contract.gen`
writes them all; a contract change without it would leave the C VM or the docs disagreeing
with every Python stage, so this fails loudly, naming the stale file."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rmt.contract import gen
from rmt.contract import isa
from rmt.contract import objformat as F
from rmt.contract.hooks import HOOKS, hook_hash

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_file_is_fresh():
    assert gen.stale() == [], "run `python -m rmt.contract.gen` and commit the files it wrote"


def test_generated_set_covers_headers_and_docs():
    outs = set(gen.outputs())
    assert {"vm_kernel/core/rmt_isa.h", "vm_kernel/core/rmt_format.h", "vm_kernel/core/rmt_hooks.h",
            "docs/isa.md", "docs/object-format.md", "docs/hooks.md"} <= outs, outs


def test_check_names_exactly_the_stale_file(tmp_path):
    """Written into an empty tree, every file checks fresh; one file changed (as a contract
    change would change it) is the one and only file --check names, until regenerated."""
    assert gen.main(["--check", "--root", str(tmp_path)]) == 1      # missing counts as stale
    assert gen.main(["--root", str(tmp_path)]) == 0
    assert gen.stale(tmp_path) == []
    p = tmp_path / "vm_kernel/core/rmt_isa.h"
    p.write_text(p.read_text().replace("X(ADD_R, 0x00", "X(ADD_R, 0x7f"))
    r = subprocess.run([sys.executable, "-m", "rmt.contract.gen", "--check", "--root", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["vm_kernel/core/rmt_isa.h is stale: run `python -m rmt.contract.gen`"]
    assert gen.main(["--root", str(tmp_path)]) == 0 and gen.stale(tmp_path) == []


def test_every_opcode_record_and_hook_field_is_documented():
    isa_md = (ROOT / "docs/isa.md").read_text()
    fmt_md = (ROOT / "docs/object-format.md").read_text()
    hooks_md = (ROOT / "docs/hooks.md").read_text()
    assert all(f"`{op.name}`" in isa_md for op in isa.OPCODES)
    assert all(f"**{r.name}**" in fmt_md for r in F.OBJ_RECORDS + F.WEIGHT_RECORDS)
    for spec in HOOKS.values():
        assert f"## `{spec.name}`" in hooks_md
        assert all(f"| `{f.name}` |" in hooks_md for f in spec.fields)


def test_isa_header_lists_every_opcode():
    text = (ROOT / "vm_kernel/core/rmt_isa.h").read_text()
    found = re.findall(r"X\((\w+), 0x([0-9a-f]+), (\w+), (\d+)\)", text)
    assert [(n, int(c, 16), f, int(k)) for n, c, f, k in found] == \
        [(op.name, op.code, op.fmt.name, op.cost) for op in isa.OPCODES]


def test_format_header_sizes_and_limits():
    text = (ROOT / "vm_kernel/core/rmt_format.h").read_text()
    for rec in F.OBJ_RECORDS + F.WEIGHT_RECORDS:
        assert f"sizeof(struct rmt_rec_{rec.name}) == {rec.size}" in text
    for k, v in F.LIMITS.items():
        assert f"#define RMT_{k} {v}\n" in text


def test_hooks_header_hashes():
    text = (ROOT / "vm_kernel/core/rmt_hooks.h").read_text()
    for h in HOOKS.values():
        up = h.name.replace(".", "_").upper()
        assert f"#define RMT_HOOK_{up}_HASH 0x{hook_hash(h):08x}u" in text
        assert f"#define RMT_HOOK_{up}_CTX_SIZE {h.ctx_size}\n" in text


def test_headers_compile_with_layout_asserts(tmp_path):
    """The _Static_asserts on record sizes and context offsets must hold in C."""
    src = tmp_path / "t.c"
    src.write_text('#define RMT_HOOKS_DEFINE_TABLES\n#include "rmt_isa.h"\n'
                   '#include "rmt_format.h"\n#include "rmt_hooks.h"\nint main(void) { return 0; }\n')
    r = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-I", str(ROOT / "vm_kernel" / "core"),
                        "-c", str(src), "-o", str(tmp_path / "t.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cost_model_reads_the_isa_costs(monkeypatch):
    """compiler/cost.py charges each opcode the cost the ISA states (and the generated header
    and docs carry), not a private copy: raising one opcode's cost raises its instructions'."""
    from dataclasses import replace

    from rmt.compiler import compile_source
    from rmt.compiler import cost
    prog = compile_source((ROOT / "examples" / "forced_migration.rmt").read_text(), "fm.rmt")
    before = [cost.insn_cost(prog, i) for i in prog.code]
    for name in ("ADD_I", "APPLY", "CALLM", "TRACE", "EXIT"):
        op = isa.BY_NAME[name]
        monkeypatch.setitem(cost.BY_CODE, op.code, replace(op, cost=op.cost + 5))
    after = [cost.insn_cost(prog, i) for i in prog.code]
    bumped = {isa.BY_NAME[n].code for n in ("ADD_I", "APPLY", "CALLM", "TRACE", "EXIT")}
    assert [a - b for a, b in zip(after, before)] == \
        [5 if i.code in bumped else 0 for i in prog.code]
    assert any(i.code == isa.BY_NAME["APPLY"].code for i in prog.code)
