"""Tables written down in more than one place (C and Python) must agree.

Most contract tables are generated from one definition (tests/test_generated.py keeps the
generated files fresh); this file covers the copies that are still written by hand on both
sides of the kernel boundary, one table per test, each comparing every entry:

- the hook counters: struct rmt_hook_stats (uapi/rmt_hooks.h), the per-CPU struct
  rmt_hook_pcpu and its summation (kmod/), hook_abi.STATS_COUNTERS (rmtctl);
- the hook ioctl numbers: RMT_IOC_HOOK_* (compiled) against hook_abi.IOC_HOOK_*;
- each probe file uses its hook's generated payload and checks (the rmt.ko part of core/rmt_hooks.h,
  generated from the spec's KernelSide; their layout is compiled in tests/test_btf.py);
- the hook ids the module registers against the spec whose context it fills;
- the validators' reason keywords: semantics.validate.CHECKS against the C validator's;
- the simulators' hook contexts go through clamp_ctx().
Each test names the copy that drifted and how.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rmt.contract import kgen
from rmt.contract.hooks import HOOKS
from rmt.ctl import hook_abi as H
from rmt.semantics.validate import CHECKS

ROOT = Path(__file__).resolve().parents[1]
UAPI_HOOKS = ROOT / "vm_kernel" / "uapi" / "rmt_hooks.h"
KMOD = ROOT / "vm_kernel" / "kmod"
# The module's probe files, one per hook with a kernel side: rmt_kmod_hook_<offsets>.c.
HOOK_FILES = {h.kernel.offsets: (f"rmt_kmod_hook_{h.kernel.offsets}.c", h) for h in kgen.probed()}


def _struct_members(text: str, name: str) -> list[str]:
    """Member names of `struct name { ... };` in C source, in order (arrays as their name)."""
    m = re.search(rf"^struct {name} \{{(.*?)^\}};", text, re.M | re.S)
    assert m, f"struct {name} not found"
    body = re.sub(r"/\*.*?\*/", "", m[1], flags=re.S)
    return re.findall(r"^\s*[\w ]+?\b(\w+)(?:\[\w+\])?;", body, re.M)


def _compile_and_run(tmp_path: Path, body: str) -> list[str]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "m.c"
    src.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "uapi/rmt.h"\n'
                   f"int main(void)\n{{\n{body}\treturn 0;\n}}\n")
    exe = tmp_path / "m"
    cc = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-I", str(ROOT / "vm_kernel"),
                         "-o", str(exe), str(src)], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    return subprocess.run([str(exe)], capture_output=True, text=True,
                          check=True).stdout.splitlines()


# ------------------------------------------------------------------ hook counters

def test_hook_stats_counters_are_the_uapi_struct(tmp_path: Path) -> None:
    members = _struct_members(UAPI_HOOKS.read_text(), "rmt_hook_stats")
    assert members[:4] == ["abi", "hook_id", "prog_id", "state"]
    assert members[4:-1] == list(H.STATS_COUNTERS), \
        "hook_abi.STATS_COUNTERS differs from struct rmt_hook_stats's counters"
    assert members[-1] == "reserved"
    m = re.search(r"__u64 reserved\[(\d+)\];", UAPI_HOOKS.read_text())
    assert m and int(m[1]) == H.STATS_RESERVED
    body = "".join(f'\tprintf("%zu\\n", offsetof(struct rmt_hook_stats, {c}));\n'
                   for c in H.STATS_COUNTERS)
    body += '\tprintf("%zu\\n", sizeof(struct rmt_hook_stats));\n'
    out = [int(x) for x in _compile_and_run(tmp_path, body)]
    assert out[:-1] == [16 + 8 * i for i in range(len(H.STATS_COUNTERS))], \
        "struct rmt_hook_stats: the counters are not consecutive __u64s after the header"
    assert out[-1] == H.STATS_SIZE


def test_kmod_per_cpu_counters_are_summed_and_reported() -> None:
    """rmt_hook_pcpu is struct rmt_hook_stats's counters without nmissed (the kprobes core
    counts those); rmt_hook_stats_fill() sums each over the CPUs and copies it out."""
    pcpu = _struct_members((KMOD / "rmt_hooks_kern.h").read_text(), "rmt_hook_pcpu")
    assert pcpu == [c for c in H.STATS_COUNTERS if c != "nmissed"]
    fill = (KMOD / "rmt_kmod_hooks.c").read_text()
    for c in pcpu:
        assert f"sum.{c} += READ_ONCE(p->{c});" in fill, f"per-CPU counter {c} is not summed"
        assert f"s->{c} = sum.{c};" in fill, f"counter {c} is not reported"
    assert "s->nmissed = h->nmissed();" in fill


# ------------------------------------------------------------------ hook ioctl numbers

def test_hook_ioctl_numbers_match_the_header(tmp_path: Path) -> None:
    py = {"RMT_IOC_HOOK_ATTACH": H.IOC_HOOK_ATTACH, "RMT_IOC_HOOK_DETACH": H.IOC_HOOK_DETACH,
          "RMT_IOC_HOOK_STATS": H.IOC_HOOK_STATS, "RMT_HOOKS_ABI_VERSION": H.ABI_VERSION,
          "RMT_OFF_NONE": H.OFF_NONE, "RMT_HOOK_F_SHADOW": H.F_SHADOW,
          "RMT_HOOK_F_EMPTY": H.F_EMPTY, "RMT_HOOK_S_REGISTERED": H.S_REGISTERED,
          "RMT_HOOK_S_SHADOW": H.S_SHADOW, "RMT_HOOK_S_EMPTY": H.S_EMPTY,
          "sizeof(struct rmt_hook_detach)": H.DETACH_SIZE,
          "sizeof(((struct rmt_hook_attach *)0)->err)": H.ERR_LEN}
    body = "".join(f'\tprintf("%lu\\n", (unsigned long)({c}));\n' for c in py)
    out = _compile_and_run(tmp_path, body)
    for (name, value), got in zip(py.items(), out):
        assert int(got) == value, f"{name} is {got} in C, {value} in rmt/ctl/hook_abi.py"


# ------------------------------------------------------------------ BTF members

@pytest.mark.parametrize("hook", sorted(HOOK_FILES))
def test_probe_file_checks_its_payload_with_the_generated_check(hook: str) -> None:
    """The payload's size, layout and checks come from the spec; the probe file must take
    them from the generated header rather than write its own."""
    fname, _ = HOOK_FILES[hook]
    src = (KMOD / fname).read_text()
    assert f"#define RMT_HOOK_OFFSETS_CHECK_{hook.upper()}\n" in src, \
        f"{fname} does not ask rmt_hooks.h for its generated check"
    assert re.search(rf"rmt_{hook}_offsets_check\(&b->off\.{hook}, err, len\)", src), \
        f"{fname}'s attach check does not run rmt_{hook}_offsets_check()"
    assert f".offsets_size = sizeof(struct rmt_{hook}_offsets)," in src
    assert not re.search(r"#define RMT_(NEED|MAY|SAME)\(", src), \
        f"{fname} defines its own offset checks again"


# ------------------------------------------------------------------ hook ids

@pytest.mark.parametrize("hook", sorted(HOOK_FILES))
def test_kmod_hook_registers_the_id_of_the_context_it_fills(hook: str) -> None:
    fname, want = HOOK_FILES[hook]
    src = (KMOD / fname).read_text()
    ids = re.findall(r"\.id = RMT_HOOK_(\w+)_ID,", src)
    ctxs = set(re.findall(r"struct rmt_ctx_(\w+)", src))
    assert len(ids) == 1 and len(ctxs) == 1, (fname, ids, ctxs)
    ctx = ctxs.pop()
    spec = next(h for h in HOOKS.values() if h.name.replace(".", "_") == ctx)
    assert ids[0] == spec.name.replace(".", "_").upper(), \
        f"{fname} registers hook {ids[0]} but fills the context of {spec.name}"
    assert spec is want, f"{fname} fills the context of {spec.name}, not {want.name}"


# ------------------------------------------------------------------ validator reasons

def _c_reasons() -> set[str]:
    src = (ROOT / "vm_kernel" / "core" / "rmt_validate.c").read_text()
    out = set(re.findall(r'REJECT\(v, "([^"]+)"', src))
    # declaration checks: rmt_errf(..., "<what>: <reason>: <detail>", ...)
    out |= set(re.findall(r'rmt_errf\([^"]*"[^":]*: ([a-z ]+): ', src))
    return out


def test_validator_reason_keywords_are_one_list() -> None:
    c = _c_reasons()
    assert c - set(CHECKS) == set(), \
        f"the C validator rejects with reasons semantics/validate.py CHECKS lacks: {c - set(CHECKS)}"
    assert set(CHECKS) - c == set(), \
        f"CHECKS has reasons the C validator never gives: {set(CHECKS) - c}"


# ------------------------------------------------------------------ context ranges

def test_every_simulator_adapter_clamps_the_context_it_builds() -> None:
    """The simulators build hook contexts from their own state; the verifier's proofs assume
    the spec's ranges, so each adapter must pass its values through clamp_ctx() (the kernel
    side: tests/test_verifier_ctx_clamp.py)."""
    adapters = [p for d in ("sched_sim", "swap_sim") for p in sorted((ROOT / d).glob("*.py"))
                if re.search(r'ctx_encode\(|HOOKS\["', p.read_text())]
    assert {p.parent.name for p in adapters} == {"sched_sim", "swap_sim"}
    for p in adapters:
        assert "clamp_ctx(HOOK, {" in p.read_text(), \
            f"{p.relative_to(ROOT)} builds a hook context without clamp_ctx()"


# ------------------------------------------------------------------ decision counters

def test_max_decisions_is_the_vms() -> None:
    from rmt.contract.hooks import MAX_DECISIONS
    m = re.search(r"#define RMT_MAX_DECISIONS (\d+)", (ROOT / "vm_kernel" / "core" / "rmt_vm.h").read_text())
    assert m and int(m[1]) == MAX_DECISIONS, "RMT_MAX_DECISIONS differs from hooks.MAX_DECISIONS"


@pytest.mark.parametrize("hook", sorted(HOOK_FILES))
def test_probe_file_probes_the_functions_its_spec_names(hook: str) -> None:
    fname, spec = HOOK_FILES[hook]
    probed = set(re.findall(r'symbol_name = "(\w+)"', (KMOD / fname).read_text()))
    assert probed == set(spec.kernel.probes), \
        f"{fname} probes {sorted(probed)}, its spec says {sorted(spec.kernel.probes)}"
