"""One guest boot of the rmt.ko concurrency stress (host side): build rmt.ko and rmt_stress,
compile the stress programs and weights, boot with 4 vCPUs, run guest_stress.py, unload the
module with the programs still attached, and return the guest's JSON with the GuestResult.

Shared by tests/kernel/test_kmod_stress.py (short bounded run) and tools/stress_kmod.py
(long runs, `make stress`).  `figures()` is the summary both print.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tools" / "qemu"))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import stress_programs  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"


class BuildError(RuntimeError):
    """rmt.ko or rmt_stress did not build (the message has the compiler's output)."""


def build_rmt_ko(headers_dir: Path, dst: Path) -> Path:
    """rmt.ko from a clean copy of vm_kernel/ (uapi/ included) against the guest headers."""
    shutil.copytree(ROOT / "vm_kernel", dst, ignore=shutil.ignore_patterns(
        "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "*.d", "modules.order", "Module.symvers"))
    p = subprocess.run(["make", "-C", str(headers_dir), f"M={dst}", "modules"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise BuildError(f"building rmt.ko failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return dst / "rmt.ko"


def build_stress_tool(dst: Path) -> Path:
    out = dst / "rmt_stress"
    p = subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-I",
                        str(ROOT / "vm_kernel"), "-o", str(out), str(HERE / "rmt_stress.c")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise BuildError(f"building rmt_stress failed:\n{p.stderr[-3000:]}")
    return out


@dataclass
class StressRun:
    result: harness.GuestResult
    data: dict[str, Any] | None          # OUT/stress.json, None if the guest never wrote it
    rmmod_rc: int | None                 # exit status of `rmmod rmt` (programs attached)
    dev_gone: bool                       # /dev/rmt disappeared with the module


def run(work: Path, seconds: float, min_swaps: int, *,
        harness_env: harness.HarnessEnv | None = None, timeout: float | None = None,
        console_stream: Any = None) -> StressRun:
    """Boot once and stress for `seconds` (longer until `min_swaps`, at most 4x)."""
    henv = harness_env or harness.HarnessEnv.load()
    ko = build_rmt_ko(Path(henv.headers_dir), work / "kbuild")
    share = work / "share"
    files = share / "files"
    stress_programs.write_inputs(files)
    tool = build_stress_tool(share)
    # boot ~10-20 s, setup + warm-up ~15 s, the run (at most 4x), quiesces ~30 s, rmmod
    timeout = timeout or 240 + 4 * seconds
    r = harness.run_in_guest(
        f"""
        insmod {ko} || exit 3
        {PY} {HERE / 'guest_stress.py'} {files} "$RMT_OUT" {tool} {seconds} {min_swaps}
        rc=$?
        rmmod rmt
        echo $? > "$RMT_OUT/rmmod_rc"
        test -e /dev/rmt && echo present > "$RMT_OUT/dev_after" || echo gone > "$RMT_OUT/dev_after"
        exit $rc
        """,
        timeout=timeout, cpus=4, memory_mb=1024, out_dir=share, cwd=ROOT, harness_env=henv,
        load_modules=("zram",), console_stream=console_stream)
    f = share / "stress.json"
    rc_file, dev_file = share / "rmmod_rc", share / "dev_after"
    return StressRun(r, json.loads(f.read_text()) if f.exists() else None,
                     int(rc_file.read_text()) if rc_file.exists() else None,
                     dev_file.exists() and dev_file.read_text().strip() == "gone")


def checks_total(outcomes: dict[str, dict[str, int]]) -> int:
    """Entries the hooks checked (found and verified, whatever the verdict)."""
    return sum(o["good"] + o["torn_gen"] + o["bad_csum"] + o["wrong_key"]
               for o in outcomes.values())


def figures(d: dict[str, Any]) -> str:
    """The human summary of one run's JSON."""
    t = d["tool"]
    o = d["outcomes"]
    mb, ma = d["mem_before"], d["mem_after"]
    lines = [
        f"{t['seconds']:.1f} s, {t['writers']} writer threads, {t['swappers']} swappers, "
        f"programs {t['progs']}",
        f"table updates: {t['updates']} ({t['ops']['insert']} inserts, {t['ops']['modify']} "
        f"modifies, {t['ops']['delete']} deletes) = {t['updates_per_s']:.0f} updates/s",
        f"model swaps: {t['swaps']} = {t['swaps_per_s']:.0f} swaps/s "
        f"(versions now {d['model_versions']})",
        f"errors: {t['errors']}",
    ]
    for h, c in o.items():
        lines.append(f"hook {h}: {c} ({d['hooks_end'][h]['hits']} hits, "
                     f"{d['hooks_end'][h]['runs']} runs)")
    lines.append("final tables: " + "; ".join(
        f"prog {f['prog']}: {f['entries']} entries, {f['matched']} matched, lost "
        f"{f['lost']}, stale {f['stale']}, phantom {f['phantom']}" for f in t["final"]))
    lines.append(
        f"kernel memory before/after (kB): SUnreclaim {mb['meminfo']['SUnreclaim']}/"
        f"{ma['meminfo']['SUnreclaim']}, Percpu {mb['meminfo']['Percpu']}/"
        f"{ma['meminfo']['Percpu']}, kmalloc caches {mb['kmalloc_total'] // 1024}/"
        f"{ma['kmalloc_total'] // 1024}"
        + (f", alloc_live {mb['alloc_live']}/{ma['alloc_live']}"
           if "alloc_live" in mb and "alloc_live" in ma else ""))
    return "\n".join(lines)
