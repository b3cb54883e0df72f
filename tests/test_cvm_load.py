"""Loading hostile input into the C VM: objects, entries, weights, map writes.

Every rejection must be a clean EngineError with a message saying where and
why, must agree with the Python reader/validator, and must leave what was
loaded before exactly as it was.
"""
from __future__ import annotations

import errno
import random

import pytest

from rmt.contract import objfile
from rmt.contract import objformat as F
from rmt.contract.isa import Insn
from progen import seeded_case
from rmt.vm import CEngine
from rmt.contract.engine import EngineError, Entry, Exact, Lpm, Range, Ternary
from rmt.semantics.reference import ReferenceEngine
from rmt.contract.weights import DenseLayer, mlp, write_weights
from rmt.contract.objformat import ModelKind


def small_obj() -> bytes:
    case = seeded_case(3)
    case.program.code = case.program.code[:6] + [case.program.code[-1]]
    case.program.code = [Insn(0x57, 0, 0, 0, 0)]        # EXIT r0: smallest valid code
    return case.obj


def _outcome(factory, obj: bytes):
    try:
        factory(obj)
        return None
    except EngineError as e:
        return e.code, str(e)


def test_truncated_objects_are_rejected():
    obj = small_obj()
    for n in range(len(obj)):
        with pytest.raises(EngineError) as ei:
            CEngine(obj[:n])
        assert ei.value.code == errno.EINVAL
        assert str(ei.value).startswith("object: ")


def test_oversized_object_is_rejected():
    obj = small_obj()
    big = obj + b"\0" * (F.LIMITS["MAX_OBJ_SIZE"] + 1 - len(obj))
    with pytest.raises(EngineError, match="over the 16777216 limit"):
        CEngine(big)


def test_every_bit_flip_is_rejected_cleanly_or_runs():
    """Each single-bit flip: the C VM rejects it as the Python reader does, or runs it."""
    obj = small_obj()
    accepted = 0
    for bit in range(8 * len(obj)):
        bad = bytearray(obj)
        bad[bit // 8] ^= 1 << (bit % 8)
        bad = bytes(bad)
        c = _outcome(CEngine, bad)
        r = _outcome(ReferenceEngine, bad)
        if r is None and c is not None and c[0] in (errno.E2BIG, errno.ENOMEM):
            continue    # a resource limit of the C VM (e.g. per-CPU map memory)
        assert c == r, f"bit {bit}: C {c} vs reference {r}"
        if c is None:
            accepted += 1
            eng = CEngine(bad)
            eng.run(bytes(eng.ctx_size))
            eng.stats()
    assert accepted < 8 * len(obj)


def test_mutated_code_rejections_match_the_python_validator():
    """Random field mutations of real programs: same accept/reject and same message."""
    rng = random.Random(7)
    differ = []
    for seed in range(150):
        case = seeded_case(seed)
        code = list(case.program.code)
        pc = rng.randrange(len(code))
        i = code[pc]
        field = rng.choice(["code", "dst", "src", "off", "imm"])
        val = {"code": rng.randrange(256), "dst": rng.randrange(16), "src": rng.randrange(16),
               "off": rng.randrange(-40, 200), "imm": rng.choice(
                   [rng.randrange(-5, 70), rng.randrange(1 << 31), -rng.randrange(1 << 31)])}[field]
        code[pc] = Insn(**{**i.__dict__, field: val})
        case.program.code = code
        obj = case.obj
        c, r = _outcome(CEngine, obj), _outcome(ReferenceEngine, obj)
        if c != r:
            differ.append((seed, field, c, r))
    assert differ == []


def _table_program():
    from rmt.contract.objfile import Action, Key, Param, Program, Table
    from rmt.contract.objformat import MatchKind
    from rmt.contract.isa import insn
    from rmt.contract.hooks import TEST_SANDBOX
    t = Table("t", [Key("k", MatchKind.EXACT, 8), Key("r", MatchKind.RANGE, 16)],
              [Action("set", [Param("v", 0, 32, False)]), Action("nop")], 4, 1)
    base = seeded_case(0).program
    return Program("p", TEST_SANDBOX, [insn("APPLY", 0, imm=0), insn("EXIT", src=0)], 16,
                   tables=[t], models=base.models, maps=base.maps, traces=base.traces)


@pytest.mark.parametrize("cap", [3, 0x100001, 1 << 21])
def test_bad_trace_capacity_is_einval_not_enomem(cap: int):
    """A capacity the ring cannot have is refused before anything is allocated for it."""
    with pytest.raises(EngineError) as e:
        CEngine(_table_program(), trace_capacity=cap)
    assert e.value.code == errno.EINVAL
    assert f"trace capacity {cap} is not a power of two in 1..1048576" in str(e.value)


def test_bad_control_plane_calls_leave_state_intact():
    eng = CEngine(_table_program())
    good = Entry((Exact(3), Range(10, 20)), 0, b"\x05\0\0\0", 1)
    eng.table_insert(0, good)
    eng.map_write(0, 1, 77)
    w = write_weights(mlp([DenseLayer([[2, 3]], [5], 0)], kind=ModelKind.LINEAR))
    v1 = eng.model_load(0, w)
    before = (eng.table_entries(0), eng.map_read(0), eng.map_read(1), eng.map_read(2))

    bad_entries = [
        (Entry((Exact(3),), 0, b"", 1), errno.EINVAL),                       # too few fields
        (Entry((Lpm(3, 2), Range(1, 2)), 0, b"", 1), errno.EINVAL),          # wrong kind
        (Entry((Exact(256), Range(1, 2)), 0, b"", 1), errno.EINVAL),         # too wide
        (Entry((Exact(1), Range(5, 2)), 0, b"", 1), errno.EINVAL),           # lo > hi
        (Entry((Exact(1), Range(1, 2)), 9, b"", 1), errno.EINVAL),           # no action 9
        (Entry((Exact(1), Range(1, 2)), 1, b"\1", 1), errno.EINVAL),         # params too long
        (Entry((Exact(3), Range(10, 20)), 1, b"", 1), errno.EEXIST),         # duplicate
        (Entry((Exact(-1), Range(1, 2)), 0, b"", 1), errno.EINVAL),          # negative
    ]
    for e, code in bad_entries:
        with pytest.raises(EngineError) as ei:
            eng.table_insert(0, e)
        assert ei.value.code == code, (e, str(ei.value))
        assert str(ei.value)
    with pytest.raises(EngineError) as ei:
        eng.table_modify(0, Entry((Exact(4), Range(10, 20)), 1, b"", 1))
    assert ei.value.code == errno.ENOENT
    with pytest.raises(EngineError) as ei:
        eng.table_delete(0, (Exact(3), Range(10, 20)), 2)
    assert ei.value.code == errno.ENOENT
    with pytest.raises(EngineError) as ei:
        eng.table_insert(5, good)
    assert ei.value.code == errno.ENOENT

    for m, k, v, code in [(0, 4, 1, errno.E2BIG), (0, 0, 1 << 32, errno.EINVAL),
                          (1, 256, 1, errno.EINVAL), (9, 0, 0, errno.ENOENT)]:
        with pytest.raises(EngineError) as ei:
            eng.map_write(m, k, v)
        assert ei.value.code == code, str(ei.value)

    wrong_shape = write_weights(mlp([DenseLayer([[1, 2, 3]], [0], 0)], kind=ModelKind.LINEAR))
    for blob in (wrong_shape, w[:-1], w + b"\0", b"", b"RMTW" + w[4:20]):
        with pytest.raises(EngineError) as ei:
            eng.model_load(0, blob)
        assert ei.value.code == errno.EINVAL and str(ei.value)
    with pytest.raises(EngineError):
        eng.model_load(3, w)

    after = (eng.table_entries(0), eng.map_read(0), eng.map_read(1), eng.map_read(2))
    assert after == before
    assert eng.model_load(0, w) == v1 + 1       # the slot still counts from the same version


def test_validator_message_names_the_pc():
    from rmt.contract.isa import insn
    prog = _table_program()
    prog.code = [insn("JA", off=5), insn("EXIT")]
    with pytest.raises(EngineError) as ei:
        CEngine(prog)
    assert str(ei.value) == "pc 0: jump out of range: target 6, the program has 2 instructions"
    assert ei.value.code == errno.EINVAL


def test_sanitized_build_is_the_one_loaded_when_asked():
    """Under `make test-asan` the engines must run the ASan/UBSan build, not the plain one."""
    import os
    from rmt.vm import load_lib
    mod = load_lib()
    if os.environ.get("RMT_VM_SANITIZE") == "1":
        assert mod.__name__.startswith("_rmt_vm_asan_")
    else:
        assert "asan" not in mod.__name__
