"""Fixed-width integer types: the types of .rmt values and of hook context fields."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntT:
    """A fixed-width integer type (also the type of hook context fields)."""
    bits: int
    signed: bool

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return ("i" if self.signed else "u") + str(self.bits)

    @property
    def size(self) -> int:
        return self.bits // 8

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1
