"""MAP_LD/MAP_ST/MAP_ADD, which the x86-64 JIT does inline where it can.

The JIT addresses an array or counter map's value itself (vm_kernel/core/rmt_jit.c,
j_map_inline(): the map's values + 8 (cpu * max_entries + key)) and calls the C helper only for
an index out of range; for a hash map it looks at the key's first slot and calls the helper
for anything but the key there or (MAP_LD) an empty slot: keys further along the probe
sequence, inserts, deleted slots, a full map.  Random runs on random CPUs, with control-plane writes between them,
go to the JIT and to the interpreter (whose C is the helper); every run's decision, abort and
loaded values, and the map contents, must agree.  A control-plane write sets copy 0 and clears
the others, so a load on the wrong CPU's copy or the wrong slot shows; value widths of 8 and 32
bits check the load's mask; out-of-range indexes check the call and its MAP_INDEX abort; small
hash maps with many keys collide, fill up (map_drops) and, per CPU, get deleted slots from
control-plane writes; an 8-bit key checks the key mask.
"""
from __future__ import annotations

import random

import pytest

from rmt.compiler import asm
from rmt.contract import objfile
from rmt.contract.codec import ctx_encode
from rmt.contract.engine import EngineError
from rmt.contract.hooks import TEST_SANDBOX
from rmt.contract.objfile import Map, Program, TraceField, TraceFmt
from rmt.contract.objformat import MapKind
from rmt.vm import CEngine, load_lib

pytestmark = pytest.mark.skipif(not load_lib().lib.rmt_jit_supported(),
                                reason="this build of the C VM has no JIT (not x86-64)")

L = TEST_SANDBOX.layout
# key registers spread so that some live in x86 registers and some in the JIT's stack frame
PROGRAM = f"""
ldu32 r1, ctx[{L['arr']}]
ldu32 r2, ctx[{L['arr'] + 4}]
ldu32 r3, ctx[{L['arr'] + 8}]
ldu32 r4, ctx[{L['arr'] + 12}]
ld64 r5, ctx[{L['w']}]
ldu32 r6, ctx[{L['arr'] + 16}]
mov r10, r1
mov r11, r2
mov r12, r3
mov r13, r4
mov r14, r5
mov r15, r6
map_ld r7, map0, r1
map_add map0, r2, r5
map_ld r8, map0, r2
map_st map0, r3, r5
map_ld r9, map0, r3
map_add map0, r11, r15
map_ld r13, map0, r13
map_st map0, r12, r14
map_ld r14, map0, r10
st64 scratch[0], r7
st64 scratch[8], r8
st64 scratch[16], r9
st64 scratch[24], r13
st64 scratch[32], r14
trace 0, 0
mov r0, 0
exit r0
"""

MAPS = {
    "counter_percpu": Map("c", MapKind.COUNTER, 32, 64, 4, True, False),
    "array_shared_8bit": Map("a", MapKind.ARRAY, 32, 8, 3, False, False),
    "array_percpu_32bit": Map("p", MapKind.ARRAY, 32, 32, 5, True, False),
    "array_percpu_1": Map("one", MapKind.ARRAY, 32, 64, 1, True, False),
    "hash_shared": Map("h", MapKind.HASH, 32, 32, 6, False, True),
    "hash_percpu_8bit_key": Map("hp", MapKind.HASH, 8, 64, 4, True, False),
    "hash_roomy": Map("hr", MapKind.HASH, 64, 16, 64, False, False),
}


def program(m: Map) -> bytes:
    fmt = TraceFmt("ld", [TraceField(f"v{k}", 64, False) for k in range(5)])
    return objfile.write(Program("mapinline", TEST_SANDBOX, asm.assemble(PROGRAM), 64,
                                 maps=[m], traces=[fmt]))


def _observe(eng: CEngine, ctx: bytes, cpu: int) -> tuple:
    r = eng.run(ctx, cpu=cpu)
    return r.decision, r.abort, r.abort_pc, [t.values for t in eng.trace_drain()], \
        eng.map_read(0)


@pytest.mark.parametrize("name", sorted(MAPS))
def test_inline_maps_match_the_interpreter(name: str) -> None:
    m = MAPS[name]
    obj = program(m)
    jit, interp = CEngine(obj, jit=True), CEngine(obj, jit=False)
    assert jit.engine_kind == "jit"
    rng = random.Random(name)
    size, vmax = m.max_entries, (1 << m.value_bits) - 1
    hashed = m.kind == MapKind.HASH
    nkeys = 3 * size if hashed else size
    for step in range(400):
        if rng.random() < 0.15:
            k, v = rng.randrange(min(nkeys, 1 << m.key_bits)), rng.randint(0, vmax)
            errs = []
            for eng in (jit, interp):
                try:
                    eng.map_write(0, k, v)
                    errs.append(None)
                except EngineError as e:
                    errs.append(e.code)
            assert errs[0] == errs[1], (name, step, k, errs)
        # mostly in-range keys; now and then one out of range (the call, MAP_INDEX)
        keys = [rng.randrange(nkeys) if rng.random() < 0.97 else
                rng.choice([size, size + 1, 1 << 31, (1 << 32) - 1]) for _ in range(5)]
        w = rng.choice([1, 2, rng.getrandbits(64), (1 << 64) - 1, 1 << 40])
        ctx = ctx_encode(TEST_SANDBOX, {"arr": keys + [0, 0, 0], "w": w})
        cpu = rng.choice([0, 0, 1, 2, 3, rng.randrange(64)])
        got, want = _observe(jit, ctx, cpu), _observe(interp, ctx, cpu)
        assert got == want, (name, step, keys, w, cpu)
    st_j, st_i = jit.stats(), interp.stats()
    assert st_j.aborts == st_i.aborts and st_j.map_drops == st_i.map_drops
    if hashed:
        assert len(interp.map_read(0)) > 1
    else:
        assert sum(st_j.aborts) > 0, "no run took the out-of-range call"
