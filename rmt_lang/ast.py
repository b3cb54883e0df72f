"""The typed AST of an .rmt program.

The parser (rmt_lang/parser.py) builds these nodes with source spans; the
checker (rmt_lang/checker.py) fills the `ty` of every expression and the
`sym` of every name, so the compiler never re-derives a type.  Nodes are plain
dataclasses; `span` is keyword-only so positional fields read like the syntax.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from rmt.contract.ints import IntT


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOSPAN = Span("<builtin>", 0, 0, 0, 0)


# ------------------------------------------------------------------ types

@dataclass(frozen=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class LitT:
    """An integer literal's type until context fixes it (`x + 1`: 1 takes x's type)."""
    def __str__(self) -> str:
        return "integer literal"


@dataclass(frozen=True)
class ArrayT:
    elem: IntT
    n: int

    def __str__(self) -> str:
        return f"{self.elem}[{self.n}]"


Type = Union[IntT, BoolT, LitT, ArrayT]


# ------------------------------------------------------------------ symbols (set by the checker)

@dataclass(eq=False)
class LocalSym:
    name: str
    ty: Type                 # IntT, BoolT or ArrayT
    decl: "Let"


@dataclass(eq=False)
class ConstSym:
    name: str
    ty: Type
    value: int               # folded; bools are 0/1


@dataclass(eq=False)
class ParamSym:
    name: str
    ty: IntT
    action: "ActionDecl"
    index: int               # position in the action's parameter list


@dataclass(eq=False)
class LoopSym:
    """A `for` variable: a constant in each unrolled copy of the body."""
    name: str
    ty: IntT
    loop: "For"


@dataclass(eq=False)
class DecisionSym:
    name: str                # DEFAULT or one of the hook's decision names
    value: int


Sym = Union[LocalSym, ConstSym, ParamSym, LoopSym, DecisionSym]


# ------------------------------------------------------------------ expressions

@dataclass(eq=False)
class Expr:
    span: Span = field(default=NOSPAN, kw_only=True)
    ty: Optional[Type] = field(default=None, kw_only=True)
    # set by the checker on every constant expression: its value at `ty` (bools 0/1)
    const: Optional[int] = field(default=None, kw_only=True)


@dataclass(eq=False)
class IntLit(Expr):
    value: int


@dataclass(eq=False)
class BoolLit(Expr):
    value: bool


@dataclass(eq=False)
class Name(Expr):
    id: str
    sym: Optional[Sym] = field(default=None, kw_only=True)


@dataclass(eq=False)
class CtxField(Expr):
    """`ctx.NAME`; an array field is indexed by an enclosing Index."""
    name: str


@dataclass(eq=False)
class Index(Expr):
    """`base[index]`: base is a local array, a ctx array field, a model result, or a map
    (`target` tells which once checked: "local", "ctx", "map")."""
    base: Expr
    index: Expr
    target: str = field(default="", kw_only=True)


@dataclass(eq=False)
class Unary(Expr):
    op: str                  # "-", "!", "~"
    operand: Expr


@dataclass(eq=False)
class Binary(Expr):
    op: str                  # * / % + - << >> & ^ | == != < <= > >= && ||
    left: Expr
    right: Expr


@dataclass(eq=False)
class Cast(Expr):
    expr: Expr
    to: "TypeRef"


@dataclass(eq=False)
class Call(Expr):
    """`f(args)`: a helper, a builtin (min, max, abs) or a model (`kind` set by the checker:
    "helper", "builtin", "model")."""
    func: str
    args: list[Expr]
    kind: str = field(default="", kw_only=True)


# ------------------------------------------------------------------ statements

@dataclass(eq=False)
class Stmt:
    span: Span = field(default=NOSPAN, kw_only=True)


@dataclass(eq=False)
class Block(Stmt):
    stmts: list[Stmt]


@dataclass(eq=False)
class Let(Stmt):
    name: str
    type: Optional["TypeRef"]
    init: Optional[Expr]
    sym: Optional[LocalSym] = field(default=None, kw_only=True)


@dataclass(eq=False)
class Assign(Stmt):
    target: Expr             # Name (local), CtxField, Index (local array / ctx array / map)
    op: str                  # "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="
    value: Expr


@dataclass(eq=False)
class If(Stmt):
    cond: Expr
    then: Block
    orelse: Optional[Stmt]   # Block, If (else if) or None


@dataclass(eq=False)
class For(Stmt):
    var: str                 # for VAR in LO..HI { } ; HI exclusive, both constant
    lo: Expr
    hi: Expr
    body: Block
    sym: Optional[LoopSym] = field(default=None, kw_only=True)


@dataclass(eq=False)
class Decide(Stmt):
    value: Expr


@dataclass(eq=False)
class TraceArg:
    name: str                # given (`name = expr`) or derived from the expression
    expr: Expr
    span: Span = NOSPAN


@dataclass(eq=False)
class Trace(Stmt):
    args: list[TraceArg]


@dataclass(eq=False)
class ApplyTable(Stmt):
    """`t.apply();` (only in the apply block)."""
    table: str


@dataclass(eq=False)
class ExprStmt(Stmt):
    expr: Expr


# ------------------------------------------------------------------ declarations

@dataclass(eq=False)
class TypeRef:
    name: str                # u8..u64, i8..i64, bool
    size: Optional[Expr] = None     # array length, when written `T[N]`
    span: Span = NOSPAN


@dataclass(eq=False)
class Decl:
    span: Span = field(default=NOSPAN, kw_only=True)
    name_span: Span = field(default=NOSPAN, kw_only=True)   # the declared name, when it has one


@dataclass(eq=False)
class HookDecl(Decl):
    name: str
    name_span: Span = field(default=NOSPAN, kw_only=True)


@dataclass(eq=False)
class ModeDecl(Decl):
    mode: str                # "enforce" | "shadow"


@dataclass(eq=False)
class ConstDecl(Decl):
    name: str
    type: Optional[TypeRef]
    value: Expr


@dataclass(eq=False)
class ModelArg:
    name: str                # in, out, weight, input, depth, trees
    value: Union[Expr, TypeRef, tuple[Expr, Expr]]   # int, a type (weight), or lo..hi (input)
    span: Span = NOSPAN


@dataclass(eq=False)
class LayerDecl:
    kind: str                # "dense" | "conv1d"
    args: list[ModelArg]     # dense(N [, relu]); conv1d(channels = C, kernel = K [, relu])
    activation: str          # "none" | "relu"
    span: Span = NOSPAN


@dataclass(eq=False)
class ModelDecl(Decl):
    name: str
    kind: str                # "mlp" | "tree" | "forest" | "linear"
    args: list[ModelArg]
    layers: list[LayerDecl]
    kind_span: Span = field(default=NOSPAN, kw_only=True)


@dataclass(eq=False)
class MapDecl(Decl):
    name: str
    kind: str                # "counter" | "array" | "hash"
    key: Optional[TypeRef]   # hash only
    value: Optional[TypeRef]  # array and hash; counters are u64
    size: Expr
    percpu: bool
    private: bool            # contents never read out by the control plane
    type_args: list["TypeRef"] = field(default_factory=list, kw_only=True)  # as written: <K, V>
    kind_span: Span = field(default=NOSPAN, kw_only=True)


@dataclass(eq=False)
class KeyDecl:
    expr: Expr
    match: str               # "exact" | "lpm" | "ternary" | "range"
    span: Span = NOSPAN
    match_span: Span = NOSPAN


@dataclass(eq=False)
class ActionRef:
    name: str
    args: list[Expr]
    span: Span = NOSPAN


@dataclass(eq=False)
class TableDecl(Decl):
    name: str
    keys: list[KeyDecl]
    actions: list[ActionRef]           # names only (args empty)
    default: Optional[ActionRef]       # default_action = a(args); None: the first action, no args
    size: Expr


@dataclass(eq=False)
class ParamDecl:
    name: str
    type: TypeRef
    span: Span = NOSPAN


@dataclass(eq=False)
class ActionDecl(Decl):
    name: str
    params: list[ParamDecl]
    body: Block


@dataclass(eq=False)
class ApplyDecl(Decl):
    body: Block


@dataclass(eq=False)
class GuardAllow:
    values: list[Expr]       # decision names or constant expressions
    span: Span = NOSPAN


@dataclass(eq=False)
class GuardStreak:
    value: Expr              # the decision to limit
    limit: Expr              # at most this many in a row...
    key: Expr                # ...per value of this expression (e.g. ctx.pid)
    span: Span = NOSPAN


@dataclass(eq=False)
class GuardDecl(Decl):
    rules: list[Union[GuardAllow, GuardStreak]]


@dataclass(eq=False)
class PropertyDecl(Decl):
    """`property NAME: [premise =>] conclusion;` (docs/language.md, "Properties")."""
    name: str
    premise: Optional[Expr]  # None: the conclusion holds on every run
    conclusion: Expr         # a bool expression, or nondecreasing/nonincreasing(e, ctx.f)
    resolved: Optional[dict] = field(default=None, kw_only=True)   # set by the checker


@dataclass(eq=False)
class Program:
    file: str
    decls: list[Decl]

    def of(self, kind: type) -> list:
        return [d for d in self.decls if isinstance(d, kind)]

    @property
    def hook(self) -> Optional[HookDecl]:
        hooks = self.of(HookDecl)
        return hooks[0] if hooks else None

    @property
    def mode(self) -> str:
        modes = self.of(ModeDecl)
        return modes[0].mode if modes else "enforce"
