"""The JIT context's layout is written down three times; they must agree.

vm_kernel/core/rmt_jit.h declares struct rmt_jit_ctx and the RMT_JC_* offsets the
x86-64 JIT (rmt_jit.c) encodes into instructions; rmt_vm/llvm_jit.py keeps
its own JC_* copy for the llvmlite engine.  A field added or moved in one
place and not the others would make native code read the wrong field, so:
each RMT_JC_* must be offsetof() of its field (compiled by gcc against the
header), and each llvm_jit.JC_* the RMT_JC_* of the same name.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.vm import llvm_jit

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "vm_kernel" / "core" / "rmt_jit.h"


def _defines() -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"#define RMT_JC_(\w+) (\d+)",
                                                   HEADER.read_text())}


def test_header_offsets_are_the_struct_layout(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    defs = _defines()
    assert {"SCRATCH", "CTX", "PARAMS", "MIN", "MOUT", "NOW", "CPU", "ABORT"} <= set(defs)
    lines = "".join(f'\tprintf("{n} %zu %d\\n", offsetof(struct rmt_jit_ctx, {n.lower()}), '
                    f"RMT_JC_{n});\n" for n in defs)
    src = tmp_path / "layout.c"
    src.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "rmt_jit.h"\n'
                   f"int main(void)\n{{\n{lines}\treturn 0;\n}}\n")
    exe = tmp_path / "layout"
    build = subprocess.run(["gcc", f"-I{ROOT / 'vm_kernel' / 'core'}", str(src), "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        name, real, declared = line.split()
        assert int(real) == int(declared), f"RMT_JC_{name} is {declared}, the field is at {real}"


def test_llvm_jit_offsets_match_the_header() -> None:
    defs = _defines()
    mine = {n[3:]: v for n, v in vars(llvm_jit).items() if re.fullmatch(r"JC_\w+", n)}
    assert mine, "rmt_vm/llvm_jit.py defines no JC_* offsets"
    for name, value in mine.items():
        assert name in defs, f"llvm_jit.JC_{name} has no RMT_JC_{name} in rmt_jit.h"
        assert value == defs[name], f"llvm_jit.JC_{name} = {value}, rmt_jit.h says {defs[name]}"
