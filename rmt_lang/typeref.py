"""Resolving a written type (a TypeRef) to a scalar type: the part of type checking that
expressions (casts, map keys) and declarations share.  Array types need constant folding and
are resolved by check_decls.resolve_type on top of these."""
from __future__ import annotations

from typing import Optional

from . import ast as A
from .state import State
from .suggest import did_you_mean
from .types import BOOL, INT_TYPES, TYPE_NAMES


def base_type(st: Optional[State], ref: A.TypeRef) -> Optional[A.Type]:
    """The element type a TypeRef names, ignoring any array size; reports unknown names."""
    if ref.name in INT_TYPES:
        return INT_TYPES[ref.name]
    if ref.name == "bool":
        return BOOL
    if st:
        st.error(ref.span, f"unknown type '{ref.name}'" + did_you_mean(ref.name, TYPE_NAMES))
    return None


def resolve_scalar_type(st: Optional[State], ref: A.TypeRef) -> Optional[A.Type]:
    """The type of a TypeRef where arrays are not allowed (everything but local variables)."""
    base = base_type(st, ref)
    if base is None or ref.size is None:
        return base
    if st:
        st.error(ref.span, "array types are only allowed for local variables")
    return None


def resolve_int_type(st: Optional[State], ref: A.TypeRef,
                     what: str = "this type") -> Optional[A.IntT]:
    t = resolve_scalar_type(st, ref)
    if t is not None and not isinstance(t, A.IntT):
        if st:
            st.error(ref.span, f"{what} must be an integer type, found {t}")
        return None
    return t
