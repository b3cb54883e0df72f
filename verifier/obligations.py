"""Proof obligations and their outcomes, as plain values.

Every property the verifier checks is one frozen dataclass instance: what must
hold and where (pc, model, guard).  Obligations are generated per instruction
(symbolic execution, verifier/symexec.py) and per program (cost, models,
taint), then discharged (verifier/solve.py) to exactly one outcome:
`Proved`, `Counterexample` (concrete inputs that break it, plus the pc and the
source location) or `Unknown` (the solver's reason).  Keeping them as values
lets the report, the JSON output and the tests treat every kind alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Obligation:
    """Base: `pc` is -1 for program-wide obligations."""
    pc: int

    @property
    def kind(self) -> str:
        return type(self).__name__

    def describe(self) -> str:      # pragma: no cover - overridden
        return self.kind


@dataclass(frozen=True)
class WellFormed(Obligation):
    """A load-time check of the kernel validator (semantics/validate.py CHECKS keyword)."""
    check: str
    detail: str

    def describe(self) -> str:
        return f"{self.check}: {self.detail}"


@dataclass(frozen=True)
class InBounds(Obligation):
    """The run-time check `r[src] <= limit - size` of an indexed access never fails."""
    region: str
    off: int
    limit: int
    size: int

    def describe(self) -> str:
        return (f"index into {self.region} may be out of bounds "
                f"(needs index <= {self.limit - self.size})")


@dataclass(frozen=True)
class ScaleNoWrap(Obligation):
    """An index scaled by a constant (MUL or SHL by a numeral) on its way to an indexed
    access never wraps at 64 bits.  The run-time check bounds the scaled offset, so a
    wrapped product (2^62 + 3 scaled by 4 is 12) would pass it and reach another element
    than the one indexed; the compiler clamps before scaling, a hand-written object must
    too."""
    region: str
    scale: int

    def describe(self) -> str:
        return (f"index into {self.region} scaled by {self.scale} may wrap at 64 bits before "
                f"the bounds check")


@dataclass(frozen=True)
class Initialized(Obligation):
    """A register or scratch range is written on every path before it is read."""
    what: str

    def describe(self) -> str:
        return f"{self.what} may be read before it is written"


@dataclass(frozen=True)
class NonZeroDivisor(Obligation):
    op: str

    def describe(self) -> str:
        return f"division by zero: the divisor of {self.op} may be 0"


@dataclass(frozen=True)
class ShiftInRange(Obligation):
    op: str

    def describe(self) -> str:
        return f"shift amount of {self.op} may be >= 64"


@dataclass(frozen=True)
class HelperArgValid(Obligation):
    helper: str

    def describe(self) -> str:
        return f"argument of {self.helper}() may be 0"


@dataclass(frozen=True)
class MapIndexInRange(Obligation):
    map: str
    max_entries: int

    def describe(self) -> str:
        return f"map index into {self.map} may be >= {self.max_entries}"


@dataclass(frozen=True)
class CtxPermission(Obligation):
    """An indexed (or constant) context access stays in fields the hook permits."""
    field: str          # the field the access is based in
    access: str         # "read" | "write"

    def describe(self) -> str:
        return f"forbidden context {self.access} via ctx.{self.field}"


@dataclass(frozen=True)
class ModelInputInRange(Obligation):
    model: str
    lo: int
    hi: int

    def describe(self) -> str:
        return f"input of model {self.model} may lie outside its declared range " \
               f"[{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class NoAccumulatorOverflow(Obligation):
    model: str
    layer: int

    def describe(self) -> str:
        return f"int32 accumulator of model {self.model} layer {self.layer} may overflow"


@dataclass(frozen=True)
class ModelSignature(Obligation):
    model: str
    problem: str

    def describe(self) -> str:
        return f"model {self.model}: {self.problem}"


@dataclass(frozen=True)
class DecisionAllowed(Obligation):
    """The value an EXIT returns is DEFAULT or in the hook's decision range."""
    lo: int
    hi: int

    def describe(self) -> str:
        return (f"decision may lie outside the hook's allowed set "
                f"{{DEFAULT}} u [{self.lo}, {self.hi}]")


@dataclass(frozen=True)
class GuardHolds(Obligation):
    guard: str

    def describe(self) -> str:
        return f"guard may be violated: {self.guard}"


@dataclass(frozen=True)
class WithinBudget(Obligation):
    cost: int
    budget: int

    def describe(self) -> str:
        return f"worst-case cost {self.cost} exceeds the budget {self.budget}"


@dataclass(frozen=True)
class TraceExportable(Obligation):
    trace: str
    field: str          # the trace record field
    leaks: tuple[str, ...]   # non-exportable ctx fields it depends on

    def describe(self) -> str:
        names = ", ".join(f"ctx.{n}" for n in self.leaks)
        return f"trace {self.trace} field {self.field!r} leaks non-exportable {names}"


@dataclass(frozen=True)
class ChannelExportable(Obligation):
    """A counter the control plane can read (`rmtctl table dump` hit counters, `rmtctl stats`
    decision and abort counters, model overflow counts) does not depend on a context field
    with export=False, unless the hook spec declares the channel exportable."""
    channel: str
    what: str
    leaks: tuple[str, ...]

    def describe(self) -> str:
        names = ", ".join(f"ctx.{n}" for n in self.leaks)
        if not self.leaks:
            return f"{self.channel} of {self.what} depend only on exportable data"
        return f"{self.channel} of {self.what} leak non-exportable {names}"


@dataclass(frozen=True)
class MapExportable(Obligation):
    """A map the control plane can read (`rmtctl map dump`) holds no data from a context
    field with export=False, in its keys or its values; `private` maps are exempt."""
    map: str
    key_leaks: tuple[str, ...]     # non-exportable ctx fields its keys depend on
    value_leaks: tuple[str, ...]   # ... and its values
    when_leaks: tuple[str, ...] = ()   # ... and whether a store happens (control dependence)

    def describe(self) -> str:
        parts = [f"{what} non-exportable " + ", ".join(f"ctx.{n}" for n in names)
                 for what, names in (("its keys depend on", self.key_leaks),
                                     ("its values depend on", self.value_leaks),
                                     ("whether it is stored depends on", self.when_leaks))
                 if names]
        return (f"map {self.map} can be read by the control plane but " + " and ".join(parts)
                if parts else f"map {self.map} holds only exportable data")


@dataclass(frozen=True)
class ObjectFormat(Obligation):
    """The bytes are not a well-formed .rmtb object (rmt.contract.objfile.read failed)."""
    detail: str

    def describe(self) -> str:
        return f"malformed object: {self.detail}"


# ------------------------------------------------------------------ outcomes

@dataclass(frozen=True)
class Proved:
    note: str = ""


@dataclass(frozen=True)
class Counterexample:
    """Concrete values that break the obligation; `values` maps printable names
    (ctx.a, ctx.arr[3], table policy action@pc12, ...) to integers or text."""
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Unknown:
    reason: str


Outcome = Union[Proved, Counterexample, Unknown]


@dataclass(frozen=True)
class Result:
    obligation: Obligation
    outcome: Outcome

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, Proved)
