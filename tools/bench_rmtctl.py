"""rmtctl's control-plane costs on the sim target (the figures in docs/rmtctl.md).

    .venv/bin/python tools/bench_rmtctl.py [--entries 10000]

Prints, each as wall and CPU seconds of a fresh `rmtctl` process (CPU: user +
system of the child, which is what the machine's load does not inflate):
- the baseline: `rmtctl version` (interpreter start and imports, no state);
- loading N entries into an exact table with `table add PROG TABLE -f FILE`;
- one `table add` into the empty table and into the table holding N entries
  (O(change): the two should cost the same, about the baseline).
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from rmt.contract import objfile  # noqa: E402
from rmt.compiler.asm import assemble  # noqa: E402
from rmt.contract.objformat import MatchKind  # noqa: E402
from rmt.contract.hooks import HOOKS  # noqa: E402


def program(max_entries: int) -> objfile.Program:
    return objfile.Program(
        "bench", HOOKS["test.sandbox"], assemble("ldu32 r1, ctx[0]\nst64 scratch[0], r1\n"
                                                 "apply r2, t0, 0\nmov r0, -1\nexit r0\n"), 8,
        tables=[objfile.Table("t", [objfile.Key("a", MatchKind.EXACT, 32)],
                              [objfile.Action("set", [objfile.Param("v", 0, 32, False)])],
                              max_entries, 0)])


def timed(*argv: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rmt.ctl.cli", *argv], cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode:
        raise SystemExit(f"rmtctl {' '.join(argv)}: {r.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, default=10000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "p.rmtb").write_bytes(objfile.write(program(a.entries + 10)))
        (d / "e.txt").write_text("".join(f"{i} action set {i}\n" for i in range(a.entries)))
        st = ["--state", str(d / "s")]
        base = timed("version")
        timed(*st, "insert", str(d / "p.rmtb"), "--force")
        timed(*st, "insert", str(d / "p.rmtb"), "--force")
        empty = timed(*st, "table", "add", "2", "t", "1", "action", "set", "1")
        load = timed(*st, "table", "add", "1", "t", "-f", str(d / "e.txt"))
        full = timed(*st, "table", "add", "1", "t", str(a.entries + 1), "action", "set", "1")
    for name, (w, c) in (("baseline (rmtctl version)", base),
                         (f"table add -f, {a.entries} entries", load),
                         ("table add, empty table", empty),
                         (f"table add, table of {a.entries}", full)):
        print(f"{name:36s} wall {w:6.2f} s  cpu {c:6.2f} s")
    print(f"one add into {a.entries} entries / into an empty table (cpu): "
          f"{full[1] / empty[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
