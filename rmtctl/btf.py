"""A small BTF reader: struct sizes, member offsets (nested: ``se.exec_start``) and enum values.

Why: the scheduler's ``struct lb_env`` and ``struct rq`` are private to kernel/sched/ and
``task_struct``'s layout depends on the kernel's configuration, so rmt.ko cannot be compiled
against them. The running kernel describes its own types in ``/sys/kernel/btf/vmlinux``; rmtctl
reads the offsets the hooks need from there at attach time (rmtctl/hook_abi.py) and hands them
to the module. Stdlib only, so it runs wherever rmtctl runs (the host, or the QEMU guest).

Format (Documentation/bpf/btf.rst): a header (magic 0xeB9F), a type section and a string
section. Types are numbered from 1 in file order (0 is void); each is a 12-byte ``btf_type``
(name_off, info = vlen | kind << 24 | kind_flag << 31, size-or-type) followed by kind-specific
data. Member offsets are in bits; with the struct's kind_flag set, the top 8 bits of a
member's offset are its bitfield size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
BTF_MAGIC = 0xEB9F

# kinds (include/uapi/linux/btf.h)
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
_MODIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)
_KIND_NAMES = {INT: "int", PTR: "ptr", ARRAY: "array", STRUCT: "struct", UNION: "union",
               ENUM: "enum", FWD: "fwd", TYPEDEF: "typedef", VOLATILE: "volatile",
               CONST: "const", RESTRICT: "restrict", FUNC: "func", FUNC_PROTO: "func_proto",
               VAR: "var", DATASEC: "datasec", FLOAT: "float", DECL_TAG: "decl_tag",
               TYPE_TAG: "type_tag", ENUM64: "enum64"}


class BtfError(ValueError):
    """Malformed BTF, or a struct/member/enum the caller asked for that it does not have."""


@dataclass(frozen=True)
class _Type:
    kind: int
    name: str
    vlen: int
    kind_flag: bool
    size_or_type: int
    data: int          # offset of the kind-specific data in the type section


@dataclass(frozen=True)
class Member:
    """A resolved member: byte offset from the start of the outer struct, and byte size."""
    path: str
    offset: int
    size: int
    kind: str          # kind of the member's type after typedef/const/volatile


class Btf:
    """Parsed BTF: look up structs by name, resolve member paths, read enum constants."""

    def __init__(self, blob: bytes):
        if len(blob) < 24:
            raise BtfError(f"BTF blob of {len(blob)} bytes is shorter than its header")
        magic, version, _flags, hdr_len = struct.unpack_from("<HBBI", blob, 0)
        if magic != BTF_MAGIC:
            raise BtfError(f"bad BTF magic {magic:#x} (want {BTF_MAGIC:#x}; big-endian BTF "
                           "is not supported)")
        if version != 1:
            raise BtfError(f"BTF version {version} not supported (want 1)")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", blob, 8)
        base = hdr_len
        if base + type_off + type_len > len(blob) or base + str_off + str_len > len(blob):
            raise BtfError("BTF sections run past the end of the blob")
        self._types_raw = blob[base + type_off: base + type_off + type_len]
        self._strings = blob[base + str_off: base + str_off + str_len]
        self._types: list[_Type | None] = [None]       # id 0 = void
        self._by_name: dict[tuple[int, str], list[int]] = {}
        self._parse()

    @classmethod
    def load(cls, path: Path | str = VMLINUX_BTF) -> "Btf":
        """Read a BTF file (default: the running kernel's)."""
        try:
            return cls(Path(path).read_bytes())
        except OSError as e:
            raise BtfError(f"cannot read BTF from {path}: {e.strerror}") from e

    # ------------------------------------------------------------------ parsing

    def _str(self, off: int) -> str:
        if off >= len(self._strings):
            raise BtfError(f"string offset {off} outside the string section")
        end = self._strings.index(b"\0", off)
        return self._strings[off:end].decode("utf-8", "replace")

    def _parse(self) -> None:
        raw, pos, n = self._types_raw, 0, len(self._types_raw)
        while pos < n:
            if pos + 12 > n:
                raise BtfError(f"truncated type at byte {pos} of the type section")
            name_off, info, sot = struct.unpack_from("<III", raw, pos)
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)
            data = pos + 12
            pos = data + self._data_len(kind, vlen, len(self._types))
            t = _Type(kind, self._str(name_off) if name_off else "", vlen, kflag, sot, data)
            if t.name:
                self._by_name.setdefault((kind, t.name), []).append(len(self._types))
            self._types.append(t)
        if pos != n:
            raise BtfError("type section does not end on a type boundary")

    @staticmethod
    def _data_len(kind: int, vlen: int, tid: int) -> int:
        if kind in (INT, VAR, DECL_TAG):
            return 4
        if kind == ARRAY:
            return 12
        if kind in (STRUCT, UNION, DATASEC, ENUM64):
            return 12 * vlen
        if kind in (ENUM, FUNC_PROTO):
            return 8 * vlen
        if kind in (PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG):
            return 0
        raise BtfError(f"type {tid}: unknown BTF kind {kind}")

    # ------------------------------------------------------------------ types

    def _type(self, tid: int) -> _Type:
        if not 0 < tid < len(self._types):
            raise BtfError(f"type id {tid} out of range (1..{len(self._types) - 1})")
        return self._types[tid]  # type: ignore[return-value]

    def _strip(self, tid: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type."""
        for _ in range(64):
            t = self._type(tid)
            if t.kind not in _MODIFIERS:
                return tid
            tid = t.size_or_type
        raise BtfError(f"type {tid}: modifier chain too long")

    def type_size(self, tid: int) -> int:
        tid = self._strip(tid)
        t = self._type(tid)
        if t.kind in (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC):
            return t.size_or_type
        if t.kind == PTR:
            return 8
        if t.kind == ARRAY:
            elem, _idx, nelems = struct.unpack_from("<III", self._types_raw, t.data)
            return nelems * self.type_size(elem)
        raise BtfError(f"type {tid} ({_KIND_NAMES.get(t.kind, t.kind)}) has no size")

    def struct_id(self, name: str) -> int:
        """The id of ``struct name`` (or ``union name``) with a body, the first if several."""
        for kind in (STRUCT, UNION):
            ids = self._by_name.get((kind, name))
            if ids:
                return ids[0]
        raise BtfError(f"BTF has no struct {name!r}")

    def has_struct(self, name: str) -> bool:
        return any((k, name) in self._by_name for k in (STRUCT, UNION))

    def struct_size(self, name: str) -> int:
        return self._type(self.struct_id(name)).size_or_type

    def _members(self, tid: int) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield size) of a struct/union's direct members."""
        t = self._type(tid)
        out = []
        for i in range(t.vlen):
            name_off, mtype, off = struct.unpack_from("<III", self._types_raw, t.data + 12 * i)
            bits = 0
            if t.kind_flag:
                bits, off = off >> 24, off & 0xFFFFFF
            out.append((self._str(name_off) if name_off else "", mtype, off, bits))
        return out

    def _find(self, tid: int, name: str) -> tuple[int, int, int] | None:
        """(type id, bit offset, bitfield size) of member ``name``, looking inside anonymous
        struct/union members as C does."""
        for mname, mtype, off, bits in self._members(tid):
            if mname == name:
                return mtype, off, bits
            if not mname:
                inner = self._strip(mtype)
                if self._type(inner).kind in (STRUCT, UNION):
                    hit = self._find(inner, name)
                    if hit is not None:
                        return hit[0], off + hit[1], hit[2]
        return None

    def member(self, struct_name: str, path: str) -> Member:
        """Resolve ``path`` (``a.b.c``) inside ``struct struct_name`` to one byte offset."""
        tid = self.struct_id(struct_name)
        bit_off, where = 0, f"struct {struct_name}"
        parts = path.split(".")
        for i, part in enumerate(parts):
            t = self._type(tid)
            if t.kind not in (STRUCT, UNION):
                raise BtfError(f"{where} is a {_KIND_NAMES.get(t.kind, t.kind)}, "
                               f"not a struct: cannot resolve .{part}")
            hit = self._find(tid, part)
            if hit is None:
                raise BtfError(f"{where} has no member {part!r}")
            mtype, off, bits = hit
            if bits or off % 8:
                raise BtfError(f"{where}.{part} is a bitfield (bit offset {off}, {bits} bits)")
            bit_off += off
            where = f"{where}.{part}"
            tid = self._strip(mtype)
            if i == len(parts) - 1:
                return Member(path, bit_off // 8, self.type_size(tid),
                              _KIND_NAMES.get(self._type(tid).kind, "?"))
        raise BtfError("empty member path")  # pragma: no cover (split never returns [])

    def enum_value(self, name: str) -> int | None:
        """The value of enumerator ``name`` in any enum, or None."""
        for tid in range(1, len(self._types)):
            t = self._types[tid]
            if t is None or t.kind not in (ENUM, ENUM64):
                continue
            step = 8 if t.kind == ENUM else 12
            for i in range(t.vlen):
                name_off = struct.unpack_from("<I", self._types_raw, t.data + step * i)[0]
                if self._str(name_off) != name:
                    continue
                if t.kind == ENUM:
                    v = struct.unpack_from("<I", self._types_raw, t.data + step * i + 4)[0]
                    return v - (1 << 32) if (t.kind_flag and v >> 31) else v
                lo, hi = struct.unpack_from("<II", self._types_raw, t.data + step * i + 4)
                return lo | hi << 32
        return None

    def __len__(self) -> int:
        return len(self._types) - 1
