"""rmtctl's packing of struct rmt_swap_prefetch_stats (RMT_IOC_HOOK_PREFETCH) against the
C header, compiled: every counter's offset, the size, the ioctl number."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.ctl import kernel as K

ROOT = Path(__file__).resolve().parents[1]


def test_prefetch_stats_layout_matches_the_c_header(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc")
    names = ["abi", "mechanism", "queue_len", "ncpus", "queue_bytes", *K.PF_COUNTERS]
    lines = [f'printf("%zu\\n", offsetof(struct rmt_swap_prefetch_stats, {n}));' for n in names]
    src = tmp_path / "l.c"
    src.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "uapi/rmt_hooks.h"\n'
                   "int main(void) {\n" + "\n".join(lines) + "\n"
                   'printf("%zu %lu\\n", sizeof(struct rmt_swap_prefetch_stats), '
                   "(unsigned long)RMT_IOC_HOOK_PREFETCH);\nreturn 0; }\n")
    exe = tmp_path / "l"
    subprocess.run(["gcc", "-I", str(ROOT / "vm_kernel"), "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    want = [0, 4, 8, 12] + [16 + 8 * i for i in range(1 + len(K.PF_COUNTERS))]
    assert [int(x) for x in out[:len(names)]] == want
    assert int(out[len(names)]) == K.PF_SIZE
    assert int(out[len(names) + 1]) == K.IOC_HOOK_PREFETCH
    # every outcome a requested page can end in is a counter
    assert set(K.PF_OUTCOMES) <= set(K.PF_COUNTERS)
