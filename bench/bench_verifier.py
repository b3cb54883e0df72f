"""Verification time: each example program, then generated programs of growing size.

Prints figures; not a timed test.  `python bench/bench_verifier.py [--sizes 100,1000,5000]`;
`--base REV` compares with the verifier of git revision REV instead: each program is verified
in a fresh process by REV's `verifier/` and by this tree's, alternately (`--rounds`), and the
table gives the median CPU seconds of each, the queries and whether the reports agree.
The generated programs (test.sandbox hook) mix what compiled code does: context
loads, ALU chains, masked indexed loads and stores into scratch arrays, forward
branches that merge, map updates, divisions by checked divisors, and a clamped
decision, so every obligation kind is exercised at scale.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from rmt.contract.isa import Insn, insn, mem_imm, Region  # noqa: E402
from rmt.contract.objfile import Map, Program  # noqa: E402
from rmt.contract.objformat import MapKind  # noqa: E402
from rmt.contract.hooks import HOOKS  # noqa: E402
from rmt.verifier import VerifyOptions, verify  # noqa: E402

HOOK = HOOKS["test.sandbox"]
SCALARS = [("a", 4), ("b", 4), ("x", 4), ("y", 4), ("small", 1)]
LD = {1: "LDU8", 4: "LDU32"}


def _block(rng: random.Random, out: list[Insn]) -> None:
    """One straight-line chunk (about 8-12 instructions) that is safe by construction."""
    name, size = rng.choice(SCALARS)
    r = rng.randrange(1, 8)
    out.append(insn(LD[size], r, imm=mem_imm(Region.CTX), off=HOOK.layout[name]))
    kind = rng.randrange(6)
    if kind == 0:                              # masked indexed load of ctx.arr
        out += [insn("AND_I", r, imm=7), insn("SHL_I", r, imm=2),
                insn("LDU32", 9, r, off=HOOK.layout["arr"], imm=mem_imm(Region.CTX, 0, 32)),
                insn("ADD_R", 8, 9)]
    elif kind == 1:                            # store then load a scratch array slot
        out += [insn("AND_I", r, imm=15), insn("SHL_I", r, imm=3),
                insn("ST64", 8, r, off=0, imm=mem_imm(Region.SCRATCH, 0, 128)),
                insn("LD64", 10, r, off=0, imm=mem_imm(Region.SCRATCH, 0, 128)),
                insn("XOR_R", 8, 10)]
    elif kind == 2:                            # division by a nonzero value
        out += [insn("OR_I", r, imm=1), insn("MOV_R", 11, 8), insn("DIV_R", 11, r),
                insn("ADD_R", 8, 11)]
    elif kind == 3:                            # branch and merge
        out += [insn("JGT_I", r, imm=rng.randrange(1000), off=2), insn("ADD_I", 8, imm=3),
                insn("JA", off=1), insn("SUB_I", 8, imm=5), insn("MUL_I", 8, imm=7)]
    elif kind == 4:                            # counter map update at a masked index
        out += [insn("AND_I", r, imm=3), insn("MOV_I", 12, imm=1),
                insn("MAP_ADD", r, 12, imm=0)]
    else:                                      # shifts by a masked amount
        out += [insn("AND_I", r, imm=63), insn("MOV_R", 13, 8), insn("SHR_R", 13, r),
                insn("ADD_R", 8, 13)]


def generated(n: int, seed: int = 1) -> Program:
    rng = random.Random(seed)
    code = [insn("MOV_I", 8, imm=0)]
    while len(code) < n - 6:
        _block(rng, code)
    code += [insn("AND_I", 8, imm=63), insn("EXIT", src=8)]
    return Program(f"gen{n}", HOOK, code, 128, maps=[Map("hits", MapKind.COUNTER, 32, 64, 4)])


def examples() -> list[tuple[str, Program]]:
    out = []
    try:
        from rmt.compiler import compile_source
    except ImportError:
        return out
    for path in sorted((ROOT / "examples").glob("*.rmt")):
        try:
            out.append((path.name, compile_source(path.read_text(), str(path))))
        except Exception as e:     # a broken example is reported, not fatal
            print(f"{path.name:32s} does not compile: {str(e).splitlines()[0]}")
    return out


# One verification in a fresh process: argv = [verifier dir or "", program].
_CHILD = r"""
import importlib.util, json, sys, time
import rmt
if sys.argv[1]:
    spec = importlib.util.spec_from_file_location(
        "rmt.verifier", sys.argv[1] + "/__init__.py", submodule_search_locations=[sys.argv[1]])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rmt.verifier"] = rmt.verifier = mod
    spec.loader.exec_module(mod)
sys.path.insert(0, sys.argv[3])
import bench_verifier as B
prog = dict(B.programs([sys.argv[2]]))[sys.argv[2]]
from rmt.verifier import VerifyOptions, verify
t = time.process_time()
rep = verify(prog, VerifyOptions())
print(json.dumps({"cpu": time.process_time() - t, "accepted": rep.accepted,
                  "queries": rep.queries, "decisions": str(rep.decisions)}))
"""


def programs(names: list[str] | None = None, sizes: str = "100,1000,5000"):
    """(name, Program) of the examples and the generated sizes (or just `names`)."""
    gen = [f"generated-{n}" for n in map(int, sizes.split(","))]
    if names is not None:
        gen = [n for n in names if n.startswith("generated-")]
    progs = [p for p in examples() if names is None or p[0] in names]
    unknown = set(names or ()) - {n for n, _ in progs} - set(gen)
    bad_gen = [n for n in gen if not n.split("-", 1)[1].isdigit()]
    if unknown or bad_gen:
        sys.exit(f"bench_verifier: no program {sorted(unknown | set(bad_gen))[0]!r} "
                 "(an examples/*.rmt file name or generated-N)")
    return progs + [(n, generated(int(n.split("-")[1]))) for n in gen]


def compare(base: str, names: list[str], rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = subprocess.run(["git", "-C", str(ROOT), "archive", base, "verifier"],
                             capture_output=True)
        if got.returncode:
            sys.exit(f"bench_verifier: --base {base}: "
                     f"{got.stderr.decode(errors='replace').strip().splitlines()[-1]}")
        blob = got.stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(blob)) as tf:
            tf.extractall(tmp, filter="data")
        trees = {"base": f"{tmp}/verifier", "head": ""}
        got: dict[tuple[str, str], list[dict]] = {}
        for r in range(rounds):
            for name in names:
                for which in (("base", "head") if r % 2 == 0 else ("head", "base")):
                    out = subprocess.run([sys.executable, "-c", _CHILD, trees[which], name,
                                          str(ROOT / "bench")], capture_output=True, text=True)
                    if out.returncode:
                        print(f"{name} ({which}) failed: {out.stderr.strip().splitlines()[-1:]}")
                        continue
                    got.setdefault((name, which), []).append(json.loads(out.stdout))
    print(f"{'program':28s} {'base s':>8s} {'head s':>8s} {'queries':>9s}  verdict, decisions")
    for name in names:
        b, h = got.get((name, "base")), got.get((name, "head"))
        if not b or not h:
            continue
        mb = statistics.median(x["cpu"] for x in b)
        mh = statistics.median(x["cpu"] for x in h)
        same = "same" if b[0]["accepted"] == h[0]["accepted"] else "VERDICT DIFFERS"
        dec = "same" if b[0]["decisions"] == h[0]["decisions"] else \
            f"{b[0]['decisions']} -> {h[0]['decisions']}"
        print(f"{name:28s} {mb:8.2f} {mh:8.2f} {b[0]['queries']:>4d}->{h[0]['queries']:<4d}  "
              f"{same}, {dec}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--base", metavar="REV", help="compare with the verifier of git revision REV")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="a program (an example's file name or generated-N); repeatable")
    args = ap.parse_args()
    if args.base:
        names = args.only or [n for n, _ in programs(sizes=args.sizes)]
        compare(args.base, names, args.rounds)
        return
    print(f"{'program':32s} {'insns':>6s} {'obligations':>11s} {'queries':>7s} "
          f"{'verdict':>8s} {'seconds':>8s}")
    for name, prog in programs(args.only, args.sizes):
        t0 = time.perf_counter()
        rep = verify(prog, VerifyOptions())
        dt = time.perf_counter() - t0
        print(f"{name:32s} {len(prog.code):6d} {len(rep.results):11d} {rep.queries:7d} "
              f"{'accept' if rep.accepted else 'reject':>8s} {dt:8.2f}")
        if not rep.accepted and name.startswith("generated"):
            for r in rep.failures[:3]:
                print("   ", r.obligation.describe(), r.outcome)


if __name__ == "__main__":
    main()
