"""Build and run the C unit tests of the tables and the model engine (tests/c/).

The C sources are the ones rmt.ko is built from, so they are tested in C:
each tests/c/test_*.c is compiled with the VM sources under AddressSanitizer
and UndefinedBehaviorSanitizer (any report is fatal) and must exit 0.  A
second test builds vm_kernel/rmt_table.c and rmt_model.c as a stub kernel
module against Debian's 6.1 headers, so they provably compile in the kernel
too; it is skipped only when the headers are not installed.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VM = ROOT / "vm_kernel"
CDIR = ROOT / "tests" / "c"
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
WARN = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]

# test program -> the VM sources it needs (rmt_compat.c: userspace RCU)
TESTS = {
    "test_tables": ["rmt_table.c"],
    "test_models": ["rmt_model.c"],
    "test_concurrency": ["rmt_table.c", "rmt_model.c"],
}


def _gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    return gcc


@pytest.mark.parametrize("name", sorted(TESTS))
def test_c_unit(name: str, tmp_path: Path) -> None:
    exe = tmp_path / name
    srcs = [CDIR / f"{name}.c"] + [VM / s for s in TESTS[name]] + [VM / "rmt_compat.c"]
    cmd = [_gcc(), *SANITIZE, *WARN, f"-I{VM}", f"-I{CDIR}", *map(str, srcs), "-o", str(exe),
           "-lpthread"]
    build = subprocess.run(cmd, capture_output=True, text=True)
    assert build.returncode == 0, f"compile failed:\n{build.stderr}"
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{name} failed:\n{run.stdout}\n{run.stderr}"
    assert f"{name}: ok" in run.stdout, run.stdout


def _headers() -> Path | None:
    found = sorted(glob.glob("/usr/src/linux-headers-6.1.*-amd64"))
    return Path(found[-1]) if found else None


_STUB = """\
// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include "rmt_table.h"
#include "rmt_model.h"

/* Reference the API so the linker keeps it and modpost checks its symbols. */
static int __init stub_init(void)
{
	struct rmt_model_slot slot;
	struct rmt_table *t = NULL;
	struct rmt_table_schema s = { .max_entries = 1, .nkeys = 1, .nactions = 1,
				      .keys = { { RMT_MATCH_EXACT, 8 } } };
	u64 ov = 0, key = 0;
	const u8 *params;
	s32 in = 0, out;
	u16 action;

	if (rmt_table_create(&s, &t, NULL, 0))
		return -ENOMEM;
	rcu_read_lock();
	rmt_table_lookup(t, &key, &action, &params);
	rcu_read_unlock();
	rmt_table_destroy(t);
	rmt_model_slot_init(&slot);
	if (rmt_model_infer(&slot, &in, &out, &ov) != -ENOENT)
		return -EINVAL;
	rmt_model_slot_destroy(&slot);
	return 0;
}

static void __exit stub_exit(void)
{
}

module_init(stub_init);
module_exit(stub_exit);
MODULE_LICENSE("GPL");
"""


def test_kernel_compile(tmp_path: Path) -> None:
    """rmt_table.c and rmt_model.c build as (part of) a module against the 6.1 headers."""
    headers = _headers()
    if headers is None:
        pytest.skip("no /usr/src/linux-headers-6.1.*-amd64")
    for f in ("rmt_table.c", "rmt_table.h", "rmt_model.c", "rmt_model.h", "rmt_compat.h",
              "rmt_format.h"):
        shutil.copy(VM / f, tmp_path / f)
    (tmp_path / "stub_main.c").write_text(_STUB)
    (tmp_path / "Kbuild").write_text(
        "obj-m := rmtstub.o\n"
        "rmtstub-y := stub_main.o rmt_table.o rmt_model.o\n"
        "ccflags-y := -I$(src) -Werror\n")
    run = subprocess.run(["make", "-C", str(headers), f"M={tmp_path}", "modules"],
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert (tmp_path / "rmtstub.ko").exists(), out
    warnings = [ln for ln in out.splitlines() if "warning:" in ln.lower()]
    assert not warnings, out
    assert "undefined" not in out, out     # modpost: a symbol the kernel does not export
