"""The ctypes mirror of the /dev/rmt ABI (rmtctl/kernel_abi.py) matches vm_kernel/uapi/rmt.h.

A C program compiled against the header prints every struct's size, every field's offset and
every command number; the Python side must agree on each, so neither can change alone.
Host-only (gcc and the kernel's uapi <linux/types.h>), no module needed.
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.ctl import kernel_abi as A

ROOT = Path(__file__).resolve().parents[1]


def _c_program() -> str:
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "uapi/rmt.h"',
             'int main(void) {']
    for cls, name in A.C_NAMES.items():
        lines.append(f'printf("size {name} %zu\\n", sizeof(struct {name}));')
        for field, *_ in cls._fields_:
            lines.append(f'printf("off {name}.{field} %zu\\n", '
                         f'offsetof(struct {name}, {field}));')
    for cmd in A.IOC:
        lines.append(f'printf("ioc {cmd} %lu\\n", (unsigned long){cmd});')
    for const in ("RMT_ABI_VERSION", "RMT_IOC_MAGIC", "RMT_IOC_MAX_KEYS",
                  "RMT_IOC_MAX_PARAM_SIZE", "RMT_IOC_MAX_TRACE_FIELDS", "RMT_IOC_NR_ABORTS",
                  "RMT_IOC_MAX_DECISIONS", "RMT_IOC_MAX_PROGS", "RMT_IOC_MAX_BATCH",
                  "RMT_IOC_MAX_ERR", "RMT_IOC_MAX_CTX", "RMT_LOAD_F_JIT", "RMT_LOAD_F_VERIFIED",
                  "RMT_LOAD_F_FORCED", "RMT_RUN_F_SHADOW", "RMT_IOC_HOOK_NR_FIRST",
                  "RMT_IOC_HOOK_NR_LAST",
                  # candidate models
                  "RMT_IOC_MODEL_OP_PROMOTE", "RMT_IOC_MODEL_OP_ROLLBACK",
                  "RMT_IOC_MODEL_OP_UNSTAGE", "RMT_IOC_MODEL_HISTORY",
                  "RMT_IOC_TRACE_FMT_CANDIDATE"):
        lines.append(f'printf("const {const} %lu\\n", (unsigned long)({const}));')
    lines += ['return 0;', '}']
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("abi")
    (d / "abi.c").write_text(_c_program())
    cc = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-I", str(ROOT / "vm_kernel"),
                         "-o", str(d / "abi"), str(d / "abi.c")], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(d / "abi")], capture_output=True, text=True, check=True).stdout
    return {f"{kind} {name}": int(v) for kind, name, v in (ln.split() for ln in out.splitlines())}


def test_struct_sizes_match_the_header(c_layout: dict[str, int]) -> None:
    for cls, name in A.C_NAMES.items():
        assert ctypes.sizeof(cls) == c_layout[f"size {name}"], name


def test_field_offsets_match_the_header(c_layout: dict[str, int]) -> None:
    for cls, name in A.C_NAMES.items():
        for field, *_ in cls._fields_:
            assert getattr(cls, field).offset == c_layout[f"off {name}.{field}"], \
                f"{name}.{field}"


def test_every_header_struct_is_mirrored() -> None:
    text = (ROOT / "vm_kernel" / "uapi" / "rmt.h").read_text()
    import re
    declared = set(re.findall(r"^struct (rmt_ioc_\w+) \{", text, re.M))
    assert declared == set(A.C_NAMES.values())


def test_command_numbers_and_constants_match(c_layout: dict[str, int]) -> None:
    for cmd, value in A.IOC.items():
        assert value == c_layout[f"ioc {cmd}"], cmd
    py = {"RMT_ABI_VERSION": A.ABI_VERSION, "RMT_IOC_MAGIC": A.IOC_MAGIC,
          "RMT_IOC_MAX_KEYS": A.MAX_KEYS, "RMT_IOC_MAX_PARAM_SIZE": A.MAX_PARAM_SIZE,
          "RMT_IOC_MAX_TRACE_FIELDS": A.MAX_TRACE_FIELDS, "RMT_IOC_NR_ABORTS": A.NR_ABORTS,
          "RMT_IOC_MAX_DECISIONS": A.MAX_DECISIONS, "RMT_IOC_MAX_PROGS": A.MAX_PROGS,
          "RMT_IOC_MAX_BATCH": A.MAX_BATCH, "RMT_IOC_MAX_ERR": A.MAX_ERR,
          "RMT_IOC_MAX_CTX": A.MAX_CTX, "RMT_LOAD_F_JIT": A.LOAD_F_JIT,
          "RMT_LOAD_F_VERIFIED": A.LOAD_F_VERIFIED, "RMT_LOAD_F_FORCED": A.LOAD_F_FORCED,
          "RMT_RUN_F_SHADOW": A.RUN_F_SHADOW, "RMT_IOC_HOOK_NR_FIRST": A.HOOK_NR_FIRST,
          "RMT_IOC_HOOK_NR_LAST": A.HOOK_NR_LAST,
          # candidate models
          "RMT_IOC_MODEL_OP_PROMOTE": A.MODEL_OP_PROMOTE,
          "RMT_IOC_MODEL_OP_ROLLBACK": A.MODEL_OP_ROLLBACK,
          "RMT_IOC_MODEL_OP_UNSTAGE": A.MODEL_OP_UNSTAGE,
          "RMT_IOC_MODEL_HISTORY": A.MODEL_HISTORY,
          "RMT_IOC_TRACE_FMT_CANDIDATE": A.TRACE_FMT_CANDIDATE}
    for const, value in py.items():
        assert value == c_layout[f"const {const}"], const


def test_uapi_mirrors_match_the_vm_structs() -> None:
    """rmt_kmod_dev.c checks this with BUILD_BUG_ON; here for a host without kernel headers."""
    from rmt.vm.lib import load_lib
    ffi = load_lib(False).ffi
    assert ctypes.sizeof(A.EntrySpec) == ffi.sizeof("struct rmt_entry_spec")
    assert ctypes.sizeof(A.EntryDump) == ffi.sizeof("struct rmt_entry_dump")
    assert ctypes.sizeof(A.Counters) == ffi.sizeof("struct rmt_stats")
