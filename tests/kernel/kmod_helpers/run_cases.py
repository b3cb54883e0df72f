"""Guest side: every VM case file (tests/vmcases/) on rmt.ko through /dev/rmt.

    python3 run_cases.py OUT.json [ENGINE]

The same files and the same runner (tests/casefile.py) as the reference, C
interpreter, JIT and llvmlite runs; each case loads its object into the module
(KernelEngine), fills tables, loads weights, runs and checks.  Writes
{case name: "ok" | "skip: why" | "FAIL: why"} for the host-side test to assert.
With ENGINE (the uapi engine number: 0 the interpreter, 1 the JIT), a case
whose program the module runs on another engine fails too.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
import pytest  # casefile skips cases with pytest.skip
from casefile import load_case, run_case
from rmt.ctl.kernel import RmtDevice, kernel_engine_factory

ROOT = Path(__file__).resolve().parents[3]


def main(out: str, engine: int | None = None) -> int:
    make = kernel_engine_factory(RmtDevice())
    loaded = []

    def factory(blob: bytes, **kw):
        eng = make(blob, **kw)
        loaded.append(eng)
        if engine is not None:
            got = eng._read_object()[2].engine
            if got != engine:
                raise AssertionError(f"program {eng.id} runs on engine {got}, not {engine}")
        return eng

    results = {}
    for path in sorted((ROOT / "tests" / "vmcases").glob("*.case")):
        try:
            run_case(load_case(path), factory)
            results[path.stem] = "ok"
        except pytest.skip.Exception as e:
            results[path.stem] = f"skip: {e}"
        except Exception as e:             # noqa: BLE001 - every failure is reported, not raised
            results[path.stem] = f"FAIL: {type(e).__name__}: {e}"
        while loaded:                      # the module holds 64 programs: free each case's
            loaded.pop().unload()
    Path(out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None))
