"""Walk a checked AST and list every place it breaks the checker's promises to the compiler."""
from __future__ import annotations

import dataclasses

from rmt.lang import ast as A


def _nodes(x, seen):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _nodes(y, seen)
    elif dataclasses.is_dataclass(x) and not isinstance(x, type) and id(x) not in seen:
        if isinstance(x, (A.LocalSym, A.ParamSym, A.LoopSym, A.ConstSym, A.DecisionSym, A.Span)):
            return
        seen.add(id(x))
        yield x
        for f in dataclasses.fields(x):
            yield from _nodes(getattr(x, f.name), seen)


def problems(program: A.Program) -> list[str]:
    """Untyped or literal-typed expressions, unresolved names, unset targets and kinds."""
    out = []
    # properties never reach the compiler as expressions: the checker resolves each to a term
    # on mathematical integers (PropertyDecl.resolved), which must be set instead
    for p in program.of(A.PropertyDecl):
        if p.resolved is None:
            out.append(f"PropertyDecl at {p.span}: not resolved")
    decls = [d for d in program.decls if not isinstance(d, A.PropertyDecl)]
    for n in _nodes(decls, set()):
        where = f"{type(n).__name__} at {getattr(n, 'span', '?')}"
        if isinstance(n, A.Expr):
            if n.ty is None:
                out.append(f"{where}: no type")
            elif isinstance(n.ty, A.LitT):
                out.append(f"{where}: still a literal type")
            elif isinstance(n.ty, A.IntT) and n.const is not None and not n.ty.min <= n.const <= n.ty.max:
                out.append(f"{where}: const {n.const} outside {n.ty}")
        if isinstance(n, A.Name) and n.sym is None and not _is_map_or_model_base(program, n):
            out.append(f"{where}: name '{n.id}' unresolved")
        if isinstance(n, A.Index) and n.target not in ("local", "ctx", "map", "model"):
            out.append(f"{where}: no index target")
        if isinstance(n, A.Call) and n.kind not in ("helper", "builtin", "model"):
            out.append(f"{where}: no call kind")
        if isinstance(n, A.Let) and n.sym is None:
            out.append(f"{where}: let without sym")
        if isinstance(n, A.For) and n.sym is None:
            out.append(f"{where}: for without sym")
        if isinstance(n, A.TraceArg) and not n.name:
            out.append(f"{where}: trace arg without name")
        if isinstance(n, A.TableDecl) and n.default is None:
            out.append(f"{where}: table without default action")
    return out


def _is_map_or_model_base(program, n: A.Name) -> bool:
    names = {d.name for d in program.of(A.MapDecl)}
    return n.id in names
