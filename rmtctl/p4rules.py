"""P4Runtime's rules for table entries, checked before an entry reaches any target.

The VM's own semantics (docs/semantics.md) normalise a match: lpm host bits and
ternary value bits outside the mask are cleared.  P4Runtime instead refuses such
an entry (the user typed something that cannot match as written), and so does
rmtctl, on every target:

- a ternary value with bits set outside its mask is an error;
- an lpm value with bits set below its prefix (host bits) is an error;
- a table with a ternary key needs `priority N` with N >= 1;
- an entry that overlaps an existing entry of the same priority (some key matches
  both) is accepted with a warning: which one wins is decided by insertion order.
"""
from __future__ import annotations

from rmt.contract.objfile import Table
from rmt.contract.objformat import MatchKind
from rmt.contract.engine import Entry, Exact, Lpm, Match, Range, Ternary
from rmt.semantics.tables import is_priority_table, lpm_mask


def check_entry(table: Table, match: tuple[Match, ...], priority: int) -> None:
    """Raise ValueError (one line) when the entry breaks a P4Runtime rule."""
    for i, (m, k) in enumerate(zip(match, table.keys)):
        if isinstance(m, Ternary) and m.value & ~m.mask:
            raise ValueError(f"table {table.name}: key {k.name!r}: value {m.value:#x} has bits "
                             f"outside its mask {m.mask:#x} ({m.value & ~m.mask:#x}); P4Runtime "
                             f"refuses them: write {m.value & m.mask:#x}&&&{m.mask:#x}")
        if isinstance(m, Lpm) and 0 <= m.plen <= k.bits:
            host = m.value & ~lpm_mask(k.bits, m.plen) & ((1 << k.bits) - 1)
            if host:
                raise ValueError(f"table {table.name}: key {k.name!r}: {m.value:#x}/{m.plen} has "
                                 f"host bits set ({host:#x}); P4Runtime refuses them: write "
                                 f"{m.value & ~host:#x}/{m.plen}")
    if any(k.kind == MatchKind.TERNARY for k in table.keys) and priority < 1:
        raise ValueError(f"table {table.name} has a ternary key: give `priority N` with N >= 1 "
                         f"(higher wins), as P4Runtime requires")


def _as_ternary(m: Match, bits: int) -> tuple[int, int]:
    if isinstance(m, Exact):
        return m.value, (1 << bits) - 1
    if isinstance(m, Lpm):
        return m.value, lpm_mask(bits, m.plen)
    assert isinstance(m, Ternary)
    return m.value, m.mask


def fields_overlap(a: Match, b: Match, bits: int) -> bool:
    """Whether some key value matches both (same kind of match on one key)."""
    if isinstance(a, Range) or isinstance(b, Range):
        assert isinstance(a, Range) and isinstance(b, Range)
        return a.lo <= b.hi and b.lo <= a.hi
    (va, ma), (vb, mb) = _as_ternary(a, bits), _as_ternary(b, bits)
    return (va ^ vb) & ma & mb == 0


def overlapping(table: Table, entry: Entry, existing: list[Entry]) -> list[Entry]:
    """Entries of the same priority that some key matches together with `entry`."""
    if not is_priority_table(table):
        return []
    return [e for e in existing
            if e.priority == entry.priority and e.match != entry.match
            and all(fields_overlap(x, y, k.bits)
                    for x, y, k in zip(entry.match, e.match, table.keys))]
