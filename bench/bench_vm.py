"""Interpreter speed of the C VM against natively compiled C doing the same work.

Prints, side by side from one run: ns per executed instruction on an
ALU-heavy program and the fixed cost of one invocation (an EXIT-only
program), for the C interpreter (timed by rmt_bench_run's C loop, not from
Python) and for the same work compiled natively by gcc with the same flags in
this run.  Targets (issue): <= 2 ns per instruction, <= 10 ns per invocation.

    .venv/bin/python bench/bench_vm.py [--insns N] [--iters N]
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path


from rmt.contract.isa import insn, mem_imm, Region  # noqa: E402
from rmt.contract.objfile import Program  # noqa: E402
from rmt.contract.hooks import TEST_SANDBOX  # noqa: E402
from rmt.vm import CEngine  # noqa: E402
from rmt.vm._build import CFLAGS  # noqa: E402

# One repeating block of ALU work over r1..r4 (and its C equivalent).
BLOCK = [("ADD_R", 1, 2, 0), ("XOR_R", 2, 3, 0), ("MUL_I", 3, 0, 3), ("SHR_I", 4, 0, 1),
         ("ADD_R", 4, 1, 0), ("SUB_R", 1, 4, 0), ("OR_I", 2, 0, 5), ("AND_R", 3, 2, 0)]
C_OP = {"ADD_R": "r{d} += r{s};", "XOR_R": "r{d} ^= r{s};", "MUL_I": "r{d} *= {i};",
        "SHR_I": "r{d} >>= {i};", "SUB_R": "r{d} -= r{s};", "OR_I": "r{d} |= {i};",
        "AND_R": "r{d} &= r{s};"}


def alu_program(n_blocks: int) -> tuple[Program, int]:
    ctx = mem_imm(Region.CTX)
    code = [insn("LDU32", 1, imm=ctx, off=0), insn("LDU32", 2, imm=ctx, off=4),
            insn("LDU32", 3, imm=ctx, off=0), insn("LDU32", 4, imm=ctx, off=4)]
    for _ in range(n_blocks):
        code += [insn(n, d, s, imm=i) for n, d, s, i in BLOCK]
    code += [insn("MOV_R", 0, 1), insn("AND_I", 0, imm=63), insn("EXIT", src=0)]
    return Program("alu", TEST_SANDBOX, code, 0), len(code)


def exit_program() -> Program:
    return Program("exit", TEST_SANDBOX, [insn("EXIT", src=0)], 0)


NATIVE = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
typedef uint64_t u64;
static u64 now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);	/* as rmt_bench_run() */
	return (u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
/* The same work as the bytecode: loads from the context, the ALU blocks, the exit. */
__attribute__((noinline)) static long alu(const unsigned char *ctx)
{
	uint32_t a, b;
	memcpy(&a, ctx, 4);
	memcpy(&b, ctx + 4, 4);
	u64 r1 = a, r2 = b, r3 = a, r4 = b;
	BODY
	return (long)(r1 & 63);
}
/* The fixed cost: a call through a pointer that returns a decision. */
__attribute__((noinline)) static long exit_only(const unsigned char *ctx)
{
	(void)ctx;
	return 0;
}
int main(int argc, char **argv)
{
	static unsigned char ctx[CTXSIZE] = { 7, 0, 0, 0, 9 };
	long (*volatile f)(const unsigned char *);
	unsigned char buf[CTXSIZE];
	u64 iters = ITERS, t0, i;
	long sink = 0;

	f = alu;
	t0 = now_ns();
	for (i = 0; i < iters / 10; i++) {
		memcpy(buf, ctx, sizeof(buf));
		buf[0] ^= (unsigned char)i;
		sink += f(buf);
	}
	printf("alu %llu\n", (unsigned long long)(now_ns() - t0));
	f = exit_only;
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		memcpy(buf, ctx, sizeof(buf));
		sink += f(buf);
	}
	printf("exit %llu\n", (unsigned long long)(now_ns() - t0));
	return sink == 42;
}
"""


def native(n_blocks: int, iters: int, ctx_size: int) -> tuple[float, float]:
    body = "\n\t".join(C_OP[n].format(d=d, s=s, i=i) for n, d, s, i in BLOCK * n_blocks)
    src = NATIVE.replace("BODY", body).replace("ITERS", str(iters)).replace(
        "CTXSIZE", str(ctx_size))
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "native.c", Path(tmp) / "native"
        c.write_text(src)
        flags = [f for f in CFLAGS if f.startswith(("-O", "-std", "-f"))]
        subprocess.run(["gcc", *flags, str(c), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], capture_output=True, text=True).stdout.split()
    t = dict(zip(out[::2], map(int, out[1::2])))
    return t["alu"] / (iters // 10), t["exit"] / iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=125, help="8-instruction ALU blocks")
    ap.add_argument("--iters", type=int, default=2_000_000)
    args = ap.parse_args()
    ctx = bytearray(TEST_SANDBOX.ctx_size)
    ctx[0], ctx[4] = 7, 9
    ctx = bytes(ctx)

    prog, n_insns = alu_program(args.blocks)
    # jit=False: this is the interpreter's benchmark (bench/bench_jit.py has the JIT).
    alu_eng, exit_eng = CEngine(prog, jit=False), CEngine(exit_program(), jit=False)
    alu_eng.bench(ctx, 1000)                   # warm up
    exit_eng.bench(ctx, 1000)
    alu_ns = alu_eng.bench(ctx, args.iters // 10) / (args.iters // 10)
    exit_ns = exit_eng.bench(ctx, args.iters) / args.iters
    nat_alu, nat_exit = native(args.blocks, args.iters, len(ctx))

    print(f"RMT C interpreter vs native C (gcc {' '.join(CFLAGS[:2])}), one run")
    print(f"{'':34}{'interpreter':>14}{'native':>12}{'ratio':>8}")
    print(f"{'ALU program, ns per decision':34}{alu_ns:14.1f}{nat_alu:12.1f}"
          f"{alu_ns / nat_alu:8.1f}")
    print(f"{'ALU program, ns per instruction':34}{alu_ns / n_insns:14.3f}"
          f"{nat_alu / n_insns:12.3f}   ({n_insns} instructions executed)")
    print(f"{'EXIT-only, ns per invocation':34}{exit_ns:14.1f}{nat_exit:12.1f}"
          f"{exit_ns / max(nat_exit, 1e-9):8.1f}")
    print(f"targets: <= 2 ns per instruction ({'met' if alu_ns / n_insns <= 2 else 'MISSED'}), "
          f"<= 10 ns per invocation ({'met' if exit_ns <= 10 else 'MISSED'})")


if __name__ == "__main__":
    main()
