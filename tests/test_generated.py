"""The generated C headers in vm_kernel/core/ must match the Python contracts.

compiler/cgen.py writes them from compiler/isa.py, compiler/objformat.py and
rmt_lang/hooks.py; a contract change without `python -m compiler.cgen` would
leave the C VM disagreeing with every Python stage, so this fails loudly.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from compiler import cgen, isa
from compiler import objformat as F
from rmt_lang.hooks import HOOKS, hook_hash

ROOT = Path(__file__).resolve().parent.parent


def test_headers_are_fresh():
    assert cgen.stale() == [], "run `python -m compiler.cgen` and commit vm_kernel/core/*.h"


def test_check_flag_detects_a_stale_header(tmp_path):
    assert cgen.main(["--out", str(tmp_path)]) == 0
    assert cgen.main(["--check", "--out", str(tmp_path)]) == 0
    p = tmp_path / "rmt_isa.h"
    p.write_text(p.read_text().replace("X(ADD_R, 0x00", "X(ADD_R, 0x7f"))
    r = subprocess.run([sys.executable, "-m", "compiler.cgen", "--check", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "rmt_isa.h is stale" in r.stderr


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
