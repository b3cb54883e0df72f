"""Tables: matching, selection rules, identity and P4Runtime errors."""
from __future__ import annotations

import errno

import pytest

from rmt.contract.objfile import Action, Key, Param, Table
from rmt.contract.objformat import MatchKind
from rmt.contract.engine import EngineError, Entry, Exact, Lpm, Range, Ternary
from rmt.semantics.tables import TableState, field_matches, identity, lpm_mask, normalize

SET = Action("set", [Param("v", 0, 8, False)])


def table(*kinds: tuple[MatchKind, int], size: int = 8) -> TableState:
    keys = [Key(f"k{i}", k, b) for i, (k, b) in enumerate(kinds)]
    return TableState(Table("t", keys, [SET, Action("nop")], size, 1))


def chosen(t: TableState, *keys: int) -> int | None:
    action, params = t.lookup(list(keys))
    return params[0] if action == 0 else None


def test_lpm_mask_and_match() -> None:
    assert lpm_mask(32, 8) == 0xFF000000
    assert lpm_mask(32, 0) == 0
    assert lpm_mask(8, 8) == 0xFF
    assert field_matches(Lpm(0x0A000000, 8), 0x0AFFFFFF, 32)
    assert not field_matches(Lpm(0x0A000000, 8), 0x0B000000, 32)
    assert field_matches(Range(3, 5), 5, 8) and not field_matches(Range(3, 5), 6, 8)
    assert field_matches(Ternary(0x10, 0xF0), 0x1F, 8) and not field_matches(Ternary(0x10, 0xF0), 0x2F, 8)


def test_longest_prefix_wins_regardless_of_order() -> None:
    t = table((MatchKind.LPM, 32))
    t.insert(Entry((Lpm(0x0A010000, 16),), 0, b"\x10"))
    t.insert(Entry((Lpm(0, 0),), 0, b"\x00"))
    t.insert(Entry((Lpm(0x0A000000, 8),), 0, b"\x08"))
    assert chosen(t, 0x0A010101) == 16
    assert chosen(t, 0x0A020101) == 8
    assert chosen(t, 0x0B000000) == 0


def test_priority_then_insertion_order() -> None:
    t = table((MatchKind.TERNARY, 8), (MatchKind.RANGE, 16))
    t.insert(Entry((Ternary(0, 0), Range(0, 100)), 0, b"\x01", priority=5))
    t.insert(Entry((Ternary(1, 1), Range(0, 100)), 0, b"\x02", priority=5))
    t.insert(Entry((Ternary(1, 1), Range(50, 60)), 0, b"\x03", priority=6))
    assert chosen(t, 1, 10) == 1          # tie at 5: first inserted
    assert chosen(t, 1, 55) == 3          # higher priority
    assert chosen(t, 0, 101) is None      # miss: default action 1
    assert t.misses == 1
    assert [es.hits for es in t.snapshot()] == [1, 0, 1]


def test_exact_multi_key_and_key_masking() -> None:
    t = table((MatchKind.EXACT, 8), (MatchKind.EXACT, 16))
    t.insert(Entry((Exact(0xFF), Exact(7)), 0, b"\x09"))
    assert chosen(t, 0x1FF, 0x10007) == 9      # both fields masked to their widths
    assert chosen(t, 0xFF, 8) is None


def test_default_params_on_miss() -> None:
    tbl = Table("t", [Key("k", MatchKind.EXACT, 8)], [SET], 4, 0, b"\x2a")
    t = TableState(tbl)
    assert t.lookup([3]) == (0, b"\x2a" + b"\0" * 7)


def test_identity_normalises() -> None:
    tl = Table("t", [Key("k", MatchKind.LPM, 32)], [SET], 4)
    assert identity(tl, (Lpm(0x0A0B0C0D, 8),), 0) == identity(tl, (Lpm(0x0A000000, 8),), 0)
    assert identity(tl, (Lpm(0x0A000000, 8),), 0) != identity(tl, (Lpm(0x0A000000, 9),), 0)
    tt = Table("t", [Key("k", MatchKind.TERNARY, 8)], [SET], 4)
    assert identity(tt, (Ternary(0x13, 0xF0),), 1) == identity(tt, (Ternary(0x10, 0xF0),), 1)
    assert identity(tt, (Ternary(0x10, 0xF0),), 1) != identity(tt, (Ternary(0x10, 0xF0),), 2)
    assert normalize(tt, (Ternary(0xFF, 0x0F),)) == (Ternary(0x0F, 0x0F),)


@pytest.mark.parametrize("entry, why", [
    (Entry((Exact(1), Exact(2)), 0), "2 match fields"),
    (Entry((Lpm(1, 8),), 0), "is lpm"),
    (Entry((Exact(256),), 0), "wider"),
    (Entry((Exact(-1),), 0), "wider"),
    (Entry((Exact(1),), 2), "action index"),
    (Entry((Exact(1),), 0, b"\1\2"), "parameter bytes"),
    (Entry((Exact(1),), 0, priority=1), "priority"),
])
def test_einval(entry: Entry, why: str) -> None:
    t = table((MatchKind.EXACT, 8))
    with pytest.raises(EngineError) as ei:
        t.insert(entry)
    assert ei.value.code == errno.EINVAL and why in str(ei.value)
    assert t.snapshot() == []


@pytest.mark.parametrize("m, prio, why", [
    ((Range(5, 4),), 1, "lo > hi"), ((Range(0, 1 << 16),), 1, "wider"),
    ((Range(0, 1),), -1, "priority"), ((Range(0, 1),), 1 << 31, "priority"),
])
def test_einval_priority_tables(m, prio: int, why: str) -> None:
    t = table((MatchKind.RANGE, 16))
    with pytest.raises(EngineError) as ei:
        t.insert(Entry(m, 0, b"", prio))
    assert ei.value.code == errno.EINVAL and why in str(ei.value)


def test_lpm_prefix_too_long() -> None:
    t = table((MatchKind.LPM, 8))
    with pytest.raises(EngineError, match="prefix length 9"):
        t.insert(Entry((Lpm(0, 9),), 0))


def test_eexist_enospc_enoent_change_nothing() -> None:
    t = table((MatchKind.EXACT, 8), size=2)
    t.insert(Entry((Exact(1),), 0, b"\x01"))
    t.insert(Entry((Exact(2),), 0, b"\x02"))
    before = t.snapshot()
    for fn, arg, code in ((t.insert, Entry((Exact(1),), 1), errno.EEXIST),
                          (t.insert, Entry((Exact(3),), 0), errno.ENOSPC),
                          (t.modify, Entry((Exact(3),), 0), errno.ENOENT)):
        with pytest.raises(EngineError) as ei:
            fn(arg)
        assert ei.value.code == code
    with pytest.raises(EngineError) as ei:
        t.delete((Exact(3),))
    assert ei.value.code == errno.ENOENT
    assert t.snapshot() == before


def test_einval_before_eexist_and_enospc() -> None:
    t = table((MatchKind.EXACT, 8), size=1)
    t.insert(Entry((Exact(1),), 0))
    with pytest.raises(EngineError) as ei:
        t.insert(Entry((Exact(1),), 0, b"\1\2"))
    assert ei.value.code == errno.EINVAL


def test_modify_keeps_position_and_hits_delete_frees_space() -> None:
    t = table((MatchKind.TERNARY, 8), size=2)
    t.insert(Entry((Ternary(0, 0),), 0, b"\x01", 1))
    t.insert(Entry((Ternary(1, 1),), 0, b"\x02", 1))
    assert chosen(t, 1) == 1
    t.modify(Entry((Ternary(0xFE, 0),), 0, b"\x05", 1))      # same identity as (0, 0)
    assert chosen(t, 1) == 5                                 # still first: position kept
    assert [es.hits for es in t.snapshot()] == [2, 0]
    t.delete((Ternary(0, 0),), 1)
    assert chosen(t, 1) == 2
    t.insert(Entry((Ternary(0, 0),), 0, b"\x01", 1))         # room again, now last
    assert chosen(t, 1) == 2


def test_snapshot_is_a_copy() -> None:
    t = table((MatchKind.EXACT, 8))
    t.insert(Entry((Exact(1),), 0, b"\x01"))
    snap = t.snapshot()
    t.lookup([1])
    assert snap[0].hits == 0 and t.snapshot()[0].hits == 1
    assert snap[0].entry.params == b"\x01" + b"\0" * 7
