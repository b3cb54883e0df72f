"""What the checker knows while it walks one program.

`State` holds the program-wide facts (the hook spec, the declarations by
name, the diagnostics found so far); `Env` is the view one expression or
statement is checked in (which local scope, whether code may touch maps and
helpers, whether `t.apply()` is allowed).  The checking functions themselves
live in check_expr / check_stmt / check_decls and take these as arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from . import ast as A
from .errors import Diagnostic, Severity
from rmt.contract.hooks import DEFAULT_DECISION, HookSpec

LocalLike = Union[A.LocalSym, A.ParamSym, A.LoopSym]


@dataclass
class State:
    program: A.Program
    spec: Optional[HookSpec] = None
    diags: list[Diagnostic] = field(default_factory=list)
    decls: dict[str, A.Decl] = field(default_factory=dict)    # every top-level name
    consts: dict[str, A.ConstSym] = field(default_factory=dict)
    untyped_consts: set[str] = field(default_factory=set)     # `const N = 8;`: act as literals
    later_consts: set[str] = field(default_factory=set)       # declared, not yet checked
    models: dict[str, A.ModelDecl] = field(default_factory=dict)
    maps: dict[str, A.MapDecl] = field(default_factory=dict)
    tables: dict[str, A.TableDecl] = field(default_factory=dict)
    actions: dict[str, A.ActionDecl] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)            # tables named by t.apply()

    def error(self, span: A.Span, message: str) -> None:
        self.diags.append(Diagnostic(Severity.ERROR, span, message))

    def warn(self, span: A.Span, message: str) -> None:
        self.diags.append(Diagnostic(Severity.WARNING, span, message))

    @property
    def hook_name(self) -> str:
        return self.spec.name if self.spec else "?"

    def decisions(self) -> dict[str, int]:
        """Decision names usable as values: DEFAULT and the hook's own."""
        names = {"DEFAULT": DEFAULT_DECISION}
        if self.spec:
            names.update(self.spec.decision.names)
        return names


class Scope:
    """One level of local names (action parameters and body, a block, a loop)."""

    def __init__(self, parent: Optional["Scope"] = None):
        self.parent = parent
        self.names: dict[str, LocalLike] = {}

    def lookup(self, name: str) -> Optional[LocalLike]:
        s: Optional[Scope] = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def visible(self) -> set[str]:
        out: set[str] = set()
        s: Optional[Scope] = self
        while s is not None:
            out |= s.names.keys()
            s = s.parent
        return out


@dataclass
class Env:
    """Where an expression sits.

    kind: "const" (constant declarations: no ctx), "pure" (table keys, guards,
    model arguments: ctx and constants only), "action" or "apply" (code).
    """
    state: State
    kind: str
    scope: Optional[Scope] = None
    what: str = ""                    # names the pure context in messages: "a table key"
    tainted: set[int] = field(default_factory=set)   # ids of locals holding non-exportable data

    @property
    def is_code(self) -> bool:
        return self.kind in ("action", "apply")

    def child(self) -> "Env":
        return Env(self.state, self.kind, Scope(self.scope), self.what, self.tainted)
