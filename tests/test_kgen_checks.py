"""The attach checks contract/kgen.py generates for a hook's kernel side, compiled on the host
against a made-up spec with one member of every kind, and run on one bad payload per kind of
check (and good twins): without this the checks only ever run in the guest, where Debian's
kernel has every optional member and CONFIG_ option."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from rmt.contract import kgen
from rmt.contract.hooks import KConst, KernelSide, KMember, KStruct

SPEC = KernelSide(
    offsets="t", probes=("f",),
    structs=(KStruct("pub", "pub_s", public=True), KStruct("priv", "priv_s", max_size=64),
             KStruct("opt", "opt_s", max_size=64, optional=True)),
    members=(KMember("pub_a", "pub", "a", 4),
             KMember("pub_b", "pub", "b", 8, optional=True, config="CONFIG_B"),
             KMember("priv_c", "priv", "c", 8),
             KMember("opt_d", "opt", "d", 4, optional=True)),
    consts=(KConst("k", "fixed", 7, check="K_DEF"), KConst("k2", "fixed", 3),
            KConst("addr", "ksym", 0, "x", wide=True)))

PRELUDE = r"""
#include <stdio.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <errno.h>
#include <linux/types.h>
typedef __u32 u32;
typedef __u64 u64;
#define RMT_OFF_NONE 0xffffffffu
#define K_DEF 7
struct pub_s {
	int x;
	int a;
#ifdef CONFIG_B
	long b;
#endif
};
static int rmt_errf(char *err, size_t len, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return code;
}
"""

GOOD = {"pub_size": "sizeof(struct pub_s)", "pub_a": "offsetof(struct pub_s, a)",
        "pub_b": "PUB_B", "priv_size": "32", "priv_c": "8", "opt_size": "0",
        "opt_d": "RMT_OFF_NONE", "k": "7", "k2": "3", "pad0": "0", "addr": "0"}

# name -> (fields changed from GOOD, the field the refusal must name; None: accepted)
CASES = {
    "good": ({}, None),
    "public size": ({"pub_size": "sizeof(struct pub_s) + 8"}, "pub_size"),
    "public offset": ({"pub_a": "offsetof(struct pub_s, a) + 4"}, "pub_a"),
    "config member": ({"pub_b": "PUB_B + 8"}, "pub_b"),
    "private size over its bound": ({"priv_size": "65"}, "priv_size"),
    "private size 0": ({"priv_size": "0"}, "priv_size"),
    "optional struct over its bound": ({"opt_size": "65"}, "opt_size"),
    "private member outside": ({"priv_c": "30"}, "priv_c"),
    "optional member outside": ({"opt_size": "16", "opt_d": "14"}, "opt_d"),
    "optional member inside": ({"opt_size": "16", "opt_d": "8"}, None),
    "const": ({"k": "8"}, "k"),
    "pad": ({"pad0": "1"}, "pad0"),
}


def _run(tmp_path: Path, config_b: bool) -> dict[str, tuple[int, str]]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    assert "pad0" in SPEC.u32_fields        # an odd count of narrow fields before a wide one
    body = [PRELUDE, "#define PUB_B " + ("offsetof(struct pub_s, b)" if config_b
                                          else "RMT_OFF_NONE") + "\n",
            kgen._struct(SimpleNamespace(name="test.t"), SPEC), kgen._OFF_OK,
            "#define RMT_HOOK_OFFSETS_CHECK_T\n", kgen._check(SPEC),
            "int main(void)\n{\n\tchar err[160];\n\tint rc;\n\n"]
    for name, (change, _) in CASES.items():
        vals = {**GOOD, **change}
        init = ", ".join(f".{f} = {v}" for f, v in vals.items())
        body.append(f"\t{{\n\t\tstruct rmt_t_offsets o = {{ {init} }};\n\n\t\terr[0] = 0;\n"
                    f"\t\trc = rmt_t_offsets_check(&o, err, sizeof(err));\n"
                    f"\t\tprintf(\"%s|%d|%s\\n\", \"{name}\", rc, err);\n\t}}\n")
    body.append("\treturn 0;\n}\n")
    src, exe = tmp_path / "k.c", tmp_path / "k"
    src.write_text("".join(body))
    cc = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", *(["-DCONFIG_B"] if config_b
                         else []), "-o", str(exe), str(src)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {n: (int(rc), msg) for n, rc, msg in (ln.split("|", 2) for ln in out.splitlines())}


@pytest.mark.parametrize("config_b", [True, False], ids=["CONFIG_B=y", "CONFIG_B unset"])
def test_each_kind_of_generated_check_refuses_its_bad_payload(tmp_path: Path,
                                                              config_b: bool) -> None:
    got = _run(tmp_path, config_b)
    for name, (_, field) in CASES.items():
        rc, msg = got[name]
        if field is None:
            assert (rc, msg) == (0, ""), (name, msg)
        else:
            assert rc == -22 and msg.split()[0] == field, (name, rc, msg)
    if not config_b:
        assert "CONFIG_B unset" in got["config member"][1]
