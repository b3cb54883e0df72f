"""Differential oracle of the two loaders on fuzzed objects.

vm_kernel/core/rmt_loader.c + rmt_validate.c promise to check exactly what
contract/objfile.py's read() and semantics/validate.py check, with the same
"<where>: <why>" messages.  The fuzz_load corpus holds thousands of mutated
objects, most of them malformed in some new way: each one goes to the
reference engine and to the C VM, and both must accept, or both refuse with
the same errno and message.  One difference is by design: the C VM caps a
map's memory (RMT_MAP_MAX_BYTES in rmt_map.c: a per-CPU map of 2^20 entries
is 512 MiB) and answers E2BIG, where the reference allocates lazily.
An object both load is also run on both (the C interpreter; the JIT is
compared with it inside fuzz_load) on fuzz_load's default contexts.

With --verifier each object also goes through verifier.verify_bytes, which
must return a report (never raise) and must not accept an object the
loaders refuse.

    python tools/fuzz/loader_diff.py [--verifier] DIR...   # fuzz_load inputs, cut at file_size
"""
from __future__ import annotations

import errno
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rmt.vm import CEngine  # noqa: E402
from rmt.contract.engine import EngineError  # noqa: E402
from rmt.semantics.reference import ReferenceEngine  # noqa: E402

MAGIC = 0x42544D52


def object_part(data: bytes) -> bytes:
    """The object of a fuzz_load input: up to the header's file_size (fuzz_load.c obj_len())."""
    if len(data) >= 24:
        magic, _, _, _, size = struct.unpack_from("<IHHII", data)
        if magic == MAGIC and 24 <= size <= len(data):
            return data[:size]
    return data


def verdict(make, obj: bytes) -> tuple[int, str]:
    try:
        make(obj)
        return 0, ""
    except EngineError as e:
        return e.code, str(e)


def default_contexts(size: int) -> list[tuple[bytes, int, int]]:
    """fuzz_load.c default_runs(): all-zero, all-ones and patterned contexts."""
    return [(bytes(size), 0, 0), (b"\xff" * size, 1, 2**64 - 1),
            (bytes((i * 37 + 1) & 0xFF for i in range(size)), 63, 1000000007)]


def compare_runs(obj: bytes) -> str | None:
    """An object both load: the reference and the C interpreter run it alike (no entries,
    no weights: the default contexts of fuzz_load), else what differs."""
    ref, c = ReferenceEngine(obj), CEngine(obj, jit=False)
    for i, (ctx, cpu, now) in enumerate(default_contexts(ref.prog.hook.ctx_size)):
        a, b = ref.run(ctx, cpu=cpu, now=now), c.run(ctx, cpu=cpu, now=now)
        if (a.decision, a.abort, a.abort_pc, a.ctx) != (b.decision, b.abort, b.abort_pc, b.ctx):
            return f"run {i}: reference {a} vs C {b}"
    if ref.stats() != c.stats():
        return f"statistics: reference {ref.stats()} vs C {c.stats()}"
    return None


def compare(obj: bytes) -> str | None:
    """None when both loaders agree on obj (and, when both load it, both runners), else
    what differs."""
    ref = verdict(ReferenceEngine, obj)
    c = verdict(lambda o: CEngine(o, jit=False), obj)
    if ref == c:
        return compare_runs(obj) if ref[0] == 0 else None
    if ref[0] == 0 and c[0] == errno.E2BIG and "-byte limit" in c[1]:
        return None                 # the C VM's memory cap on maps (see above)
    return f"reference {errno.errorcode.get(ref[0], ref[0])} {ref[1]!r} vs " \
           f"C {errno.errorcode.get(c[0], c[0])} {c[1]!r}"


def check_verifier(obj: bytes) -> str | None:
    """None when verify_bytes reports on obj and accepts only what the reference loads."""
    from rmt.verifier import verify_bytes
    try:
        rep = verify_bytes(obj)
    except Exception as e:          # noqa: BLE001 - any exception is the finding
        return f"verify_bytes raised {type(e).__name__}: {e}"
    code, msg = verdict(ReferenceEngine, obj)
    if rep.accepted and code:
        return f"the verifier accepts an object the loaders refuse: {msg}"
    return None


def main(argv: list[str]) -> int:
    with_verifier = "--verifier" in argv
    n = bad = 0
    for d in (a for a in argv if a != "--verifier"):
        for f in sorted(Path(d).iterdir()):
            obj = object_part(f.read_bytes())
            diff = compare(obj) or (check_verifier(obj) if with_verifier else None)
            n += 1
            if diff:
                bad += 1
                print(f"{f}: {diff}")
    print(f"{n} objects, {bad} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
