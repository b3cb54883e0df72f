"""Mutation testing of the C VM's safety checks: remove each check in turn, rebuild the
userspace library, run the tests that should catch it; a mutant that passes them survived.

    python tools/mutate_c.py [--only NAME ...] [--list] [--json FILE]

`make mutate` runs it (with mutmut over verifier/ and semantics/; docs/robustness.md,
"Mutation testing").  Each mutant is one exact text replacement in one file under vm_kernel/;
the file is restored afterwards (also on ^C), and the script refuses to start when a file it
mutates has uncommitted changes, so a crash can never leave a mutant behind unnoticed.
Checks that live only in rmt.ko (the ioctl layer) are listed with `kernel_only` and skipped:
their tests need a guest (tests/kernel/).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CASES = ["tests/test_cvm_cases.py", "tests/test_jit_cases.py"]
IOCTL_CAPS = ("tests/test_ioctl_caps.py",)


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str          # under vm_kernel/ (core/..., kmod/...)
    old: str
    new: str
    tests: tuple[str, ...] = tuple(CASES)
    kernel_only: bool = False


MUTANTS = [
    Mutant("validator: SMOD_I by immediate 0 accepted", "core/rmt_validate.c",
           "i->code == RMT_OP_MOD_I || i->code == RMT_OP_SMOD_I) && !i->imm",
           "i->code == RMT_OP_MOD_I) && !i->imm"),
    Mutant("validator: SDIV_I by immediate 0 accepted", "core/rmt_validate.c",
           "if ((i->code == RMT_OP_DIV_I || i->code == RMT_OP_SDIV_I ||",
           "if ((i->code == RMT_OP_DIV_I ||"),
    Mutant("validator: shift immediate 64 accepted", "core/rmt_validate.c",
           "(i->imm < 0 || i->imm > 63))", "(i->imm < 0 || i->imm > 64))"),
    Mutant("validator: indexed limit smaller than the access accepted", "core/rmt_validate.c",
           "if (limit && limit < size)\n", "if (0)\n"),
    Mutant("interpreter: SMOD by register 0 not checked", "core/rmt_interp.c",
           "OP_SMOD_R:\n\tv = SRC;\n\tif (unlikely(!v))\n\t\tABORT(DIV_ZERO);",
           "OP_SMOD_R:\n\tv = SRC;"),
    Mutant("interpreter: SDIV by register 0 not checked", "core/rmt_interp.c",
           "OP_SDIV_R:\n\tv = SRC;\n\tif (unlikely(!v))\n\t\tABORT(DIV_ZERO);",
           "OP_SDIV_R:\n\tv = SRC;"),
    Mutant("interpreter: indexed access off by one element", "core/rmt_interp.c",
           "if (unlikely(__idx > __lim - (size)))", "if (unlikely(__idx > __lim))"),
    Mutant("interpreter: SHL by a register >= 64 not checked", "core/rmt_interp.c",
           "OP_SHL_R:\n\tif (unlikely(SRC >= 64))\n\t\tABORT(SHIFT);", "OP_SHL_R:"),
    Mutant("JIT: division by register 0 not checked", "core/rmt_jit.c",
           "\t\tj_check(j, CC_E, RMT_ABORT_DIV_ZERO, pc);\n", "", ("tests/test_jit_cases.py",)),
    Mutant("maps: array index past the end read", "core/rmt_map.c",
           "if (unlikely(key >= m->rec.max_entries))\n\t\t\treturn -ERANGE;\n\t\t*val",
           "if (unlikely(key > m->rec.max_entries))\n\t\t\treturn -ERANGE;\n\t\t*val"),
    # the ioctl layer's caps, on the module's own code in userspace (tools/fuzz/fuzz_ioctl.c)
    Mutant("ioctl: MAP_READ batch cap raised 4x", "kmod/rmt_kmod_dev.c",
           "if (!a.count || a.count > RMT_IOC_MAX_BATCH)",
           "if (!a.count || a.count > 4 * RMT_IOC_MAX_BATCH)", IOCTL_CAPS),
    Mutant("ioctl: TABLE_BATCH batch cap raised 4x", "kmod/rmt_kmod_dev.c",
           "if (a.count > RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;",
           "if (a.count > 4 * RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;", IOCTL_CAPS),
    Mutant("ioctl: TRACE_PEEK batch cap raised 4x", "kmod/rmt_kmod_dev.c",
           "a.count > RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;\n\tif (!rmt_dev_loaded(a.id, NULL))"
           "\n\t\treturn -ENOENT;\n\tout = ",
           "a.count > 4 * RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;\n\tif (!rmt_dev_loaded(a.id, "
           "NULL))\n\t\treturn -ENOENT;\n\tout = ", IOCTL_CAPS),
    Mutant("ioctl: TABLE_DUMP batch cap raised 4x", "kmod/rmt_kmod_dev.c",
           "a.count > RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;\n\tif (!rmt_dev_loaded(a.id, NULL))"
           "\n\t\treturn -ENOENT;\n\tbuf = ",
           "a.count > 4 * RMT_IOC_MAX_BATCH)\n\t\treturn -EINVAL;\n\tif (!rmt_dev_loaded(a.id, "
           "NULL))\n\t\treturn -ENOENT;\n\tbuf = ", IOCTL_CAPS),
    # a table batch is all or none: a refused batch must not be published
    Mutant("tables: a refused batch published", "core/rmt_runtime.c",
           "\tif (rc) {\n\t\trmt_table_destroy(c);\t\t/* never published */",
           "\tif (0) {\n\t\trmt_table_destroy(c);\t\t/* never published */",
           ("tests/test_cvm_table_batch.py",)),
    # a peeked trace record keeps its slot until acknowledged
    Mutant("trace: ack of more records than the ring holds takes some", "core/rmt_ring.c",
           "\t\tif (smp_load_acquire(&r->slots[(r->tail + i) & r->mask].seq) != r->tail + i + 1)"
           "\n\t\t\treturn 0;",
           "\t\tif (0)\n\t\t\treturn 0;", ("tests/test_cvm_trace_ack.py",)),
]


@dataclass
class Outcome:
    name: str
    status: str        # killed | survived | skipped | stale (the text to mutate is gone)
    seconds: float
    detail: str = ""


def _dirty(paths: list[Path]) -> list[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--", *map(str, paths)],
                         capture_output=True, text=True, cwd=ROOT).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


def run_one(m: Mutant) -> Outcome:
    if m.kernel_only:
        return Outcome(m.name, "skipped", 0.0, "kernel-only check: needs a guest")
    path = ROOT / "vm_kernel" / m.file
    orig = path.read_text()
    if orig.count(m.old) != 1:
        return Outcome(m.name, "stale", 0.0, f"{m.file}: the text to mutate is not there once")
    t0 = time.monotonic()
    try:
        path.write_text(orig.replace(m.old, m.new))
        proc = subprocess.run([PY, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                               "-n", "2", *m.tests], capture_output=True, text=True, cwd=ROOT)
    finally:
        path.write_text(orig)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return Outcome(m.name, "killed" if proc.returncode != 0 else "survived",
                   round(time.monotonic() - t0, 1), last[:200])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="substrings of mutant names to run")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not a.only or any(s in m.name for s in a.only)]
    if a.list:
        for m in chosen:
            print(f"{m.name}  [{m.file}{', kernel only' if m.kernel_only else ''}]")
        return 0
    dirty = _dirty([ROOT / "vm_kernel" / m.file for m in chosen])
    if dirty:
        print("mutate_c: commit or stash these first:\n" + "\n".join(dirty), file=sys.stderr)
        return 2
    outs = []
    for m in chosen:
        o = run_one(m)
        outs.append(o)
        print(f"{o.status:8s} {o.seconds:6.1f} s  {o.name}  {o.detail}", flush=True)
    run = [o for o in outs if o.status in ("killed", "survived")]
    killed = sum(o.status == "killed" for o in run)
    print(f"mutate_c: {killed} of {len(run)} mutants killed "
          f"({sum(o.status == 'skipped' for o in outs)} kernel-only skipped, "
          f"{sum(o.status == 'stale' for o in outs)} stale)")
    if a.json:
        a.json.write_text(json.dumps([asdict(o) for o in outs], indent=1) + "\n")
    return 1 if any(o.status in ("survived", "stale") for o in outs) else 0


if __name__ == "__main__":
    sys.exit(main())
