"""Execution engines side by side: native C, C interpreter, C JIT, llvmlite JIT.

For every example program (examples/**/*.rmt) this prints ns per decision,
from one run, for:

- native: the same program translated to C (one local per register, gotos
  for jumps) and compiled by gcc with the VM's flags, calling the same C for
  tables, models, maps and trace; it leaves out the run-time checks the
  verifier proved cannot fail, as a programmer writing the C by hand would.
  It is installed into the C VM as the program's code, so it runs inside the
  same per-invocation harness (frame setup, statistics) as the others: the
  columns differ only in the code that implements the program.
- interp: the C interpreter (vm_kernel/core/rmt_interp.c);
- jit: the x86-64 JIT (vm_kernel/core/rmt_jit.c), every run-time check kept;
- llvm: rmt_vm/llvm_jit.py with the verifier's proofs (trust_verifier).

Every timing loop is C (rmt_bench_run), as a kprobe would call the VM.
Tables get random entries, models random (zero-bias) weights of the declared
shape, contexts random values in the hook's declared ranges.  Then, as in
bench/bench_vm.py: ns per bytecode instruction on an ALU-heavy program and
the fixed cost of an EXIT-only program on each engine.

    .venv/bin/python bench/bench_jit.py [--iters N] [--seed S] [--only NAME] [--no-micro] [--table]
"""
from __future__ import annotations

import argparse
import ctypes
import random
import subprocess
import tempfile
from pathlib import Path

from bench_inputs import prepare, random_ctxs
from bench_vm import alu_program, exit_program, native as native_alu
from rmt.compiler import compile_source
from rmt.contract.isa import BY_CODE, HELPER_BY_NAME, LOAD_SIGNED, LOAD_SIZE, Fmt, mem_fields
from rmt.vm.llvm_engine import LlvmEngine, proven_checks
from rmt.vm.llvm_jit import HELPERS
from rmt.contract.objfile import Program
from rmt.vm import CEngine
from rmt.vm._build import CFLAGS

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------- native C

_C_HEAD = r"""
#include <stdint.h>
#include <string.h>
typedef uint64_t u64; typedef int64_t s64; typedef uint32_t u32; typedef int32_t s32;
typedef uint16_t u16; typedef int16_t s16; typedef uint8_t u8; typedef int8_t s8;
struct jc { u8 *scratch; u8 *ctx; const u8 **params; s32 **min; s32 **mout; void *in;
	    u64 now; u32 cpu; u32 abort; s32 abort_pc; u32 pad; u64 tmp; };
"""
_C_BIN = {"ADD": "+", "SUB": "-", "MUL": "*", "AND": "&", "OR": "|", "XOR": "^", "DIV": "/",
          "MOD": "%", "SHL": "<<", "SHR": ">>"}
_C_CMP = {"JEQ": "==", "JNE": "!=", "JLT": "<", "JLE": "<=", "JGT": ">", "JGE": ">="}
_C_SCMP = {"JSLT": "<", "JSLE": "<=", "JSGT": ">", "JSGE": ">="}
_C_TY = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def c_translation(prog: Program, helper: dict[str, int], proven: frozenset[int]) -> str:
    """The program as C with the rmt_jit ABI (vm_kernel/core/rmt_jit.h)."""
    sig = {"rmt_jit_apply": "u64 (*)(struct jc *, u32, u32)",
           "rmt_jit_callm": "int (*)(struct jc *, u32)",
           "rmt_jit_map_ld": "int (*)(struct jc *, u32, u64)",
           "rmt_jit_map_upd": "int (*)(struct jc *, u32, u64, u64, u32)",
           "rmt_jit_trace": "void (*)(struct jc *, u32, u32)",
           "rmt_jit_random": "u64 (*)(struct jc *, u64)"}
    out = [_C_HEAD]
    for name, addr in helper.items():
        out.append(f"#define {name} (({sig[name]})0x{addr:x}ull)")
    out.append("s64 rmt_prog(struct jc *jc)\n{")
    out.append("\tu64 " + ", ".join(f"r{i} = 0" for i in range(16)) + ";")
    out.append("\tu8 *scratch = jc->scratch, *ctx = jc->ctx;\n\tu32 reason, pc;")
    targets = {pc + 1 + i.off for pc, i in enumerate(prog.code) if BY_CODE[i.code].fmt in
               (Fmt.JA, Fmt.JMP_R, Fmt.JMP_I)}

    def abort(pc: int, reason: int, cond: str, droppable: bool = True) -> str:
        if droppable and pc in proven:
            return ""
        return f"if (__builtin_expect({cond}, 0)) {{ reason = {reason}; pc = {pc}; goto ab; }} "

    for pc, i in enumerate(prog.code):
        op = BY_CODE[i.code]
        name, fmt, d, s = op.name, op.fmt, f"r{i.dst}", f"r{i.src}"
        imm = f"((u64)(s64){i.imm})"
        line = f"L{pc}: ;\n\t" if pc in targets else "\t"
        if fmt in (Fmt.ALU_R, Fmt.ALU_I) and name != "LDHI":
            base, form = name.rsplit("_", 1)
            v = s if form == "R" else imm
            chk = ""
            if form == "R" and base in ("DIV", "MOD", "SDIV", "SMOD"):
                chk = abort(pc, 2, f"!{v}")
            if form == "R" and base in ("SHL", "SHR", "SAR"):
                chk = abort(pc, 3, f"{v} >= 64")
            if base == "MOV":
                body = f"{d} = {v};"
            elif base == "SAR":
                body = f"{d} = (u64)((s64){d} >> {v});"
            elif base == "SDIV":
                body = f"{d} = (s64){v} == -1 ? -{d} : (u64)((s64){d} / (s64){v});"
            elif base == "SMOD":
                body = f"{d} = (s64){v} == -1 ? 0 : (u64)((s64){d} % (s64){v});"
            else:
                body = f"{d} = {d} {_C_BIN[base]} {v};"
            line += chk + body
        elif name == "LDHI":
            line += f"{d} = ({d} & 0xffffffffull) | (u64)(u32){i.imm} << 32;"
        elif name == "NEG":
            line += f"{d} = -{d};"
        elif name == "ZEXT":
            line += f"{d} &= {(1 << i.imm) - 1}ull;"
        elif name == "SEXT":
            line += f"{d} = (u64)(s64)(s{i.imm}){d};"
        elif name == "JA":
            line += f"goto L{pc + 1 + i.off};"
        elif fmt in (Fmt.JMP_R, Fmt.JMP_I):
            base = name.rsplit("_", 1)[0]
            v = s if fmt == Fmt.JMP_R else imm
            if base == "JSET":
                cond = f"{d} & {v}"
            elif base in _C_CMP:
                cond = f"{d} {_C_CMP[base]} {v}"
            else:
                cond = f"(s64){d} {_C_SCMP[base]} (s64){v}"
            line += f"if ({cond}) goto L{pc + 1 + i.off};"
        elif fmt in (Fmt.LOAD, Fmt.STORE):
            region, obj, limit = mem_fields(i.imm)
            size = LOAD_SIZE[name]
            base = {0: "ctx", 1: "scratch", 2: f"jc->params[{obj}]",
                    3: f"(u8 *)jc->min[{obj}]", 4: f"(u8 *)jc->mout[{obj}]"}[region]
            addr = f"{base} + {i.off & 0xFFFF}"
            if limit:
                line += abort(pc, 1, f"{s} > {limit - size}")
                addr += f" + {s}"
            ty = _C_TY[size]
            if fmt == Fmt.STORE:
                line += f"{{ {ty} v = ({ty}){d}; memcpy((u8 *)({addr}), &v, {size}); }}"
            else:
                sty = "s" + ty[1:] if name in LOAD_SIGNED else ty
                line += f"{{ {sty} v; memcpy(&v, {addr}, {size}); {d} = (u64)v; }}"
        elif name == "APPLY":
            line += f"{d} = rmt_jit_apply(jc, {i.imm}, {i.off & 0xFFFF});"
        elif name == "CALLM":
            line += abort(pc, 5, f"rmt_jit_callm(jc, {i.imm})", False)
        elif name == "MAP_LD":
            line += abort(pc, 4, f"rmt_jit_map_ld(jc, {i.imm}, {s})", False) + f"{d} = jc->tmp;"
        elif name in ("MAP_ST", "MAP_ADD"):
            line += abort(pc, 4, f"rmt_jit_map_upd(jc, {i.imm}, {d}, {s}, "
                                 f"{int(name == 'MAP_ADD')})", False)
        elif name == "TRACE":
            line += f"rmt_jit_trace(jc, {i.imm}, {i.off & 0xFFFF});"
        elif name == "CALL":
            h = {HELPER_BY_NAME["ktime_ns"].id: f"{d} = jc->now;",
                 HELPER_BY_NAME["cpu"].id: f"{d} = jc->cpu;",
                 HELPER_BY_NAME["random"].id: f"{d} = rmt_jit_random(jc, {s});",
                 HELPER_BY_NAME["ilog2"].id: abort(pc, 6, f"!{s}") +
                 f"{d} = 63 - __builtin_clzll({s});"}
            line += h[i.imm]
        elif name == "EXIT":
            line += f"return (s64){s};"
        out.append(line)
    out.append("ab:\n\tjc->abort = reason;\n\tjc->abort_pc = pc;\n\treturn -1;\n}\n")
    return "\n".join(out)


class NativeEngine(CEngine):
    """The C VM running gcc's translation of the program (the benchmark's limit)."""

    def __init__(self, prog: Program, proven: frozenset[int], tmpdir: str):
        super().__init__(prog, jit=False)
        helper = {n: int(self.ffi.cast("uintptr_t", self.ffi.addressof(self.lib, n)))
                  for n in HELPERS}
        src = Path(tmpdir) / f"{prog.name}.c"
        so = src.with_suffix(".so")
        src.write_text(c_translation(prog, helper, proven))
        flags = [f for f in CFLAGS if f.startswith(("-O", "-std", "-fno"))]
        subprocess.run(["gcc", *flags, "-w", "-shared", "-fPIC", str(src), "-o", str(so)],
                       check=True)
        self._so = ctypes.CDLL(str(so))
        addr = ctypes.cast(self._so.rmt_prog, ctypes.c_void_p).value
        self._check(self.lib.rmt_vm_set_native(self._vm, self.id, self.ffi.cast("void *", addr)))


# ------------------------------------------------------------- timing

def ns_per_run(eng, ctxs: list[bytes], iters: int) -> float:
    per = max(iters // len(ctxs), 1)
    for c in ctxs:
        eng.bench(c, 200)                           # warm up
    best = []
    for _ in range(3):                              # best of 3: the machine is shared
        best.append(sum(eng.bench(c, per) for c in ctxs) / (per * len(ctxs)))
    return min(best)


# ------------------------------------------------------------- the issue's table rows

_FEATURES = "".join(f"    x[{i}] = ((ctx.pid >> {i % 12}) & 1023) as i32 - 512;\n"
                    for i in range(17))
_HEAD = "hook sched.can_migrate_task;\n"


def _tree_branches(depth: int, rng: random.Random, level: int = 0) -> str:
    pad = "    " * (level + 1)
    if level == depth:
        return f"{pad}decide({rng.choice(['ALLOW', 'DENY'])});\n"
    return (f"{pad}if x[{rng.randrange(17)}] > {rng.randint(-400, 400)} {{\n"
            + _tree_branches(depth, rng, level + 1) + f"{pad}}} else {{\n"
            + _tree_branches(depth, rng, level + 1) + f"{pad}}}\n")


def table_programs() -> dict[str, str]:
    """Sources for the rows of issue 20's table: a depth-6 tree written as branches and
    as the model op, and the MLP 17 -> 12 ReLU -> 2, on 17 features from the context."""
    rng = random.Random(6)
    return {
        "tree6_branches": _HEAD + "apply {\n    let x: i32[17];\n" + _FEATURES
        + _tree_branches(6, rng) + "}\n",
        "tree6_model": _HEAD + "model t: tree(in = 17, out = 1, depth = 6, "
        "input = -8192..8192);\napply {\n    let x: i32[17];\n" + _FEATURES
        + "    let y = t(x);\n    if y[0] > 0 { decide(ALLOW); }\n    decide(DENY);\n}\n",
        "mlp_17_12_2": _HEAD + "model m: mlp(in = 17, out = 2, weight = i16, max_weight = 2048, "
        "input = -8192..8192) {\n    dense(12, relu);\n    dense(2);\n}\n"
        "apply {\n    let x: i32[17];\n" + _FEATURES
        + "    let y = m(x);\n    if y[0] > y[1] { decide(ALLOW); }\n    decide(DENY);\n}\n",
    }


# ------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=200_000, help="runs per program and engine")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this example (its file name without .rmt; repeatable)")
    ap.add_argument("--no-micro", action="store_true",
                    help="skip the ALU-heavy and EXIT-only programs")
    ap.add_argument("--table", action="store_true",
                    help="also run issue 20's table rows: tree6_branches, tree6_model, "
                         "mlp_17_12_2 (bench/bench_model_ops.py has their SIMD C baselines)")
    args = ap.parse_args()

    examples = sorted((ROOT / "examples").rglob("*.rmt"))
    if args.only:
        examples = [p for p in examples if p.stem in args.only]
    print("ns per decision (best of 3), one run; ratios to native")
    print(f"{'program':22}{'insns':>6}{'native':>9}{'interp':>9}{'jit':>9}{'llvm':>9}"
          f"{'interp/n':>10}{'jit/n':>8}{'llvm/n':>8}")
    sources = [(p.stem, p.read_text(), str(p.relative_to(ROOT))) for p in examples]
    if args.table:
        sources += [(n, text, f"{n}.rmt") for n, text in table_programs().items()]
    with tempfile.TemporaryDirectory() as tmp:
        for stem, text, file in sources:
            prog = compile_source(text, file)
            proven = proven_checks(prog)
            rng = random.Random(args.seed)
            ctxs = random_ctxs(prog, rng)
            engines = {"native": NativeEngine(prog, proven, tmp),
                       "interp": CEngine(prog, jit=False),
                       "jit": CEngine(prog, jit=True),
                       "llvm": LlvmEngine(prog, trust_verifier=True)}
            t = {}
            for name, eng in engines.items():
                prepare(eng, prog, args.seed)
                t[name] = ns_per_run(eng, ctxs, args.iters)
            # Same decisions on the same state, or the timings mean nothing.
            for c in ctxs:
                got = {name: e.run(c).decision for name, e in engines.items()}
                assert len(set(got.values())) == 1, (stem, got)
            n = t["native"]
            print(f"{stem:22}{len(prog.code):6}{n:9.1f}{t['interp']:9.1f}{t['jit']:9.1f}"
                  f"{t['llvm']:9.1f}{t['interp'] / n:10.2f}{t['jit'] / n:8.2f}"
                  f"{t['llvm'] / n:8.2f}")
    if args.no_micro:
        return

    ctx = bytearray(alu_program(1)[0].hook.ctx_size)
    ctx[0], ctx[4] = 7, 9
    ctxs = [bytes(ctx)]
    prog, n_insns = alu_program(125)
    alu = {"interp": CEngine(prog, jit=False), "jit": CEngine(prog, jit=True),
           "llvm": LlvmEngine(prog)}
    ex = {"interp": CEngine(exit_program(), jit=False),
          "jit": CEngine(exit_program(), jit=True), "llvm": LlvmEngine(exit_program())}
    nat_alu, nat_exit = native_alu(125, args.iters * 10, len(ctx))
    print(f"\nALU-heavy program ({n_insns} instructions), ns per instruction; "
          f"EXIT-only program, ns per invocation")
    print(f"{'':24}{'native':>9}{'interp':>9}{'jit':>9}{'llvm':>9}")
    ta = {k: ns_per_run(e, ctxs, args.iters) for k, e in alu.items()}
    te = {k: ns_per_run(e, ctxs, args.iters * 10) for k, e in ex.items()}
    print(f"{'ns per instruction':24}{nat_alu / n_insns:9.3f}"
          + "".join(f"{ta[k] / n_insns:9.3f}" for k in alu))
    print(f"{'ALU ns per decision':24}{nat_alu:9.1f}" + "".join(f"{ta[k]:9.1f}" for k in alu))
    print(f"{'EXIT-only ns per run':24}{nat_exit:9.1f}" + "".join(f"{te[k]:9.1f}" for k in ex))
    print("(native ALU/EXIT: a plain C function in a C loop, from bench/bench_vm.py)")


if __name__ == "__main__":
    main()
