"""Seed corpora for the libFuzzer targets of tools/fuzz/.

Random bytes almost never get past the .rmtb header, so each target starts
from inputs that are valid and interesting, made from the repo's own
programs: every example (`examples/**/*.rmt`, compiled), every VM case
(`tests/vmcases/*.case`) and verifier corpus case (`tests/verifier/*/*.case`),
and seeded `tests/progen.py` programs.  Each fuzz_load seed is the object
followed by a script (see fuzz_load.c, run_script()) that fills tables, loads
weights inside the model's signature, writes maps and runs in-range contexts;
fuzz_weights seeds are each model's signature with two valid blobs;
fuzz_table seeds are the programs' table schemas with entry operations;
fuzz_ioctl seeds are whole /dev/rmt sessions (ioctl_session(): load, entries,
weights, maps, runs, dumps, trace select and read, unload) in the call
format of tools/fuzz/fuzz_ioctl.h.

    python tools/fuzz/seeds.py OUTDIR        # writes OUTDIR/{load,table,weights,ioctl}/
"""
from __future__ import annotations

import ctypes
import hashlib
import random
import struct
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
# The repo first: tests/verifier/ (case files) must not shadow the verifier package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rmt.compiler import compile_source
from rmt.contract import objfile  # noqa: E402
from rmt.contract.objfile import Model, Program, Table  # noqa: E402
from rmt.contract.objformat import MatchKind  # noqa: E402
from rmt.ctl import kernel_abi  # noqa: E402

# fuzz_common.h fuzz_key(): selector 5 takes the next 8 bytes masked to the
# key's width, 0x85 the next 8 bytes unmasked.
_KEY, _KEY_RAW = 5, 0x85


def key_bytes(v: int, raw: bool = False) -> bytes:
    """An exact value through fuzz_key()."""
    return bytes([_KEY_RAW if raw else _KEY]) + struct.pack("<Q", v & (2**64 - 1))


def op_table(t: int, op: int, table: Table, match: list[tuple[int, int]], action: int,
             params: bytes, priority: int = 0) -> bytes:
    """A table update as fuzz_load.c op_table() decodes it."""
    out = bytes([0, t, op, 0x40]) + struct.pack("<I", priority) + bytes([action, 0])
    for a, b in match:
        out += key_bytes(a) + key_bytes(b)
    return out + bytes([0]) + params[:32].ljust(min(table.actions[action].param_size, 32), b"\0")


def op_model(m: int, blob: bytes) -> bytes:
    return bytes([1, m]) + struct.pack("<H", len(blob)) + blob


def op_map(m: int, key: int, val: int) -> bytes:
    return bytes([2, m]) + key_bytes(key, True) + key_bytes(val, True)


def op_run(ctx: bytes, cpu: int, now: int) -> bytes:
    return bytes([3, cpu % 64]) + struct.pack("<Q", now) + ctx


def random_match(table: Table, rng: random.Random) -> list[tuple[int, int]]:
    out = []
    for k in table.keys:
        top = (1 << k.bits) - 1
        v = rng.choice([0, 1, top, rng.randint(0, min(top, 64)), rng.randint(0, top)])
        if k.kind == MatchKind.EXACT:
            out.append((v, 0))
        elif k.kind == MatchKind.LPM:
            out.append((v, rng.randint(0, k.bits)))
        elif k.kind == MatchKind.TERNARY:
            out.append((v, rng.choice([0, top, rng.randint(0, top)])))
        else:
            hi = rng.randint(v, min(top, v + 100))
            out.append((v, hi))
    return out


def weights(m: Model, rng: random.Random) -> bytes | None:
    """Random weights inside the verifier's bounds, or None for a signature it cannot fill."""
    from test_verifier_soundness import weights_for
    try:
        return weights_for(m, rng)
    except (IndexError, ValueError, OverflowError, struct.error):
        return None


def script(prog: Program, rng: random.Random, runs: int = 4) -> bytes:
    """Entries, weights, map values and in-range runs for a program."""
    from test_verifier_soundness import ctx_in_range
    out = b""
    for t_id, t in enumerate(prog.tables):
        for _ in range(rng.randrange(4)):
            a = rng.randrange(len(t.actions))
            prio = rng.randrange(8) if any(k.kind >= MatchKind.TERNARY for k in t.keys) else 0
            params = bytes(rng.randrange(256) for _ in range(t.actions[a].param_size))
            out += op_table(t_id, 0, t, random_match(t, rng), a, params, prio)
    for m_id, m in enumerate(prog.models):
        blob = weights(m, rng)
        if blob is not None and len(blob) < 65536:
            out += op_model(m_id, blob)
    for m_id, mp in enumerate(prog.maps):
        out += op_map(m_id, rng.randrange(min(mp.max_entries, 16)), rng.randrange(1 << 16))
    for _ in range(runs):
        out += op_run(ctx_in_range(prog.hook, rng), rng.randrange(64), rng.randrange(1 << 40))
    return out


def sig_bytes(m: Model) -> bytes:
    """A model signature as fuzz_weights.c decode_sig() reads it."""
    out = struct.pack("<BBBHHIIiii", int(m.kind), m.weight_bits, len(m.layers), m.trees,
                      m.depth, m.n_in, m.n_out, m.in_lo, m.in_hi, m.max_abs_weight)
    for ly in m.layers:
        out += struct.pack("<BBHHHII", int(ly.kind), int(ly.act), ly.in_ch, ly.out_ch,
                           ly.kernel, ly.n_in, ly.n_out)
    return out


def synthetic_models(rng: random.Random) -> Iterator[tuple[Model, bytes]]:
    """Signatures the programs do not declare: deep trees and forests (depth up to the
    limit, a chain of inner nodes), 32-bit weights with large values, shifted forests."""
    from rmt.contract.objfile import Layer
    from rmt.contract.objformat import Activation, LayerKind, ModelKind
    from rmt.contract.weights import DenseLayer, Node, Tree, forest, mlp, write_weights
    for depth in (4, 9, 12, 16):
        def chain() -> Tree:
            nodes = []
            for k in range(depth):
                nodes += [Node(k % 4, rng.randint(-50, 50), 2 * k + 1, 2 * k + 2),
                          Node(-1, leaf=k)]
            nodes[-1] = Node(-1, leaf=depth - 1)
            nodes[-2] = Node((depth - 1) % 4, 0, 2 * depth - 1, 2 * depth)
            nodes.append(Node(-1, leaf=depth))
            leaves = [[rng.randint(-(1 << 31), (1 << 31) - 1) for _ in range(2)]
                      for _ in range(depth + 1)]
            return Tree(nodes, leaves)
        for kind, n in ((ModelKind.TREE, 1), (ModelKind.FOREST, 3)):
            m = Model("deep", kind, 4, 2, 16, trees=n if kind == ModelKind.FOREST else 0,
                      depth=depth)
            shift = rng.randrange(40) if kind == ModelKind.FOREST else 0
            blobs = [write_weights(forest([chain() for _ in range(n)], 4, shift, kind=kind))
                     for _ in range(2)]
            yield m, blobs[0], blobs[1]
    for bits in (32, 8):
        layers = [Layer(LayerKind.DENSE, Activation.RELU, 4, 3),
                  Layer(LayerKind.DENSE, Activation.NONE, 3, 2)]
        m = Model("wide", ModelKind.MLP, 4, 2, bits, layers, in_lo=-(1 << 20), in_hi=1 << 20)
        top = (1 << (bits - 1)) - 1

        def weights() -> bytes:
            ws = [DenseLayer([[rng.choice([top, -top, rng.randint(-top, top)]) for _ in range(4)]
                              for _ in range(3)], [rng.randint(-top, top) for _ in range(3)],
                             rng.randrange(32), True),
                  DenseLayer([[rng.randint(-top, top) for _ in range(3)] for _ in range(2)],
                             [0, 0], rng.randrange(32))]
            return write_weights(mlp(ws, bits))
        yield m, weights(), weights()


def table_seed(table: Table, rng: random.Random) -> bytes:
    """A table schema as fuzz_table.c decode_schema() reads it, then operations."""
    nk = len(table.keys)
    out = bytes([nk - 1]) + bytes(((k.bits - 1) << 2) | int(k.kind) for k in table.keys)
    out += bytes([len(table.actions) - 1, min(table.param_size, 255)])
    out += bytes(min(a.param_size, table.param_size, 255) for a in table.actions)
    out += bytes([rng.choice([0x80, min(table.max_entries, 64) - 1]),
                  table.default_action]) + table.default_params[:16]
    out += bytes(rng.randrange(256) for _ in range(rng.randrange(64, 600)))
    return out


# ---------------------------------------------------------------- fuzz_ioctl sessions
# The call format and arena of tools/fuzz/fuzz_ioctl.h; payload layouts of vm_kernel/uapi/rmt.h.
ARENA = 0x10000000
A_PAYLOAD, A_ERR, A_OUT, A_CTX, A_OBJ = 0x0, 0x1000, 0x1400, 0x3000, 0x4000
ARENA_SIZE = 0x10000
A_RO = ARENA_SIZE - 0x1000      # FUZZ_RO_OFF
REC_SIZE = ctypes.sizeof(kernel_abi.TraceRec)
# The command numbers (each encodes its payload's size) come from the ctypes mirror of
# uapi/rmt.h, which tests/test_kernel_abi.py checks against the compiled header.
IOC = {name.removeprefix("RMT_IOC_"): cmd for name, cmd in kernel_abi.IOC.items()}


def ioc_write(off: int, data: bytes) -> bytes:
    return bytes([0]) + struct.pack("<HH", off, len(data)) + data


def ioc_call(name: str, payload: bytes, file: int = 0, at: int = A_PAYLOAD) -> bytes:
    """Write the payload into the arena, then the ioctl with a pointer to it (file | 0x80:
    the call is made without CAP_SYS_ADMIN)."""
    size = IOC[name] >> 16 & 0x3FFF     # a payload may set only a prefix of the struct
    if len(payload) > size:         # a payload packed here by hand outgrew uapi/rmt.h's struct
        raise ValueError(f"seeds: {name} payload is {len(payload)} bytes, the ABI says {size}")
    return ioc_write(at, payload) + bytes([1, file]) + struct.pack("<IQ", IOC[name], ARENA + at)


def ioc_read(n: int, file: int = 0, at: int = A_OUT) -> bytes:
    return bytes([2, file]) + struct.pack("<QQ", ARENA + at, n)


def _entry(table: Table, rng: random.Random) -> bytes:
    """struct rmt_ioc_entry: a random entry of the table."""
    a = rng.randrange(len(table.actions))
    prio = rng.randrange(8) if any(k.kind >= MatchKind.TERNARY for k in table.keys) else 0
    match = random_match(table, rng)
    out = struct.pack("<IHH", prio, a, len(match))
    out += b"".join(struct.pack("<QQ", x, y) for x, y in match).ljust(16 * 8, b"\0")
    return out + bytes(rng.randrange(256) for _ in range(table.actions[a].param_size)).ljust(256, b"\0")


def ioctl_session(prog: Program, obj: bytes, rng: random.Random, pid: int = 1) -> bytes:
    """A valid /dev/rmt session on a fresh device: every command, so that mutants get deep."""
    from test_verifier_soundness import ctx_in_range
    # Some sessions put the context or the output buffers on the arena's read-only last
    # page or across its end (fuzz_ioctl.h): a call that reads there but cannot write back.
    a_ctx = rng.choice([A_CTX] * 6 + [A_RO, ARENA_SIZE - 8])
    a_out = rng.choice([A_OUT] * 6 + [A_RO, ARENA_SIZE - 100])
    out = ioc_call("VERSION", struct.pack("<8I", 1, *[0] * 7))
    out += ioc_write(A_OBJ, obj)
    load = struct.pack("<IIQIIQQII", 1, rng.choice([0, 2, 6]), ARENA + A_OBJ, len(obj),
                       rng.choice([0, 16, 1024]), rng.randrange(3), ARENA + A_ERR, 256, 0)
    calls = 2
    if rng.random() < 0.25:     # loads, then cannot report the id: undone, -EFAULT
        out += ioc_call("PROG_LOAD", load, at=A_RO)
        calls += 1
    if rng.random() < 0.2:      # without CAP_SYS_ADMIN: -EPERM
        out += ioc_call("PROG_LOAD", load, file=0x80)
        calls += 1
    out += ioc_call("PROG_LOAD", load)
    for t_id, t in enumerate(prog.tables):
        for _ in range(rng.randrange(1, 4)):
            op = rng.choice([0, 0, 0, 1, 2])
            out += ioc_call("TABLE_UPDATE", struct.pack("<IIIIQII", 1, pid, t_id, op,
                                                        ARENA + A_ERR, 256, 0) + _entry(t, rng))
            calls += 1
    for m_id, m in enumerate(prog.models):
        blob = weights(m, rng)
        if blob is not None and len(blob) <= ARENA_SIZE - A_OBJ:
            out += ioc_write(A_OBJ, blob)
            ml = struct.pack("<IIIIQQIIQ", 1, pid, m_id, len(blob), ARENA + A_OBJ,
                             ARENA + A_ERR, 256, 0, 0)
            if rng.random() < 0.25:     # the version could not be reported: refused first
                out += ioc_call("MODEL_LOAD", ml, at=A_RO)
                calls += 1
            out += ioc_call("MODEL_LOAD", ml)
            out += ioc_call("MODEL_INFO", struct.pack("<IIIIQQQ", 1, pid, m_id, 0, 0, 0, 0))
            calls += 2
    for m_id, mp in enumerate(prog.maps):
        out += ioc_call("MAP_WRITE", struct.pack("<IIIIQQQ", 1, pid, m_id, 256,
                                                 rng.randrange(min(mp.max_entries, 16)),
                                                 rng.randrange(1 << 16), ARENA + A_ERR))
        calls += 1
    ctx_len = prog.hook.ctx_size
    for _ in range(rng.randrange(1, 4)):
        out += ioc_write(a_ctx, ctx_in_range(prog.hook, rng))
        flags = rng.choice([0, 0, 1])
        out += ioc_call("PROG_RUN", struct.pack("<IIIIQQqIIqIi", 1, pid, rng.randrange(2), ctx_len,
                                                ARENA + a_ctx, rng.randrange(1 << 40),
                                                rng.randrange(-1, 3), flags, 0, 0, 0, 0))
        calls += 1
    if prog.tables:
        out += ioc_call("TABLE_DUMP", struct.pack("<IIIIIIQQ", 1, pid, rng.randrange(len(prog.tables)),
                                                  0, 4, 0, ARENA + a_out, 0))
    if prog.maps:
        out += ioc_call("MAP_READ", struct.pack("<IIIIQQQ", 1, pid, 0, 8, 0, ARENA + a_out,
                                                ARENA + a_out + 64))
    out += ioc_call("PROG_INFO", struct.pack("<IIQII", 1, pid, ARENA + A_OBJ, ARENA_SIZE - A_OBJ, 0)
                    .ljust(64, b"\0"))
    out += ioc_call("PROG_LIST", struct.pack("<IIQ", 1, 64, ARENA + A_OUT))
    out += ioc_call("STATS", struct.pack("<II", 1, pid))
    sel = rng.randrange(2)
    out += ioc_call("TRACE_SELECT", struct.pack("<II", 1, pid), file=sel)
    out += ioc_read(rng.choice([1, 2, 4]) * REC_SIZE, file=sel, at=a_out)
    out += ioc_read(REC_SIZE * 8, file=(1 - sel) | (0x80 if rng.random() < 0.2 else 0))
    out += ioc_call("PROG_UNLOAD", struct.pack("<II", 1, pid))
    assert calls + 11 <= 64, "session longer than fuzz_ioctl.c runs"
    return out


def programs() -> Iterator[tuple[str, Program]]:
    """(name, program) for every example, VM case, verifier case and some progen seeds."""
    from casefile import Case, build_program, load_case
    from progen import seeded_case
    from test_verifier_corpus import CASES, load_vcase
    for path in sorted((ROOT / "examples").rglob("*.rmt")):
        yield f"ex_{path.stem}", compile_source(path.read_text(), str(path))
    for path in sorted((ROOT / "tests" / "vmcases").glob("*.case")):
        try:
            yield f"vm_{path.stem}", build_program(load_case(path))
        except Exception:       # cases that test a rejected object or a front-end error
            continue
    for path in CASES:
        try:
            c = load_vcase(path)
            yield f"vf_{path.stem}", build_program(Case(str(path), c.hook, asm=c.asm,
                                                        rmt=c.rmt, schema=c.schema))
        except Exception:
            continue
    for seed in range(64):
        yield f"pg_{seed}", seeded_case(seed).program


def write_corpora(out: Path, seed: int = 1) -> dict[str, int]:
    """Write the three seed corpora under out/; returns the number of files per target."""
    rng = random.Random(seed)
    counts = {}
    dirs = {name: out / name for name in ("load", "table", "weights", "ioctl")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    def put(target: str, data: bytes) -> None:
        (dirs[target] / hashlib.sha1(data).hexdigest()).write_bytes(data)
        counts[target] = counts.get(target, 0) + 1

    for name, prog in programs():
        try:
            obj = objfile.write(prog)
        except Exception:
            continue
        put("load", obj)
        if len(obj) <= ARENA_SIZE - A_OBJ:
            put("ioctl", ioctl_session(prog, obj, rng))
        put("load", obj + script(prog, rng))
        for t in prog.tables:
            put("table", table_seed(t, rng))
        for m in prog.models:
            a, b = weights(m, rng), weights(m, rng)
            if a is not None and b is not None and len(a) + len(b) < 200000:
                put("weights", sig_bytes(m) + struct.pack("<I", len(a)) + a + b)
    for m, a, b in synthetic_models(rng):
        put("weights", sig_bytes(m) + struct.pack("<I", len(a)) + a + b)
        put("weights", sig_bytes(m) + struct.pack("<I", len(a) + 1) + a + b"\0" + b)
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py OUTDIR")
    for target, n in write_corpora(Path(sys.argv[1])).items():
        print(f"{target}: {n} seeds")
