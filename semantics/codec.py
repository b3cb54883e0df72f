"""Host-side encodings shared by rmtctl, the simulators and the tests.

Contexts as name -> value mappings <-> the hook's context bytes; table match
text (`v`, `v&&&mask`, `v/len`, `lo..hi`, `*`) <-> Match values; action
arguments <-> parameter bytes; raw trace values -> typed values.  Every
error is a ValueError that names the field, key or argument at fault.
"""
from __future__ import annotations

from typing import Any

from compiler.objfile import Action, Table
from compiler.objformat import MatchKind
from rmt_lang.hooks import HookSpec
from semantics.engine import Exact, Lpm, Match, Range, Ternary

_KIND_OF = {Exact: MatchKind.EXACT, Lpm: MatchKind.LPM, Ternary: MatchKind.TERNARY,
            Range: MatchKind.RANGE}


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
                raise ValueError(f"field {name}: {x} is outside [{lo}, {hi}]")
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
                             f"{t.strip()!r} is a {_KIND_OF[type(m)].name.lower()} match")
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
