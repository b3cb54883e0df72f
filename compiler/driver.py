"""The compiler pipeline: source -> checked AST -> IR -> registers -> bytecode object."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from rmt.contract import objfile as O
from rmt.compiler.emit import EmitError, emit
from rmt.compiler.jumpthread import thread_jumps
from rmt.compiler.peephole import peephole
from rmt.compiler.lower import Lowerer, LowerError
from rmt.contract.objformat import LIMITS, MODE_ENFORCE, MODE_SHADOW
from rmt.compiler.regalloc import allocate, rewrite
from rmt.lang import ast as A
from rmt.lang import errors as E
from rmt.contract.hooks import HOOKS


class CompileError(Exception):
    """Compilation failed; `rendered` holds every diagnostic, ready to print."""

    def __init__(self, rendered: str, diagnostics: list):
        super().__init__(rendered)
        self.rendered = rendered
        self.diagnostics = diagnostics


@dataclass
class Compiled:
    program: O.Program
    warnings: str                 # rendered warnings (may be empty)
    properties: list = field(default_factory=list)   # resolved `property` decls (check_props)


def front_end(text: str, file: str) -> tuple[A.Program | None, list]:
    """Parse and check; a syntax error yields no program and its diagnostic."""
    from rmt import lang as rmt_lang
    try:
        prog = rmt_lang.parse(text, file)
    except E.RmtSyntaxError as e:
        return None, list(e.diagnostics)
    return prog, rmt_lang.check(prog)


def compile_source(text: str, file: str = "<input>") -> O.Program:
    """Compile .rmt source text to an object program; raises CompileError."""
    return compile_full(text, file).program


def compile_full(text: str, file: str = "<input>") -> Compiled:
    prog, diags = front_end(text, file)
    warnings = E.render_all([d for d in diags if not d.is_error], text)
    if prog is None or E.has_errors(diags):
        raise CompileError(E.render_all(diags, text), diags)
    hook = HOOKS[prog.hook.name]
    low = Lowerer(prog, hook, text)
    try:
        ir = low.run()
        alloc = allocate(ir)
        code, srcmap = emit(thread_jumps(peephole(rewrite(ir, alloc))))
    except LowerError as e:
        d = E.Diagnostic(E.Severity.ERROR, e.span, str(e))
        raise CompileError(E.render_all([d], text), [d]) from None
    except EmitError as e:
        d = E.Diagnostic(E.Severity.ERROR, prog.hook.span if prog.hook else A.NOSPAN, str(e))
        raise CompileError(E.render_all([d], text), [d]) from None
    scratch = (alloc.scratch_end + 7) // 8 * 8
    if scratch > LIMITS["MAX_SCRATCH"]:
        d = E.Diagnostic(E.Severity.ERROR, prog.of(A.ApplyDecl)[0].span,
                         f"program needs {scratch} bytes of scratch, over the limit of "
                         f"{LIMITS['MAX_SCRATCH']} (smaller arrays or fewer live values)")
        raise CompileError(E.render_all([d], text), [d])
    name = os.path.splitext(os.path.basename(file))[0] or "prog"
    obj = O.Program(
        name=name, hook=hook, code=code, scratch_size=scratch,
        mode=MODE_SHADOW if prog.mode == "shadow" else MODE_ENFORCE,
        tables=low.tables, models=low.models, maps=low.maps, traces=low.traces,
        guards=low.guards, srcmap=srcmap, symbols=low.symbols)
    try:
        O.read(O.write(obj))          # every limit the loaders enforce, checked before writing
    except O.ObjError as e:
        d = E.Diagnostic(E.Severity.ERROR, prog.hook.span if prog.hook else A.NOSPAN,
                         f"the compiled program exceeds a limit of the object format: {e}")
        raise CompileError(E.render_all([d], text), [d]) from None
    props = [d.resolved for d in prog.of(A.PropertyDecl) if d.resolved is not None]
    return Compiled(obj, warnings, props)
