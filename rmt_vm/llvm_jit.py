"""Validated RMT bytecode to native code through LLVM (llvmlite), for the sim target.

`compile_program(prog, proven)` emits LLVM IR for the program's code and JIT
compiles it into one function with the ABI of the C VM's native code
(vm_kernel/core/rmt_jit.h): `i64 rmt_prog(ptr jc)` reading the regions from
`struct rmt_jit_ctx` and calling the C helpers `rmt_jit_*` for tables,
models, maps, trace and random.  The C runtime keeps doing everything that is
not the program's own code (per-run setup, statistics, the decision check),
so the only thing this module decides is what the instructions compute.

Run-time checks are those of docs/semantics.md, except that a check the
verifier proved can never fail (`proven`: the pcs of proved InBounds,
NonZeroDivisor, ShiftInRange and HelperArgValid obligations) is left out.
That is allowed here and only here: this code runs in the simulator's
process, never in the kernel, and the proof assumes contexts in the hook's
declared ranges.

The IR is plain text (LLVM 15+ opaque pointers), one basic block per
bytecode instruction; registers are allocas that mem2reg turns into SSA.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import llvmlite.binding as llvm

from rmt.contract.isa import (BY_CODE, HELPER_BY_NAME, LOAD_SIGNED, LOAD_SIZE, Abort, Fmt, Insn, Region,
                          mem_fields)
from rmt.contract.objfile import Program

# struct rmt_jit_ctx field offsets (vm_kernel/core/rmt_jit.h, RMT_JC_*).
JC_SCRATCH, JC_CTX, JC_PARAMS, JC_MIN, JC_MOUT = 0, 8, 16, 24, 32
JC_NOW, JC_CPU, JC_ABORT, JC_ABORT_PC, JC_TMP = 48, 56, 60, 64, 72

# The C helpers native code calls, with their LLVM signatures.
HELPERS = {
    "rmt_jit_apply": "i64 @rmt_jit_apply(ptr, i32, i32)",
    "rmt_jit_callm": "i32 @rmt_jit_callm(ptr, i32)",
    "rmt_jit_map_ld": "i32 @rmt_jit_map_ld(ptr, i32, i64)",
    "rmt_jit_map_upd": "i32 @rmt_jit_map_upd(ptr, i32, i64, i64, i32)",
    "rmt_jit_trace": "void @rmt_jit_trace(ptr, i32, i32)",
    "rmt_jit_random": "i64 @rmt_jit_random(ptr, i64)",
}

_ALU_IR = {"ADD": "add", "SUB": "sub", "MUL": "mul", "AND": "and", "OR": "or", "XOR": "xor",
           "SHL": "shl", "SHR": "lshr", "SAR": "ashr", "DIV": "udiv", "MOD": "urem"}
_CMP_IR = {"JEQ": "eq", "JNE": "ne", "JLT": "ult", "JLE": "ule", "JGT": "ugt", "JGE": "uge",
           "JSLT": "slt", "JSLE": "sle", "JSGT": "sgt", "JSGE": "sge"}
_REGION_SLOT = {Region.PARAMS: JC_PARAMS, Region.MIN: JC_MIN, Region.MOUT: JC_MOUT}
_ILOG2 = HELPER_BY_NAME["ilog2"].id
_KTIME = HELPER_BY_NAME["ktime_ns"].id
_CPU = HELPER_BY_NAME["cpu"].id
_RANDOM = HELPER_BY_NAME["random"].id


def _s64(v: int) -> int:
    """imm sign-extended to 64 bits, as an LLVM i64 literal."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


@dataclass
class _Fn:
    """IR text being built for one function, with fresh SSA names."""
    lines: list[str] = field(default_factory=list)
    n: int = 0

    def tmp(self) -> str:
        self.n += 1
        return f"%t{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")

    def val(self, expr: str) -> str:
        t = self.tmp()
        self.emit(f"{t} = {expr}")
        return t


class _Gen:
    """Translates one program, instruction by instruction (see module doc)."""

    def __init__(self, prog: Program, proven: frozenset[int]):
        self.prog = prog
        self.proven = proven
        self.f = _Fn()
        self.aborts: dict[tuple[int, int], str] = {}

    # -- registers and checks

    def get(self, r: int) -> str:
        return self.f.val(f"load i64, ptr %r{r}")

    def put(self, r: int, v: str | int) -> None:
        self.f.emit(f"store i64 {v}, ptr %r{r}")

    def check(self, pc: int, reason: Abort, fails: str) -> None:
        """Branch to the abort exit for (reason, pc) when the i1 `fails` is true."""
        if pc in self.proven and reason in (Abort.BOUNDS, Abort.DIV_ZERO, Abort.SHIFT,
                                            Abort.HELPER):
            return
        label = self.aborts.setdefault((int(reason), pc), f"abort{len(self.aborts)}")
        ok = f"ok{self.f.n + 1}_{pc}"
        self.f.n += 1
        self.f.emit(f"br i1 {fails}, label %{label}, label %{ok}, !prof !0")
        self.f.label(ok)

    def jc_field(self, off: int, ty: str) -> str:
        p = self.f.val(f"getelementptr i8, ptr %jc, i64 {off}")
        return self.f.val(f"load {ty}, ptr {p}")

    # -- instruction families

    def alu(self, pc: int, i: Insn, name: str) -> None:
        base, form = name.rsplit("_", 1)
        if form == "R":
            s = self.get(i.src)
        else:
            s = str(_s64(i.imm))
        if base == "MOV":
            self.put(i.dst, s)
            return
        d = self.get(i.dst)
        f = self.f
        if form == "R" and base in ("DIV", "MOD", "SDIV", "SMOD"):
            self.check(pc, Abort.DIV_ZERO, f.val(f"icmp eq i64 {s}, 0"))
        if form == "R" and base in ("SHL", "SHR", "SAR"):
            self.check(pc, Abort.SHIFT, f.val(f"icmp ugt i64 {s}, 63"))
        if base in ("SDIV", "SMOD"):
            # MIN / -1 is undefined in LLVM: divide by 1 instead and fix up.
            m1 = f.val(f"icmp eq i64 {s}, -1")
            d2 = f.val(f"select i1 {m1}, i64 1, i64 {s}")
            if base == "SDIV":
                q = f.val(f"sdiv i64 {d}, {d2}")
                neg = f.val(f"sub i64 0, {d}")
                r = f.val(f"select i1 {m1}, i64 {neg}, i64 {q}")
            else:
                q = f.val(f"srem i64 {d}, {d2}")
                r = f.val(f"select i1 {m1}, i64 0, i64 {q}")
        else:
            r = f.val(f"{_ALU_IR[base]} i64 {d}, {s}")
        self.put(i.dst, r)

    def unary(self, i: Insn, name: str) -> None:
        f, d = self.f, self.get(i.dst)
        if name == "NEG":
            r = f.val(f"sub i64 0, {d}")
        elif name == "ZEXT":
            r = f.val(f"and i64 {d}, {(1 << i.imm) - 1}")
        elif name == "SEXT":
            t = f.val(f"trunc i64 {d} to i{i.imm}")
            r = f.val(f"sext i{i.imm} {t} to i64")
        else:   # LDHI
            lo = f.val(f"and i64 {d}, 4294967295")
            r = f.val(f"or i64 {lo}, {_s64((i.imm & 0xFFFFFFFF) << 32)}")
        self.put(i.dst, r)

    def jump(self, pc: int, i: Insn, name: str) -> None:
        target, nxt = f"%pc{pc + 1 + i.off}", f"%pc{pc + 1}"
        if name == "JA":
            self.f.emit(f"br label {target}")
            return
        base, form = name.rsplit("_", 1)
        d = self.get(i.dst)
        s = self.get(i.src) if form == "R" else str(_s64(i.imm))
        if base == "JSET":
            a = self.f.val(f"and i64 {d}, {s}")
            c = self.f.val(f"icmp ne i64 {a}, 0")
        else:
            c = self.f.val(f"icmp {_CMP_IR[base]} i64 {d}, {s}")
        self.f.emit(f"br i1 {c}, label {target}, label {nxt}")

    def addr(self, pc: int, i: Insn, size: int) -> str:
        region, obj, limit = mem_fields(i.imm)
        f = self.f
        if region == Region.SCRATCH:
            base = "%scratch"
        elif region == Region.CTX:
            base = "%ctx"
        else:
            arr = self.jc_field(_REGION_SLOT[Region(region)], "ptr")
            slot = f.val(f"getelementptr ptr, ptr {arr}, i64 {obj}")
            base = f.val(f"load ptr, ptr {slot}")
        off = str(i.off & 0xFFFF)
        if limit:
            idx = self.get(i.src)
            self.check(pc, Abort.BOUNDS, f.val(f"icmp ugt i64 {idx}, {limit - size}"))
            off = f.val(f"add i64 {idx}, {off}")
        return f.val(f"getelementptr i8, ptr {base}, i64 {off}")

    def mem(self, pc: int, i: Insn, name: str) -> None:
        size = LOAD_SIZE[name]
        bits = 8 * size
        p = self.addr(pc, i, size)
        f = self.f
        if name.startswith("ST"):
            v = self.get(i.dst)
            if bits < 64:
                v = f.val(f"trunc i64 {v} to i{bits}")
            f.emit(f"store i{bits} {v}, ptr {p}, align 1")
            return
        v = f.val(f"load i{bits}, ptr {p}, align 1")
        if bits < 64:
            v = f.val(f"{'sext' if name in LOAD_SIGNED else 'zext'} i{bits} {v} to i64")
        self.put(i.dst, v)

    def ext(self, pc: int, i: Insn, name: str) -> None:
        f = self.f
        if name == "APPLY":
            r = f.val(f"call i64 @rmt_jit_apply(ptr %jc, i32 {i.imm}, i32 {i.off & 0xFFFF})")
            self.put(i.dst, r)
        elif name == "CALLM":
            rc = f.val(f"call i32 @rmt_jit_callm(ptr %jc, i32 {i.imm})")
            self.check(pc, Abort.MODEL_MISSING, f.val(f"icmp ne i32 {rc}, 0"))
        elif name == "MAP_LD":
            k = self.get(i.src)
            rc = f.val(f"call i32 @rmt_jit_map_ld(ptr %jc, i32 {i.imm}, i64 {k})")
            self.check(pc, Abort.MAP_INDEX, f.val(f"icmp ne i32 {rc}, 0"))
            self.put(i.dst, self.jc_field(JC_TMP, "i64"))
        elif name in ("MAP_ST", "MAP_ADD"):
            k, v = self.get(i.dst), self.get(i.src)
            rc = f.val(f"call i32 @rmt_jit_map_upd(ptr %jc, i32 {i.imm}, i64 {k}, i64 {v}, "
                       f"i32 {int(name == 'MAP_ADD')})")
            self.check(pc, Abort.MAP_INDEX, f.val(f"icmp ne i32 {rc}, 0"))
        elif name == "TRACE":
            f.emit(f"call void @rmt_jit_trace(ptr %jc, i32 {i.imm}, i32 {i.off & 0xFFFF})")
        elif i.imm == _KTIME:
            self.put(i.dst, self.jc_field(JC_NOW, "i64"))
        elif i.imm == _CPU:
            c = self.jc_field(JC_CPU, "i32")
            self.put(i.dst, f.val(f"zext i32 {c} to i64"))
        elif i.imm == _RANDOM:
            n = self.get(i.src)
            self.put(i.dst, f.val(f"call i64 @rmt_jit_random(ptr %jc, i64 {n})"))
        elif i.imm == _ILOG2:
            x = self.get(i.src)
            self.check(pc, Abort.HELPER, f.val(f"icmp eq i64 {x}, 0"))
            lz = f.val(f"call i64 @llvm.ctlz.i64(i64 {x}, i1 true)")
            self.put(i.dst, f.val(f"sub i64 63, {lz}"))
        else:   # the validator rejects unknown helpers
            raise ValueError(f"pc {pc}: unknown helper {i.imm}")

    # -- the function

    def build(self) -> str:
        f = self.f
        f.lines.append("define i64 @rmt_prog(ptr noalias %jc) {")
        f.label("entry")
        for r in range(16):
            f.emit(f"%r{r} = alloca i64")
            f.emit(f"store i64 0, ptr %r{r}")
        f.emit("%scratch = load ptr, ptr %jc")
        f.emit(f"%ctxp = getelementptr i8, ptr %jc, i64 {JC_CTX}")
        f.emit("%ctx = load ptr, ptr %ctxp")
        f.emit("br label %pc0")
        for pc, i in enumerate(self.prog.code):
            op = BY_CODE[i.code]
            f.label(f"pc{pc}")
            fmt = op.fmt
            if fmt in (Fmt.ALU_R, Fmt.ALU_I):
                if op.name == "LDHI":
                    self.unary(i, op.name)
                else:
                    self.alu(pc, i, op.name)
            elif fmt in (Fmt.ALU_U, Fmt.EXT):
                self.unary(i, op.name)
            elif fmt in (Fmt.JA, Fmt.JMP_R, Fmt.JMP_I):
                self.jump(pc, i, op.name)
                continue
            elif fmt in (Fmt.LOAD, Fmt.STORE):
                self.mem(pc, i, op.name)
            elif fmt == Fmt.EXIT:
                f.emit(f"ret i64 {self.get(i.src)}")
                continue
            else:
                self.ext(pc, i, op.name)
            f.emit(f"br label %pc{pc + 1}")
        for (reason, pc), label in self.aborts.items():
            f.label(label)
            a = f.val(f"getelementptr i8, ptr %jc, i64 {JC_ABORT}")
            f.emit(f"store i32 {reason}, ptr {a}")
            b = f.val(f"getelementptr i8, ptr %jc, i64 {JC_ABORT_PC}")
            f.emit(f"store i32 {pc}, ptr {b}")
            f.emit("ret i64 -1")
        f.lines.append("}")
        decls = [f"declare {sig}" for sig in HELPERS.values()]
        decls.append("declare i64 @llvm.ctlz.i64(i64, i1)")
        meta = ['!0 = !{!"branch_weights", i32 1, i32 1048575}']
        return "\n".join(decls + f.lines + meta) + "\n"


def program_ir(prog: Program, proven: frozenset[int] = frozenset()) -> str:
    """The LLVM IR text of `prog`'s code (for inspection and tests)."""
    return _Gen(prog, proven).build()


_init_lock = threading.Lock()
_initialized = False


def _target_machine(opt: int) -> llvm.TargetMachine:
    """A new target machine for the host (each MCJIT engine takes ownership of one)."""
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialized = True
    return llvm.Target.from_default_triple().create_target_machine(opt=opt, jit=True)


@dataclass
class NativeCode:
    """JIT-compiled code; keep this object alive while anything may call `address`."""
    address: int
    engine: object        # llvmlite's ExecutionEngine, which owns the code
    ir: str


def compile_program(prog: Program, helper_address: Callable[[str], int],
                    proven: frozenset[int] = frozenset(), opt: int = 3) -> NativeCode:
    """Compile `prog` (already accepted by the validator) to native code.

    helper_address(name) gives the address of each C helper in HELPERS."""
    tm = _target_machine(opt)
    for name in HELPERS:
        llvm.add_symbol(name, helper_address(name))
    ir = program_ir(prog, proven)
    mod = llvm.parse_assembly(ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=opt))
    pb.getModulePassManager().run(mod, pb)
    ee = llvm.create_mcjit_compiler(mod, tm)
    ee.finalize_object()
    return NativeCode(ee.get_function_address("rmt_prog"), ee, ir)


__all__ = ["HELPERS", "NativeCode", "compile_program", "program_ir"]
