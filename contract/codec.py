"""Host-side encodings shared by rmtctl, the simulators and the tests.

Contexts as name -> value mappings <-> the hook's context bytes; table match
text (`v`, `v&&&mask`, `v/len`, `lo..hi`, `*`) <-> Match values; action
arguments <-> parameter bytes; raw trace values -> typed values.  Every
error is a ValueError that names the field, key or argument at fault.
"""
from __future__ import annotations

import errno
from typing import Any

from rmt.contract.objfile import Action, Table
from rmt.contract.objformat import MatchKind
from rmt.contract.hooks import HookSpec
from rmt.contract.engine import EngineError, Exact, Lpm, Match, Range, Ternary

_KIND_OF = {Exact: MatchKind.EXACT, Lpm: MatchKind.LPM, Ternary: MatchKind.TERNARY,
            Range: MatchKind.RANGE}
# How each kind is written (docs/rmtctl.md, "Matches"), for errors that name the kind wanted.
_MATCH_SYNTAX = {MatchKind.EXACT: "VALUE", MatchKind.LPM: "VALUE/PREFIX_LEN or *",
                 MatchKind.TERNARY: "VALUE&&&MASK or *", MatchKind.RANGE: "LO..HI or *"}


def ctx_encode(hook: HookSpec, values: dict[str, Any], *, check_range: bool = False) -> bytes:
    """Context bytes from field values (missing fields are 0; arrays as lists)."""
    buf = bytearray(hook.ctx_size)
    for name, v in values.items():
        f = hook.field(name)
        if f is None:
            raise ValueError(f"hook {hook.name} has no context field {name!r}")
        vals = v if isinstance(v, list) else [v]
        if len(vals) > f.count or (f.count == 1 and isinstance(v, list)):
            raise ValueError(f"field {name} holds {f.count} value(s), {len(vals)} given")
        off, size = hook.layout[name], f.type.size
        for j, x in enumerate(vals):
            if not isinstance(x, int):
                raise ValueError(f"field {name}: {x!r} is not an integer")
            lo, hi = (f.lo, f.hi) if check_range else (f.type.min, f.type.max)
            if not lo <= int(x) <= hi:
                raise ValueError(f"field {name}: {x} is outside [{lo}, {hi}]" +
                                 (f", the range hook {hook.name} declares (the verifier "
                                  f"assumes it)" if check_range else ""))
            buf[off + j * size:off + (j + 1) * size] = int(x).to_bytes(size, "little",
                                                                       signed=f.type.signed)
    return bytes(buf)


def ctx_decode(hook: HookSpec, ctx: bytes, names: list[str] | None = None) -> dict[str, Any]:
    """Field values from context bytes (all fields, or the named ones)."""
    out: dict[str, Any] = {}
    for f in hook.fields:
        if names is not None and f.name not in names:
            continue
        off, size = hook.layout[f.name], f.type.size
        vals = [int.from_bytes(ctx[off + j * size:off + (j + 1) * size], "little",
                               signed=f.type.signed) for j in range(f.count)]
        out[f.name] = vals if f.count > 1 else vals[0]
    return out


def parse_match(text: str, kind: MatchKind | None = None) -> Match:
    """One key's match from rmtctl/P4 syntax; `kind` (the key's) resolves `v` and `*`."""
    tok = text.strip()

    def num(s: str) -> int:
        try:
            return int(s.strip(), 0)
        except ValueError:
            raise ValueError(f"match {text!r}: {s.strip()!r} is not a number") from None

    if tok == "*":
        if kind == MatchKind.LPM:
            return Lpm(0, 0)
        if kind == MatchKind.RANGE:
            return Range(0, (1 << 64) - 1)
        return Ternary(0, 0)
    if "&&&" in tok:
        v, m = tok.split("&&&", 1)
        return Ternary(num(v), num(m))
    if ".." in tok:
        lo, hi = tok.split("..", 1)
        return Range(num(lo), num(hi))
    if "/" in tok:
        v, p = tok.split("/", 1)
        return Lpm(num(v), num(p))
    v = num(tok)
    if kind == MatchKind.TERNARY:
        return Ternary(v, (1 << 64) - 1)
    if kind == MatchKind.LPM:
        return Lpm(v, 64)
    if kind == MatchKind.RANGE:
        return Range(v, v)
    return Exact(v)


def parse_matches(table: Table, texts: list[str]) -> tuple[Match, ...]:
    if len(texts) != len(table.keys):
        keys = ", ".join(f"{k.name}:{k.kind.name.lower()}" for k in table.keys)
        raise ValueError(f"table {table.name} has {len(table.keys)} key(s) ({keys}), "
                         f"{len(texts)} match(es) given")
    out = []
    for k, t in zip(table.keys, texts):
        m = parse_match(t, k.kind)
        if m.__class__ is Lpm and m.plen == 64 and k.bits < 64 and t.strip() != "*" \
                and "/" not in t:
            m = Lpm(m.value, k.bits)
        if m.__class__ is Ternary and m.mask == (1 << 64) - 1:
            m = Ternary(m.value, (1 << k.bits) - 1)
        if m.__class__ is Range and m.hi == (1 << 64) - 1 and t.strip() == "*":
            m = Range(0, (1 << k.bits) - 1)
        if _KIND_OF[type(m)] != k.kind:
            raise ValueError(f"key {k.name} of table {table.name} is {k.kind.name.lower()}, "
                             f"{t.strip()!r} is a {_KIND_OF[type(m)].name.lower()} match "
                             f"(write a {k.kind.name.lower()} match as "
                             f"{_MATCH_SYNTAX[k.kind]})")
        out.append(m)
    return tuple(out)


def format_match(m: Match) -> str:
    if isinstance(m, Exact):
        return str(m.value)
    if isinstance(m, Lpm):
        return f"{m.value:#x}/{m.plen}"
    if isinstance(m, Ternary):
        return f"{m.value:#x}&&&{m.mask:#x}"
    return f"{m.lo}..{m.hi}"


def pack_params(action: Action, args: list[int]) -> bytes:
    """Action arguments packed at their parameter offsets (two's complement for signed)."""
    if len(args) != len(action.params):
        raise ValueError(f"action {action.name} takes {len(action.params)} argument(s), "
                         f"{len(args)} given")
    buf = bytearray(action.param_size)
    for p, v in zip(action.params, args):
        lo = -(1 << (p.bits - 1)) if p.signed else 0
        hi = (1 << (p.bits - 1)) - 1 if p.signed else (1 << p.bits) - 1
        if not lo <= v <= hi:
            raise ValueError(f"argument {v} does not fit parameter {p.name} "
                             f"({'i' if p.signed else 'u'}{p.bits}: {lo}..{hi})")
        buf[p.offset:p.offset + p.bits // 8] = (v & ((1 << p.bits) - 1)).to_bytes(
            p.bits // 8, "little")
    return bytes(buf)


def unpack_params(action: Action, params: bytes) -> list[int]:
    return [int.from_bytes(params[p.offset:p.offset + p.bits // 8], "little", signed=p.signed)
            for p in action.params]


def decode_value(raw: int, bits: int, signed: bool) -> int:
    """A raw u64 trace or map value as the declared type."""
    v = raw & ((1 << bits) - 1)
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def entry_wire(table: Table, match: tuple[Match, ...], action: int, params: bytes,
               priority: int, max_params: int) -> list[tuple[int, int]]:
    """The (a, b) words of each match field as `struct rmt_entry_spec` carries them
    (exact: value, 0; lpm: value, plen; ternary: value, mask; range: lo, hi), after the
    checks a fixed-width binary encoding needs (a value that does not fit its field would
    be truncated silently): field count, match kinds, 64-bit values, priority, action index
    and parameter size.  Everything else is the engine's own call.  EngineError(EINVAL)."""
    def bad(why: str) -> EngineError:
        return EngineError(errno.EINVAL, f"table {table.name}: {why}")
    if len(match) != len(table.keys):
        raise bad(f"entry has {len(match)} match fields, the table has {len(table.keys)} keys")
    if not 0 <= priority < 1 << 32:
        raise bad(f"priority {priority} is outside 0..{(1 << 32) - 1}")
    if not 0 <= action < 1 << 16:
        raise bad(f"action index {action} is outside 0..{len(table.actions) - 1}")
    if len(params) > max_params:
        raise bad(f"{len(params)} parameter bytes given, the most any action takes "
                  f"is {table.param_size}")
    words = []
    for i, (m, k) in enumerate(zip(match, table.keys)):
        kind = _KIND_OF.get(type(m))
        if kind != k.kind:
            got = kind.name.lower() if kind is not None else type(m).__name__
            raise bad(f"match field {i} is {got}, key {k.name!r} is {k.kind.name.lower()}")
        a, b = {Exact: lambda: (m.value, 0), Lpm: lambda: (m.value, m.plen),
                Ternary: lambda: (m.value, m.mask), Range: lambda: (m.lo, m.hi)}[type(m)]()
        for v in (a, b):
            if not 0 <= v < 1 << 64:
                raise bad(f"match field {i}: {v} is wider than the {k.bits}-bit key {k.name!r}")
        words.append((a, b))
    return words


def match_from_wire(kind: MatchKind, a: int, b: int) -> Match:
    """The inverse of entry_wire for one field: a key's (a, b) words as a Match."""
    if kind == MatchKind.EXACT:
        return Exact(a)
    if kind == MatchKind.LPM:
        return Lpm(a, b)
    if kind == MatchKind.TERNARY:
        return Ternary(a, b)
    return Range(a, b)
