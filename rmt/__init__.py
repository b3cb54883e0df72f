"""RMT: a reconfigurable match-action VM for learned, verified Linux kernel decisions.

The Python entry point.  A session from source to a decision:

    import rmt
    prog = rmt.compile_file("examples/forced_migration.rmt")    # CompileError on bad source
    report = rmt.verify(prog)                                   # report.accepted, report.failures
    eng = rmt.engine(prog)                                      # the C VM ("c"), or "ref", "llvm"
    eng.model_load(0, rmt.weights_blob(prog.models[0], layers=...))
    res = rmt.run(eng, prog, {"src_cpu": 0, ...})               # res.decision, res.abort
    rmt.write_object(prog, "fm.rmtb")                           # what `rmtctl insert` loads

and `rmt.target("sim")` / `rmt.target("kernel")` for the control plane `rmtctl` drives.

Everything the project installs lives under this one namespace; the repository keeps one
top-level folder per stage and pyproject.toml maps each to its name here (bottom first):

    rmt.contract     ISA, object and weights formats, hook specs, engine protocol  (contract/)
    rmt.lang         the .rmt language: parser, checker                            (rmt_lang/)
    rmt.semantics    the reference engine                                          (semantics/)
    rmt.compiler     checked AST -> bytecode object                                (compiler/)
    rmt.verifier     Z3-backed proofs over an object                               (verifier/)
    rmt.vm           the C VM as a userspace library, and the llvmlite engine      (rmt_vm/)
    rmt.learn        training and quantization; rmt.model_import: models from the ecosystem
    rmt.ctl          rmtctl: the sim and kernel targets                            (rmtctl/)
    rmt.sched_sim, rmt.swap_sim   the two simulators
    rmt.rmtc         the rmtc command line

The layers are checked (pyproject.toml [tool.rmt]); this facade imports a stage only when one
of its functions is called, so `import rmt` stays cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:                                       # for readers and type checkers only
    from rmt.contract.engine import Engine, RunResult
    from rmt.contract.objfile import Model, Program
    from rmt.verifier.verify import Report

__all__ = ["CompileError", "compile", "compile_file", "verify", "engine", "run",
           "weights_blob", "write_object", "read_object", "target"]

ENGINES = ("c", "jit", "ref", "llvm")


def __getattr__(name: str) -> Any:
    if name == "CompileError":
        from rmt.compiler import CompileError
        return CompileError
    raise AttributeError(f"module 'rmt' has no attribute {name!r}")


def compile(source: str, filename: str = "<input>") -> "Program":    # noqa: A001
    """.rmt source text -> the object program; raises rmt.CompileError with located diagnostics."""
    from rmt.compiler import compile_source
    return compile_source(source, filename)


def compile_file(path: str | Path) -> "Program":
    path = Path(path)
    return compile(path.read_text(), str(path))


def verify(prog: "Program") -> "Report":
    """Every proof obligation of the program (bounds, safety, cost, guardrails, exports)."""
    from rmt.verifier import verify as _verify
    return _verify(prog)


def write_object(prog: "Program", path: str | Path | None = None) -> bytes:
    """The .rmtb bytes of a program (written to path when given)."""
    from rmt.contract import objfile
    blob = objfile.write(prog)
    if path is not None:
        Path(path).write_bytes(blob)
    return blob


def read_object(blob_or_path: bytes | str | Path) -> "Program":
    from rmt.contract import objfile
    blob = blob_or_path if isinstance(blob_or_path, bytes) else Path(blob_or_path).read_bytes()
    return objfile.read(blob)


def engine(prog: "Program | bytes", kind: str = "c", **opts: Any) -> "Engine":
    """A loaded program in one engine: "c" (the C VM's interpreter), "jit" (its x86-64 JIT),
    "ref" (the reference semantics) or "llvm" (llvmlite-compiled code on the C VM's state)."""
    if kind in ("c", "jit"):
        from rmt.vm import CEngine
        return CEngine(prog, jit=(kind == "jit"), **opts)
    if kind == "ref":
        from rmt.semantics.reference import ReferenceEngine
        return ReferenceEngine(prog, **opts)
    if kind == "llvm":
        from rmt.vm.llvm_engine import LlvmEngine
        return LlvmEngine(prog, **opts)
    raise ValueError(f"unknown engine {kind!r}; engines: {', '.join(ENGINES)}")


def run(eng: "Engine", prog: "Program", ctx: dict[str, Any], *, cpu: int = 0,
        now: int = 0) -> "RunResult":
    """One decision: ctx (field name -> value, per the program's hook) encoded as the hook
    lays it out, then run."""
    from rmt.contract.codec import ctx_encode
    return eng.run(ctx_encode(prog.hook, ctx), cpu=cpu, now=now)


def weights_blob(model: "Model", **parts: Any) -> bytes:
    """A weights blob for one of the program's models (see rmt.contract.weights.blob_for)."""
    from rmt.contract.weights import blob_for
    return blob_for(model, **parts)


def target(name: str = "sim", **opts: Any) -> Any:
    """The control plane rmtctl drives: "sim" (the simulated kernel, state in a directory) or
    "kernel" (rmt.ko through /dev/rmt)."""
    if name == "sim":
        from rmt.ctl.sim import SimTarget
        return SimTarget(**opts)
    if name == "kernel":
        from rmt.ctl.kernel import KernelTarget
        return KernelTarget(**opts)
    raise ValueError(f"unknown target {name!r}; targets: sim, kernel")
