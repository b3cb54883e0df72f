"""The /dev/rmt ioctl caps, checked on the module's own code in userspace.

tools/fuzz/fuzz_ioctl.c built as the plain expectation recorder (gcc, `make -C tools/fuzz
expect`) compiles vm_kernel/kmod/rmt_kmod_dev.c against fake kernel headers and prints the
return code of every call of an input.  Here one session asks each batched command for one
record more than RMT_IOC_MAX_BATCH (and exactly that many): the module must refuse the first
with -EINVAL before it allocates or copies anything.  Raising a cap (tools/mutate_c.py's
"ioctl: ... batch cap" mutants) fails this test.
"""
from __future__ import annotations

import errno
import struct
import subprocess
from pathlib import Path

import pytest

from rmt.contract import objfile
from rmt.ctl import kernel_abi as A
from test_rmtctl_sim import program

import seeds as S    # tools/fuzz/seeds.py: the input format

ROOT = Path(__file__).resolve().parents[1]

MAX = A.MAX_BATCH


@pytest.fixture(scope="module")
def expect_bin() -> Path:
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "tools" / "fuzz"), "expect"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ROOT / "build" / "fuzz" / "fuzz_ioctl_expect"


def _session() -> tuple[bytes, list[tuple[str, int]]]:
    """The input, and (what, expected rc) per call after the load."""
    obj = objfile.write(program())
    out = S.ioc_call("VERSION", struct.pack("<8I", 1, *[0] * 7))
    out += S.ioc_write(S.A_OBJ, obj)
    out += S.ioc_call("PROG_LOAD", struct.pack("<IIQIIQQII", 1, 0, S.ARENA + S.A_OBJ,
                                               len(obj), 16, 0, S.ARENA + S.A_ERR, 256, 0))
    want: list[tuple[str, int]] = []
    out_at = S.ARENA + S.A_OUT
    for n, rc in ((MAX + 1, -errno.EINVAL), (MAX, 0)):
        out += S.ioc_call("MAP_READ", struct.pack("<IIIIQQQ", 1, 1, 0, n, 0, out_at, out_at))
        want.append((f"MAP_READ count {n}", rc))
    for n, rc in ((MAX + 1, -errno.EINVAL), (0, 0)):
        out += S.ioc_call("TABLE_BATCH", struct.pack("<IIIIQQII", 1, 1, 0, n, out_at, 0, 0, 0))
        want.append((f"TABLE_BATCH count {n}", rc))
    for n, rc in ((MAX + 1, -errno.EINVAL), (MAX, 0)):
        out += S.ioc_call("TABLE_DUMP", struct.pack("<IIIIIIQQ", 1, 1, 0, 0, n, 0, out_at, 0))
        want.append((f"TABLE_DUMP count {n}", rc))
    for n, rc in ((MAX + 1, -errno.EINVAL), (MAX, 0)):
        out += S.ioc_call("TRACE_PEEK", struct.pack("<IIIIQQQ", 1, 1, n, 0, 0, 0, out_at))
        want.append((f"TRACE_PEEK count {n}", rc))
    return out, want


def test_batched_commands_refuse_one_past_the_cap(expect_bin: Path, tmp_path: Path) -> None:
    data, want = _session()
    f = tmp_path / "caps"
    f.write_bytes(data)
    line = subprocess.run([str(expect_bin), str(f)], capture_output=True, text=True,
                          check=True).stdout.split()
    rcs = [int(x) for x in line[3:]]
    assert rcs[:2] == [0, 0], f"VERSION, PROG_LOAD: {rcs[:2]}"      # loaded as program 1
    got = list(zip([w for w, _ in want], rcs[2:]))
    assert got == want
