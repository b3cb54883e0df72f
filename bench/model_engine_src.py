"""The C model engine's sources, for the benchmarks that build it with their own C harness.

bench_model_ops.py, bench_tables_models.py and bench_model_load.py compile the engine's files
(vm_kernel/core/rmt_model*.c) with the same gcc flags as their native baselines, from this tree
or, to compare, as of an older git revision.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VM = ROOT / "vm_kernel" / "core"
CFLAGS = ["-O2", "-g", "-Wall", "-Wno-unused-parameter"]


def _is_model_file(name: str) -> bool:
    """The model engine: rmt_model.[ch] and, since its split by kind, rmt_model_*.[ch]."""
    return name in ("rmt_model.c", "rmt_model.h") or name.startswith("rmt_model_")


def model_sources(model_dir: Path) -> list[Path]:
    """The model engine's C files in @model_dir."""
    return sorted(p for p in model_dir.glob("rmt_model*.c") if _is_model_file(p.name))


def export_model(rev: str, dst: Path) -> None:
    """Write the model engine's files as of git revision @rev into @dst (vm_kernel/core/
    since the core/kmod split, vm_kernel/ before)."""
    for base in ("vm_kernel/core", "vm_kernel"):
        ls = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:{base}"],
                            capture_output=True, text=True)
        names = [n for n in ls.stdout.split() if _is_model_file(n)] if ls.returncode == 0 else []
        if names:
            for n in names:
                blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{base}/{n}"],
                                      capture_output=True, check=True).stdout
                (dst / n).write_bytes(blob)
            return
    raise RuntimeError(f"no model engine in vm_kernel/ at {rev}")
