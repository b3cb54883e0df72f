"""Type names, ranges and the arithmetic of constant folding.

Integer arithmetic in RMT wraps at the type's width, so folding a typed
constant expression wraps too; literal-only expressions are folded exactly
(like Go's untyped constants) and must fit the type they are finally used at.
Both rules live here so the checker's constants agree with the run time.
"""
from __future__ import annotations

from typing import Optional

from .ast import ArrayT, BoolT, IntT, LitT, Type

INT_TYPES: dict[str, IntT] = {
    f"{'i' if s else 'u'}{b}": IntT(b, s) for b in (8, 16, 32, 64) for s in (False, True)
}
U8, U32, U64 = INT_TYPES["u8"], INT_TYPES["u32"], INT_TYPES["u64"]
I32, I64 = INT_TYPES["i32"], INT_TYPES["i64"]
BOOL = BoolT()
LIT = LitT()
TYPE_NAMES = [*INT_TYPES, "bool"]


def is_int(t: Optional[Type]) -> bool:
    """An integer type or a literal whose type is still open."""
    return isinstance(t, (IntT, LitT))


def fits(v: int, t: IntT) -> bool:
    return t.min <= v <= t.max


def wrap(v: int, t: Type) -> int:
    """`v` reduced to the range of `t` the way two's-complement hardware does."""
    if isinstance(t, BoolT):
        return 1 if v else 0
    if not isinstance(t, IntT):
        return v
    v &= (1 << t.bits) - 1
    if t.signed and v >= 1 << (t.bits - 1):
        v -= 1 << t.bits
    return v


def default_int(v: Optional[int]) -> Optional[IntT]:
    """The type an integer literal gets where nothing else fixes it: i64, else u64 if it
    only fits there; None when it fits neither."""
    if v is None or fits(v, I64):
        return I64
    if fits(v, U64):
        return U64
    return None


def _tdiv(a: int, b: int) -> int:
    """Division truncating toward zero, as the VM's SDIV does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fold_binary(op: str, a: int, b: int, t: Type) -> int:
    """`a op b` at type `t` (LitT: exact).  The caller rules out division by zero and
    out-of-range shifts."""
    if op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||"):
        r = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
             "&&": bool(a) and bool(b), "||": bool(a) or bool(b)}[op]
        return int(r)
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        r = _tdiv(a, b)
    elif op == "%":
        r = a - b * _tdiv(a, b)
    elif op == "&":
        r = a & b
    elif op == "|":
        r = a | b
    elif op == "^":
        r = a ^ b
    elif op == "<<":
        r = a << b
    elif op == ">>":
        r = a >> b           # values are canonical: signed ones arithmetic, unsigned ones >= 0
    else:
        raise ValueError(op)
    return wrap(r, t)


def fold_unary(op: str, a: int, t: Type) -> int:
    if op == "-":
        return wrap(-a, t)
    if op == "~":
        return wrap(~a, t)
    return int(not a)        # "!"


def array_of(elem: IntT, n: int) -> ArrayT:
    return ArrayT(elem, n)
