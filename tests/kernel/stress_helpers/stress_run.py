"""One guest boot of the rmt.ko concurrency stress (host side): given rmt.ko, build
rmt_stress, compile the stress programs and weights, boot with 4 vCPUs, run guest_stress.py,
unload the module with the programs still attached, and return the guest's JSON with the
GuestResult.

Shared by tests/kernel/test_kmod_stress.py (short bounded run; rmt.ko from the session's
`rmt_ko` fixture) and tools/stress_kmod.py (long runs, `make stress`; it builds rmt.ko with
harness.build_rmt_ko(), as every kernel test and tool does).  `figures()` is the summary
both print.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmt.qemu import harness

import kmod_inputs
import stress_programs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


PY = ROOT / ".venv" / "bin" / "python"

# Kernel memory growth allowed (kB).  Each snapshot is taken after a quiesce
# (guest_stress.quiesce: RCU callbacks drained, SUnreclaim steady; caches dropped; every
# slab cache shrunk, so SLUB's per-CPU slabs no longer count as in use).  What one model
# swap allocates (two kmalloc-8k objects: the 4.1 KB struct rmt_weights and the ~5 KB
# arena; ~40 B of per-CPU scratch per CPU) is freed by call_rcu; a table update allocates
# ~100-200 B (entry, action data).  The short quiet run does ~15,000-25,000 swaps and
# ~400,000-700,000 updates, so 256 kB of kmalloc is ~10-17 B per swap: leaking one of a
# swap's 8 KB objects on 1 swap in 500, or an entry on 1 insert in 100, exceeds it; a
# leaked scratch (160 B per swap on 4 CPUs) on 1 swap in 10 exceeds the Percpu bound.
# Measured after the shrink: quiet run SUnreclaim +116 kB, kmalloc -15 kB, Percpu +0;
# whole boot (the load's processes come and go) SUnreclaim +200 kB, kmalloc +23 kB
# (without the shrink the slab figures wandered by up to +500 kB quiet, +1.1 MB boot).
# alloc_live (rmt.ko's own count of its live allocations) is exact and must not move.
QUIET_TOLERANCE_KB = {"SUnreclaim": 512, "kmalloc": 256, "Percpu": 256}
LOAD_TOLERANCE_KB = {"SUnreclaim": 1024, "kmalloc": 512, "Percpu": 256}


class BuildError(RuntimeError):
    """rmt_stress did not build (the message has the compiler's output)."""


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


def run(work: Path, ko: Path, seconds: float, quiet_seconds: float, min_swaps: int,
        quiet_max: float, *, harness_env: harness.HarnessEnv | None = None,
        timeout: float | None = None, console_stream: Any = None) -> StressRun:
    """Boot once with `ko` (rmt.ko from harness.build_rmt_ko()): the quiet run for
    `quiet_seconds` (longer until `min_swaps` swaps, at most `quiet_max`), then the run
    under load for `seconds` (guest_stress.py)."""
    henv = harness_env or harness.HarnessEnv.load()
    share = work / "share"
    files = share / "files"
    stress_programs.write_inputs(files)
    tool = build_stress_tool(share)
    # boot ~10-20 s, setup + warm-up ~15 s, the runs, load start/stop and quiesces ~60 s
    timeout = timeout or 300 + seconds + max(quiet_seconds, quiet_max)
    r = harness.run_in_guest(
        f"""
        insmod {ko} || exit 3
        {kmod_inputs.GUEST_ENV} {PY} {HERE / 'guest_stress.py'} {files} "$RMT_OUT" {tool} {seconds} {quiet_seconds} \
            {min_swaps} {quiet_max}
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


def during_run(d: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The outcome counters the hooks added while the writers and swappers ran."""
    return {h: {k: v - d["outcomes_start"][h][k] for k, v in o.items()}
            for h, o in d["outcomes"].items()}


def slab_growth(before: dict[str, Any], after: dict[str, Any],
                n: int = 6) -> list[tuple[str, int]]:
    """The `n` slab caches that grew most between two memory snapshots (bytes)."""
    b, a = before.get("slabs", {}), after.get("slabs", {})
    delta = {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}
    return sorted(delta.items(), key=lambda kv: -kv[1])[:n]


def mem_growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """kB each bounded figure (the keys of QUIET_TOLERANCE_KB / LOAD_TOLERANCE_KB) grew by
    between two memory snapshots: what the test asserts and tools/stress_kmod.py reports."""
    return {"SUnreclaim": after["meminfo"]["SUnreclaim"] - before["meminfo"]["SUnreclaim"],
            "kmalloc": (after["kmalloc_total"] - before["kmalloc_total"]) // 1024,
            "Percpu": after["meminfo"]["Percpu"] - before["meminfo"]["Percpu"]}


def mem_line(before: dict[str, Any], after: dict[str, Any]) -> str:
    mb, ma = before, after
    return (f"SUnreclaim {mb['meminfo']['SUnreclaim']} -> {ma['meminfo']['SUnreclaim']} kB, "
            f"kmalloc caches {mb['kmalloc_total'] // 1024} -> {ma['kmalloc_total'] // 1024} kB, "
            f"Percpu {mb['meminfo']['Percpu']} -> {ma['meminfo']['Percpu']} kB"
            + (f", alloc_live {mb['alloc_live']} -> {ma['alloc_live']}"
               if "alloc_live" in mb and "alloc_live" in ma else ", alloc_live absent")
            + "; grew most: " + ", ".join(f"{k} {v:+d} B" for k, v in
                                          slab_growth(before, after, 4)))


def tool_line(t: dict[str, Any]) -> str:
    return (f"{t['seconds']:.1f} s: {t['updates']} table updates ({t['ops']['insert']} "
            f"inserts, {t['ops']['modify']} modifies, {t['ops']['delete']} deletes) = "
            f"{t['updates_per_s']:.0f} updates/s; {t['swaps']} model swaps = "
            f"{t['swaps_per_s']:.0f} swaps/s; errors {t['errors']}")


def figures(d: dict[str, Any]) -> str:
    """The human summary of one run's JSON."""
    t, q = d["tool"], d["quiet"]
    lines = [f"{t['writers']} writer threads, {t['swappers']} swappers, programs {t['progs']}",
             "quiet run (no load): " + tool_line(q),
             "  memory: " + mem_line(d["mem_before"], d["mem_quiet"]),
             "run under load (hooks firing): " + tool_line(t)]
    for h, c in during_run(d).items():
        runs = d["hooks_end"][h]["runs"] - d["hooks_start"][h]["runs"]
        lines.append(f"  hook {h}: {runs} runs, {checks_total({h: c})} entries checked "
                     f"({c['good']} good, {c['torn_gen'] + c['bad_csum'] + c['wrong_key']} "
                     f"torn), {c['miss']} misses; model old {c['model_old']} / new "
                     f"{c['model_new']} / mixed {c['model_mixed']}")
    lines.append("  final tables: " + "; ".join(
        f"prog {f['prog']}: {f['entries']} entries, {f['matched']} matched, lost "
        f"{f['lost']}, stale {f['stale']}, phantom {f['phantom']}" for f in t["final"]))
    lines.append("whole boot memory: " + mem_line(d["mem_before"], d["mem_after"]))
    lines.append(f"model swaps in all: {total_swaps(d)}")
    return "\n".join(lines)


def total_swaps(d: dict[str, Any]) -> int:
    return d["warmup"]["swaps"] + d["quiet"]["swaps"] + d["tool"]["swaps"]
