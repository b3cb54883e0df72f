"""The RMT instruction set: the one definition.

Everything that knows about opcodes comes from the OPCODES list below: the
Python assembler and disassembler (compiler/asm.py), the reference interpreter
(semantics/), the verifier, and the generated C header vm_kernel/core/rmt_isa.h
(an X-macro list expanded by the C validator and the interpreter's dispatch
table; see contract/cgen.py and tests/test_generated.py, which fails when the
header is stale).

Opcode numbers are ABI (they are what a .rmtb holds), but no engine relies on
how they are ordered or paired: nothing computes with a code (no `code & 1`
for "immediate form", no ranges such as "below NEG is binary ALU", no
`code - JA` for the condition).  Each C JIT names every opcode in a table
expanded from the X-macro list (`J_OP_<NAME>` in vm_kernel/core/rmt_jit.c,
`KJ_OP_<NAME>` in vm_kernel/kmod/rmt_kmod_jit.c), so an opcode added here does
not build until each JIT translates it or marks it interpreter-only
(tests/test_jit_opcode_table.py shows both).  The groupings below (pairs of
_R/_I forms, contiguous jumps, sized loads) are for reading the table only.

Instruction layout: 8 bytes, little-endian, like eBPF's::

    byte   0        1                2     3     4     5     6     7
        +--------+----------------+-----------+-----------------------+
        | opcode | src:4 | dst:4  |  off s16  |       imm s32         |
        +--------+----------------+-----------+-----------------------+

dst is the low nibble of byte 1, src the high nibble.  16 registers r0..r15,
64 bits each, zero at entry.  ALU operations are 64-bit and wrap; narrower
types are kept canonical by the compiler with ZEXT/SEXT.

Jumps go forward only: the target is pc + 1 + off with off >= 0, so every
program is a DAG and terminates.

Memory operands (LD*/ST*) name a region in imm::

    imm bits  0..7   region (REGION_* below)
    imm bits  8..15  object id (table id for PARAMS, model id for MIN/MOUT)
    imm bits 16..31  limit: 0 for a constant address `off`;
                     otherwise the access is indexed: the byte address is
                     off + r[src] and r[src] <= limit - size is checked at
                     run time (one compare; a failure aborts the program).

The validator checks statically that [off, off + max(size, limit)) lies in
the region (and, for the context, inside one field the hook lets the program
read or write).
"""
from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

INSN_SIZE = 8
NUM_REGS = 16
MAX_INSNS = 32768          # jumps reach any later pc with an s16 offset


class Region(enum.IntEnum):
    """Memory regions an instruction may address (imm bits 0..7)."""
    CTX = 0        # the hook context (fields per hook spec)
    SCRATCH = 1    # per-invocation scratch, program-declared size, zeroed
    PARAMS = 2     # action parameters of the entry the last APPLY of table <obj> matched
    MIN = 3        # input vector of model <obj> (int32 elements)
    MOUT = 4       # output vector of model <obj> (int32 elements)


class Fmt(enum.Enum):
    """Operand format: which fields an opcode uses, for asm/disasm/validator."""
    ALU_R = "alu_r"      # dst, src
    ALU_I = "alu_i"      # dst, imm
    ALU_U = "alu_u"      # dst             (unary)
    EXT = "ext"          # dst, imm in {8, 16, 32}
    JA = "ja"            # off
    JMP_R = "jmp_r"      # dst, src, off
    JMP_I = "jmp_i"      # dst, imm, off
    LOAD = "load"        # dst <- mem(imm, off, src)
    STORE = "store"      # mem(imm, off, src) <- dst
    APPLY = "apply"      # dst <- action index; imm = table, off = key offset in scratch
    CALLM = "callm"      # imm = model
    MAP_LD = "map_ld"    # dst <- map[imm][r[src]]
    MAP_ST = "map_st"    # map[imm][r[dst]] <- r[src]
    TRACE = "trace"      # imm = trace format, off = scratch offset of the record
    CALL = "call"        # dst <- helper[imm](r[src])
    EXIT = "exit"        # decision <- r[src]


# The `random` helper's xorshift64 state when a load gives no seed (every engine).
DEFAULT_SEED = 0x9E3779B97F4A7C15

# Instruction fields besides the opcode, in the order of their RMT_USES_* bits.
INSN_FIELDS = ("dst", "src", "off", "imm")
# The fields each format uses; the validators (Python and C) reject any other that is not
# zero.  A CALL of a helper that takes no argument uses CALL0_USES (src must be zero).
FMT_USES: dict[Fmt, frozenset[str]] = {
    Fmt.ALU_R: frozenset({"dst", "src"}), Fmt.ALU_I: frozenset({"dst", "imm"}),
    Fmt.ALU_U: frozenset({"dst"}), Fmt.EXT: frozenset({"dst", "imm"}),
    Fmt.JA: frozenset({"off"}), Fmt.JMP_R: frozenset({"dst", "src", "off"}),
    Fmt.JMP_I: frozenset({"dst", "imm", "off"}), Fmt.LOAD: frozenset({"dst", "src", "off", "imm"}),
    Fmt.STORE: frozenset({"dst", "src", "off", "imm"}), Fmt.APPLY: frozenset({"dst", "off", "imm"}),
    Fmt.CALLM: frozenset({"imm"}), Fmt.MAP_LD: frozenset({"dst", "src", "imm"}),
    Fmt.MAP_ST: frozenset({"dst", "src", "imm"}), Fmt.TRACE: frozenset({"off", "imm"}),
    Fmt.CALL: frozenset({"dst", "src", "imm"}), Fmt.EXIT: frozenset({"src"}),
}
CALL0_USES = frozenset({"dst", "imm"})


class Abort(enum.IntEnum):
    """Why a run-time check stopped a program (the hook then uses DEFAULT)."""
    NONE = 0
    BOUNDS = 1          # indexed memory access out of its limit
    DIV_ZERO = 2        # DIV/MOD/SDIV/SMOD by zero
    SHIFT = 3           # shift by a register amount >= 64
    MAP_INDEX = 4       # array/counter map index >= size
    MODEL_MISSING = 5   # CALLM on a model with no weights loaded
    HELPER = 6          # helper failed (e.g. ilog2(0))


@dataclass(frozen=True)
class Op:
    """One opcode.  `cost` is its fixed part of the worst-case cost model (compiler/cost.py);
    APPLY, CALLM, MAP_*, TRACE and CALL add the cost of the table, model, map, trace fields or
    helper they name."""
    name: str
    code: int
    fmt: Fmt
    doc: str
    cost: int = 1


def _alu(base: int) -> list[Op]:
    pairs = [
        ("ADD", "dst = dst + {s}"), ("SUB", "dst = dst - {s}"), ("MUL", "dst = dst * {s}"),
        ("DIV", "dst = dst / {s}, unsigned; {s} == 0 aborts"),
        ("SDIV", "dst = dst / {s}, signed, toward zero; {s} == 0 aborts; MIN / -1 = MIN"),
        ("MOD", "dst = dst % {s}, unsigned; {s} == 0 aborts"),
        ("SMOD", "dst = dst % {s}, signed, sign of dst; {s} == 0 aborts; MIN % -1 = 0"),
        ("AND", "dst = dst & {s}"), ("OR", "dst = dst | {s}"), ("XOR", "dst = dst ^ {s}"),
        ("SHL", "dst = dst << {s}; {s} >= 64 aborts"),
        ("SHR", "dst = dst >> {s}, logical; {s} >= 64 aborts"),
        ("SAR", "dst = dst >> {s}, arithmetic; {s} >= 64 aborts"),
        ("MOV", "dst = {s}"),
    ]
    ops = []
    for i, (name, doc) in enumerate(pairs):
        ops.append(Op(f"{name}_R", base + 2 * i, Fmt.ALU_R, doc.format(s="src")))
        idoc = doc.format(s="imm").replace("imm == 0 aborts", "imm == 0 is rejected at load")
        idoc = idoc.replace("imm >= 64 aborts", "imm >= 64 is rejected at load")
        ops.append(Op(f"{name}_I", base + 2 * i + 1, Fmt.ALU_I, idoc))
    return ops


def _jumps(base: int) -> list[Op]:
    conds = [
        ("JEQ", "dst == {s}"), ("JNE", "dst != {s}"), ("JLT", "dst < {s} (unsigned)"),
        ("JLE", "dst <= {s} (unsigned)"), ("JGT", "dst > {s} (unsigned)"),
        ("JGE", "dst >= {s} (unsigned)"), ("JSLT", "dst < {s} (signed)"),
        ("JSLE", "dst <= {s} (signed)"), ("JSGT", "dst > {s} (signed)"),
        ("JSGE", "dst >= {s} (signed)"), ("JSET", "dst & {s} != 0"),
    ]
    ops = [Op("JA", base, Fmt.JA, "pc += off")]
    for i, (name, rel) in enumerate(conds):
        ops.append(Op(f"{name}_R", base + 1 + 2 * i, Fmt.JMP_R, f"if {rel.format(s='src')}: pc += off"))
        ops.append(Op(f"{name}_I", base + 2 + 2 * i, Fmt.JMP_I, f"if {rel.format(s='imm')}: pc += off"))
    return ops


OPCODES: list[Op] = [
    *_alu(0x00),
    Op("NEG", 0x1c, Fmt.ALU_U, "dst = -dst"),
    Op("ZEXT", 0x1d, Fmt.EXT, "dst = low imm bits of dst, zero-extended (imm 8/16/32)"),
    Op("SEXT", 0x1e, Fmt.EXT, "dst = low imm bits of dst, sign-extended (imm 8/16/32)"),
    Op("LDHI", 0x1f, Fmt.ALU_I, "dst = (dst & 0xffffffff) | (u32)imm << 32"),
    *_jumps(0x20),
    Op("LDU8", 0x40, Fmt.LOAD, "dst = zero-extended u8 at mem"),
    Op("LDU16", 0x41, Fmt.LOAD, "dst = zero-extended u16 at mem"),
    Op("LDU32", 0x42, Fmt.LOAD, "dst = zero-extended u32 at mem"),
    Op("LD64", 0x43, Fmt.LOAD, "dst = u64 at mem"),
    Op("LDS8", 0x44, Fmt.LOAD, "dst = sign-extended s8 at mem"),
    Op("LDS16", 0x45, Fmt.LOAD, "dst = sign-extended s16 at mem"),
    Op("LDS32", 0x46, Fmt.LOAD, "dst = sign-extended s32 at mem"),
    Op("ST8", 0x48, Fmt.STORE, "u8 at mem = dst"),
    Op("ST16", 0x49, Fmt.STORE, "u16 at mem = dst"),
    Op("ST32", 0x4a, Fmt.STORE, "u32 at mem = dst"),
    Op("ST64", 0x4b, Fmt.STORE, "u64 at mem = dst"),
    Op("APPLY", 0x50, Fmt.APPLY,
       "look up table imm with the u64 key fields at scratch[off..]; dst = action index"
       " (the default action's on a miss); PARAMS(imm) = that entry's parameters"),
    Op("CALLM", 0x51, Fmt.CALLM,
       "run model imm on MIN(imm) into MOUT(imm); no weights loaded aborts"),
    Op("MAP_LD", 0x52, Fmt.MAP_LD,
       "dst = map imm [r[src]] (0 when a hash key is absent; array index >= size aborts)",
       cost=0),
    Op("MAP_ST", 0x53, Fmt.MAP_ST,
       "map imm [r[dst]] = r[src] (a full hash map drops the update and counts it)", cost=0),
    Op("MAP_ADD", 0x54, Fmt.MAP_ST,
       "map imm [r[dst]] += r[src], wrapping at the value width (absent hash key = 0)",
       cost=0),
    Op("TRACE", 0x55, Fmt.TRACE,
       "emit trace record of format imm: its n fields are the u64s at scratch[off..off+8n)",
       cost=4),
    Op("CALL", 0x56, Fmt.CALL, "dst = helper imm (r[src]); see HELPERS", cost=0),
    Op("EXIT", 0x57, Fmt.EXIT, "return r[src] as the decision"),
]

BY_NAME: dict[str, Op] = {op.name: op for op in OPCODES}
BY_CODE: dict[int, Op] = {op.code: op for op in OPCODES}

LOAD_SIZE = {"LDU8": 1, "LDU16": 2, "LDU32": 4, "LD64": 8, "LDS8": 1, "LDS16": 2, "LDS32": 4,
             "ST8": 1, "ST16": 2, "ST32": 4, "ST64": 8}
LOAD_SIGNED = {"LDS8", "LDS16", "LDS32"}


@dataclass(frozen=True)
class Helper:
    """A numbered helper with a fixed signature: dst = f(r[src]) or f()."""
    name: str
    id: int
    nargs: int
    doc: str
    hooks: tuple[str, ...] = ()      # empty: allowed at every hook
    cost: int = 4


HELPERS: list[Helper] = [
    Helper("ktime_ns", 1, 0, "monotonic time in ns (sim: the simulator's clock)"),
    Helper("cpu", 2, 0, "the CPU the hook runs on"),
    Helper("random", 3, 1, "uniform random number in [0, arg); arg == 0 gives 0"),
    Helper("ilog2", 4, 1, "floor(log2(arg)); arg == 0 aborts (HELPER)"),
]
# cpu() returns a value below CPU_LIMIT: the verifier assumes it (verifier/symexec.py) and
# every engine enforces it by refusing to run where CPU numbers reach it (the C runtime
# refuses to load a program on a machine with more CPUs; rmt_isa.h RMT_HELPER_CPU_LIMIT).
CPU_LIMIT = 4096
assert CPU_LIMIT & (CPU_LIMIT - 1) == 0, "the verifier models cpu() as log2(CPU_LIMIT) bits"
HELPER_BY_NAME = {h.name: h for h in HELPERS}
HELPER_BY_ID = {h.id: h for h in HELPERS}


def mem_imm(region: Region, obj: int = 0, limit: int = 0) -> int:
    """Pack a memory operand's imm (returns the s32 bit pattern as a Python int)."""
    if not 0 <= obj < 256 or not 0 <= limit < 65536:
        raise ValueError(f"memory operand out of range: obj={obj} limit={limit}")
    raw = int(region) | obj << 8 | limit << 16
    return raw - (1 << 32) if raw >= 1 << 31 else raw


def mem_fields(imm: int) -> tuple[int, int, int]:
    """Unpack a memory operand's imm into (region, obj, limit)."""
    raw = imm & 0xFFFFFFFF
    return raw & 0xFF, (raw >> 8) & 0xFF, raw >> 16


@dataclass(frozen=True)
class Insn:
    """One decoded instruction."""
    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def op(self) -> Op:
        return BY_CODE[self.code]

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def decode(cls, raw: bytes, offset: int = 0) -> "Insn":
        code, regs, off, imm = struct.unpack_from("<BBhi", raw, offset)
        return cls(code, regs & 0xF, regs >> 4, off, imm)


def insn(name: str, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Insn:
    """Instruction builder for the compiler and tests: insn("ADD_I", 1, imm=3)."""
    return Insn(BY_NAME[name].code, dst, src, off, imm)
