"""Match-action tables: matching, selection and the control plane (P4Runtime rules).

Follows docs/semantics.md, "Tables (APPLY)".  The reference keeps entries in
a plain list in insertion order and scans it on every lookup: slow, but easy
to check against the text.  Every update is validated completely before the
list is replaced, so a failed call changes nothing and a lookup never sees a
half-applied update.
"""
from __future__ import annotations

import errno

from rmt.contract.objfile import Table
from rmt.contract.objformat import MatchKind
from rmt.contract.engine import (EngineError, Entry, EntryState, Exact, Lpm, Match, Range,
                              Ternary)

_KIND = {Exact: MatchKind.EXACT, Lpm: MatchKind.LPM, Ternary: MatchKind.TERNARY,
         Range: MatchKind.RANGE}
PRIORITY_MAX = (1 << 31) - 1


def _einval(table: Table, why: str) -> EngineError:
    return EngineError(errno.EINVAL, f"table {table.name}: {why}")


def is_priority_table(table: Table) -> bool:
    """Tables with a ternary or range key select by priority."""
    return any(k.kind in (MatchKind.TERNARY, MatchKind.RANGE) for k in table.keys)


def lpm_mask(bits: int, plen: int) -> int:
    """The mask selecting the top `plen` of a `bits`-wide key."""
    return ((1 << plen) - 1) << (bits - plen)


def normalize(table: Table, match: tuple[Match, ...]) -> tuple[Match, ...]:
    """Check a match against the table's keys and return its normal form.

    The normal form is what identity compares: lpm values masked to the
    prefix, ternary values masked by the mask.  Raises EngineError(EINVAL).
    """
    if len(match) != len(table.keys):
        raise _einval(table, f"entry has {len(match)} match fields, the table has "
                             f"{len(table.keys)} keys")
    out: list[Match] = []
    for i, (m, k) in enumerate(zip(match, table.keys)):
        kind = _KIND.get(type(m))
        if kind != k.kind:
            got = kind.name.lower() if kind is not None else type(m).__name__
            raise _einval(table, f"match field {i} is {got}, key {k.name!r} is "
                                 f"{k.kind.name.lower()}")
        top = 1 << k.bits

        def fits(v: int, what: str) -> None:
            if not 0 <= v < top:
                raise _einval(table, f"match field {i}: {what} {v} is wider than the "
                                     f"{k.bits}-bit key {k.name!r}")
        if isinstance(m, Exact):
            fits(m.value, "value")
            out.append(m)
        elif isinstance(m, Lpm):
            fits(m.value, "value")
            if not 0 <= m.plen <= k.bits:
                raise _einval(table, f"match field {i}: prefix length {m.plen} is outside "
                                     f"0..{k.bits}")
            out.append(Lpm(m.value & lpm_mask(k.bits, m.plen), m.plen))
        elif isinstance(m, Ternary):
            fits(m.value, "value")
            fits(m.mask, "mask")
            out.append(Ternary(m.value & m.mask, m.mask))
        else:
            fits(m.lo, "lo")
            fits(m.hi, "hi")
            if m.lo > m.hi:
                raise _einval(table, f"match field {i}: range {m.lo}..{m.hi} has lo > hi")
            out.append(m)
    return tuple(out)


def identity(table: Table, match: tuple[Match, ...], priority: int) -> tuple:
    """An entry's identity: its normalised match, plus its priority in priority tables."""
    norm = normalize(table, match)
    return (norm, priority) if is_priority_table(table) else (norm,)


def field_matches(m: Match, key: int, bits: int) -> bool:
    if isinstance(m, Exact):
        return key == m.value
    if isinstance(m, Lpm):
        return (key ^ m.value) & lpm_mask(bits, m.plen) == 0
    if isinstance(m, Ternary):
        return key & m.mask == m.value
    return m.lo <= key <= m.hi


class TableState:
    """One table's entries (insertion order), hit counters and miss counter."""

    def __init__(self, table: Table):
        self.table = table
        self.entries: list[EntryState] = []
        self.misses = 0
        self.priority = is_priority_table(table)

    # ------------------------------------------------------------ control plane

    def _check(self, entry: Entry) -> tuple[tuple, Entry]:
        """Validate an entry; return its identity and its stored (normalised) form."""
        t = self.table
        norm = normalize(t, entry.match)
        if self.priority:
            if not 0 <= entry.priority <= PRIORITY_MAX:
                raise _einval(t, f"priority {entry.priority} is outside 0..{PRIORITY_MAX}")
        elif entry.priority != 0:
            raise _einval(t, f"priority {entry.priority} given, but the table has no ternary "
                             f"or range key")
        if not 0 <= entry.action < len(t.actions):
            raise _einval(t, f"action index {entry.action} is outside 0..{len(t.actions) - 1}")
        act = t.actions[entry.action]
        if len(entry.params) > act.param_size:
            raise _einval(t, f"{len(entry.params)} parameter bytes given, action "
                             f"{act.name!r} takes {act.param_size}")
        stored = Entry(norm, entry.action, bytes(entry.params).ljust(t.param_size, b"\0"),
                       entry.priority)
        ident = (norm, entry.priority) if self.priority else (norm,)
        return ident, stored

    def _ident_of(self, es: EntryState) -> tuple:
        e = es.entry
        return (e.match, e.priority) if self.priority else (e.match,)

    def _find(self, ident: tuple) -> int:
        for i, es in enumerate(self.entries):
            if self._ident_of(es) == ident:
                return i
        return -1

    def insert(self, entry: Entry) -> None:
        ident, stored = self._check(entry)
        if self._find(ident) >= 0:
            raise EngineError(errno.EEXIST, f"table {self.table.name}: an entry with this "
                                            f"match{' and priority' if self.priority else ''} "
                                            f"exists")
        if len(self.entries) >= self.table.max_entries:
            raise EngineError(errno.ENOSPC, f"table {self.table.name}: full "
                                            f"({self.table.max_entries} entries)")
        self.entries = self.entries + [EntryState(stored, 0)]

    def modify(self, entry: Entry) -> None:
        """Replace the action and parameters of an existing entry; position and hits stay."""
        ident, stored = self._check(entry)
        i = self._find(ident)
        if i < 0:
            raise EngineError(errno.ENOENT, f"table {self.table.name}: no such entry to modify")
        new = list(self.entries)
        new[i] = EntryState(stored, self.entries[i].hits)
        self.entries = new

    def delete(self, match: tuple[Match, ...], priority: int = 0) -> None:
        ident = identity(self.table, match, priority)
        i = self._find(ident)
        if i < 0:
            raise EngineError(errno.ENOENT, f"table {self.table.name}: no such entry to delete")
        self.entries = self.entries[:i] + self.entries[i + 1:]

    def snapshot(self) -> list[EntryState]:
        return [EntryState(es.entry, es.hits) for es in self.entries]

    # ------------------------------------------------------------ data plane

    def select(self, keys: list[int]) -> EntryState | None:
        """The matching entry the selection rules pick, or None on a miss."""
        bits = [k.bits for k in self.table.keys]
        best: EntryState | None = None
        best_rank = -1
        for es in self.entries:
            m = es.entry.match
            if not all(field_matches(m[i], keys[i], bits[i]) for i in range(len(bits))):
                continue
            if self.priority:
                rank = es.entry.priority           # strict > keeps the first inserted on ties
            else:
                rank = max((f.plen for f in m if isinstance(f, Lpm)), default=0)
            if rank > best_rank:
                best, best_rank = es, rank
        return best

    def lookup(self, raw_keys: list[int]) -> tuple[int, bytes]:
        """APPLY: mask the u64 key fields, select, count; return (action, params)."""
        keys = [v & ((1 << k.bits) - 1) for v, k in zip(raw_keys, self.table.keys)]
        es = self.select(keys)
        if es is None:
            self.misses += 1
            return self.table.default_action, self.table.default_params
        es.hits += 1
        return es.entry.action, es.entry.params
