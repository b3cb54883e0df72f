"""Constant folding over checked expressions.

`fold(e, loops)` gives the value of a constant expression (literals, consts,
decision names, unrolled loop variables, and operators over them) wrapped to
the expression's type exactly as the VM would compute it, or None when the
value is only known at run time (or the operation would abort at run time:
division by zero, shift by 64 or more, which are left for the VM and the
verifier to report).
"""
from __future__ import annotations

from typing import Optional

from rmt.lang import ast as A


def wrap(v: int, ty: Optional[A.Type]) -> int:
    """Reduce v to the canonical value of type ty (two's complement wrap)."""
    if isinstance(ty, A.BoolT):
        return 1 if v else 0
    if isinstance(ty, A.IntT):
        v &= (1 << ty.bits) - 1
        if ty.signed and v >> (ty.bits - 1):
            v -= 1 << ty.bits
        return v
    return v


def _signed(ty: Optional[A.Type]) -> bool:
    return isinstance(ty, A.IntT) and ty.signed


def _div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _mod(a: int, b: int) -> int:
    return a - b * _div(a, b)


def fold(e: A.Expr, loops: dict[int, int]) -> Optional[int]:
    if e.const is not None:              # the checker folded it exactly (600 / 3 in a u8)
        return e.const
    if isinstance(e, A.IntLit):
        return wrap(e.value, e.ty) if isinstance(e.ty, A.IntT) else e.value
    if isinstance(e, A.BoolLit):
        return int(e.value)
    if isinstance(e, A.Name):
        s = e.sym
        if isinstance(s, (A.ConstSym, A.DecisionSym)):
            return s.value
        if isinstance(s, A.LoopSym):
            return loops.get(id(s))
        return None
    if isinstance(e, A.Cast):
        v = fold(e.expr, loops)
        return None if v is None else wrap(v, e.ty)
    if isinstance(e, A.Unary):
        v = fold(e.operand, loops)
        if v is None:
            return None
        if e.op == "-":
            return wrap(-v, e.ty)
        if e.op == "~":
            return wrap(~v, e.ty)
        return int(not v)
    if isinstance(e, A.Binary):
        return _fold_binary(e, loops)
    return None


def _fold_binary(e: A.Binary, loops: dict[int, int]) -> Optional[int]:
    op = e.op
    a = fold(e.left, loops)
    if op in ("&&", "||") and a is not None:
        if op == "&&" and not a:
            return 0
        if op == "||" and a:
            return 1
    b = fold(e.right, loops)
    if a is None or b is None:
        return None
    if op in ("&&", "||"):
        return int(bool(b))
    # operands are canonical in their own types, so Python comparisons are right
    rel = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
    if op in rel:
        return int(rel[op])
    signed = _signed(e.ty)
    if op in ("/", "%"):
        if b == 0:
            return None
        if signed:
            return wrap(_div(a, b) if op == "/" else _mod(a, b), e.ty)
        return wrap(a // b if op == "/" else a % b, e.ty)
    if op in ("<<", ">>"):
        if not 0 <= b < 64:
            return None
        if op == "<<":
            return wrap(a << b, e.ty)
        return wrap(a >> b, e.ty)     # a is canonical: >> is arithmetic iff signed
    arith = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}
    return wrap(arith[op], e.ty)
