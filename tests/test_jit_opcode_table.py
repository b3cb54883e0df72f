"""Both C JITs refuse, at build time, an opcode they do not know.

contract/isa.py's OPCODES list is generated into rmt_isa.h's RMT_OPCODES
X-macro; the x86-64 JIT (vm_kernel/core/rmt_jit.c) and rmt.ko's eBPF JIT
(vm_kernel/kmod/rmt_kmod_jit.c) expand it into a per-opcode table that names
J_OP_<NAME> / KJ_OP_<NAME> for every opcode.  These tests add an opcode to the
list, regenerate the header and build each JIT against it: the build must
fail naming the new opcode, and succeed once the JIT marks it
interpreter-only.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.contract import cgen
from rmt.contract import isa

ROOT = Path(__file__).resolve().parent.parent
VM = ROOT / "vm_kernel"
CORE = VM / "core"
KDIRS = sorted(glob.glob("/usr/src/linux-headers-*-amd64"))
NEW = "FOO_TEST"


def _isa_with_new_opcode(monkeypatch: pytest.MonkeyPatch) -> str:
    """rmt_isa.h as cgen writes it when OPCODES has one more entry."""
    free = next(c for c in range(256) if c not in isa.BY_CODE)
    monkeypatch.setattr(isa, "OPCODES",
                        [*isa.OPCODES, isa.Op(NEW, free, isa.Fmt.ALU_R, "a test opcode")])
    return cgen.gen_isa()


def _core_copy(tmp_path: Path, isa_h: str | None = None) -> Path:
    """vm_kernel/core/ in @tmp_path, with @isa_h as its rmt_isa.h (a quoted #include
    looks in the including file's directory first, so the header is replaced in place)."""
    core = tmp_path / "core"
    shutil.copytree(CORE, core)
    if isa_h is not None:
        (core / "rmt_isa.h").write_text(isa_h)
    return core


def _gcc_syntax(jit_c: Path, prefix: str = "") -> subprocess.CompletedProcess:
    src = jit_c.parent / "jit_test.c"
    src.write_text(f'{prefix}#include "rmt_jit.c"\n')
    return subprocess.run(["gcc", "-std=gnu11", "-fsyntax-only", "-Wall", "-Wno-override-init",
                           f"-I{jit_c.parent}", str(src)], capture_output=True, text=True)


def test_the_generated_list_builds_as_is(tmp_path: Path) -> None:
    r = _gcc_syntax(_core_copy(tmp_path) / "rmt_jit.c")
    assert r.returncode == 0, r.stderr


def test_x86_jit_refuses_an_unknown_opcode_at_build_time(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    jit_c = _core_copy(tmp_path, _isa_with_new_opcode(monkeypatch)) / "rmt_jit.c"
    r = _gcc_syntax(jit_c)
    assert r.returncode != 0
    assert f"J_OP_{NEW}" in r.stderr, r.stderr
    # Marked interpreter-only, it builds.
    r = _gcc_syntax(jit_c, prefix=f"#define J_OP_{NEW} J_INTERP_ONLY\n")
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not KDIRS, reason="no kernel headers in /usr/src/linux-headers-*-amd64 "
                                      "(apt-get install linux-headers-amd64)")
def test_kernel_jit_refuses_an_unknown_opcode_at_build_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "vm_kernel"
    shutil.copytree(VM, src, ignore=shutil.ignore_patterns("*.o", "*.ko", "*.cmd", "*.mod*"))
    (src / "core" / "rmt_isa.h").write_text(_isa_with_new_opcode(monkeypatch))

    def build() -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-C", KDIRS[-1], f"M={src}", "kmod/rmt_kmod_jit.o"],
                              capture_output=True, text=True, timeout=600)

    r = build()
    assert r.returncode != 0
    assert f"KJ_OP_{NEW}" in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
    jit = src / "kmod" / "rmt_kmod_jit.c"
    text = jit.read_text()
    anchor = "#define KJ_OP_EXIT"
    assert anchor in text
    jit.write_text(text.replace(anchor, f"#define KJ_OP_{NEW}\tKJ_INTERP_ONLY\n{anchor}"))
    r = build()
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
