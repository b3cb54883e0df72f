"""LlvmEngine: rmt.contract.engine.Engine with the program's code compiled by LLVM.

Why on top of the C VM rather than the reference semantics: the code is the
only part LLVM has anything to add to.  Tables, models, maps, the trace ring,
statistics and the per-run setup stay the C VM's (rmt_vm.CEngine), which the
case files and the differential tests already hold to docs/semantics.md;
native code reaches them through the same C helpers as the x86-64 JIT
(`rmt_jit_*`), with no Python on the run path -- so the benchmarks measure
the generated code, and a mismatch can only come from the code generator.
The C runtime calls the LLVM function through `rmt_vm_set_native()` (a
userspace-only entry point).

`trust_verifier=True` runs the verifier and leaves out the run-time checks it
proved cannot fail (rmt_vm/llvm_jit.py); the default keeps every check, so
the engine is exact for any context, including ones outside the hook's
declared ranges.
"""
from __future__ import annotations

import errno

from rmt.contract.isa import Abort
from rmt.vm.llvm_jit import HELPERS, NativeCode, compile_program
from rmt.contract.objfile import Program
from rmt.vm.engine import DEFAULT_SEED, CEngine
from rmt.contract.engine import EngineError

# Verifier obligations whose proof makes a run-time check redundant.
_DROPPABLE = {"InBounds": Abort.BOUNDS, "NonZeroDivisor": Abort.DIV_ZERO,
              "ShiftInRange": Abort.SHIFT, "HelperArgValid": Abort.HELPER}


def proven_checks(prog: Program) -> frozenset[int]:
    """The pcs whose run-time check the verifier proved can never fail (all of
    that pc's droppable obligations proved; nothing from a rejected program
    whose well-formedness failed)."""
    from rmt.verifier import verify
    from rmt.verifier.obligations import Proved

    report = verify(prog)
    ok: dict[int, bool] = {}
    for res in report.results:
        ob = res.obligation
        if ob.kind in _DROPPABLE and ob.pc >= 0:
            ok[ob.pc] = ok.get(ob.pc, True) and isinstance(res.outcome, Proved)
    return frozenset(pc for pc, good in ok.items() if good)


class LlvmEngine(CEngine):
    """One program: C VM state, LLVM-compiled code."""

    def __init__(self, obj: bytes | Program, *, trace_capacity: int = 4096,
                 seed: int = DEFAULT_SEED, sanitize: bool | None = None,
                 trust_verifier: bool = False, opt: int = 3):
        super().__init__(obj, trace_capacity=trace_capacity, seed=seed, sanitize=sanitize,
                         jit=False)
        proven = proven_checks(self.prog) if trust_verifier else frozenset()
        self.proven = proven
        self.native: NativeCode = compile_program(self.prog, self._helper, proven, opt)
        fn = self.ffi.cast("void *", self.native.address)
        self._check(self.lib.rmt_vm_set_native(self._vm, self.id, fn))
        if self.engine_kind != "native":
            raise EngineError(errno.EIO, "the C VM did not take the LLVM code")

    def _helper(self, name: str) -> int:
        assert name in HELPERS
        return int(self.ffi.cast("uintptr_t", self.ffi.addressof(self.lib, name)))
