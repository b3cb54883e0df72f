"""rmtctl/btf.py: a hand-built BTF blob (nested and anonymous members, bitfields, typedefs,
enums, errors) and the host kernel's own BTF checked against bpftool's reading of it.

The guest side (Debian's 6.1 BTF, offsets checked by rmt.ko against its own offsetof() for
every public struct at attach time) is tests/kernel/test_kmod_hooks.py.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rmt.contract import kgen
from rmt.ctl import hook_abi as H
from rmt.ctl.btf import (ARRAY, CONST, ENUM, INT, PTR, STRUCT, TYPEDEF, UNION, Btf, BtfError)

VMLINUX = Path("/sys/kernel/btf/vmlinux")


class Builder:
    """Encodes a BTF blob type by type (ids from 1, in call order)."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types = bytearray()
        self.n = 0

    def s(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def add(self, kind: int, name: str, vlen: int, sot: int, data: bytes = b"",
            kflag: bool = False) -> int:
        info = vlen | kind << 24 | (1 << 31 if kflag else 0)
        self.types += struct.pack("<III", self.s(name), info, sot) + data
        self.n += 1
        return self.n

    def int_(self, name: str, size: int) -> int:
        return self.add(INT, name, 0, size, struct.pack("<I", size * 8))

    def struct_(self, name: str, size: int, members: list[tuple[str, int, int]],
                kind: int = STRUCT, kflag: bool = False) -> int:
        data = b"".join(struct.pack("<III", self.s(n), t, off) for n, t, off in members)
        return self.add(kind, name, len(members), size, data, kflag)

    def blob(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types),
                          len(self.strings))
        return hdr + bytes(self.types) + bytes(self.strings)


def sample() -> bytes:
    b = Builder()
    u32 = b.int_("unsigned int", 4)                                  # 1
    u64 = b.int_("long long unsigned int", 8)                        # 2
    t_u64 = b.add(TYPEDEF, "u64", 0, u64)                            # 3
    c_u64 = b.add(CONST, "", 0, t_u64)                               # 4
    avg = b.struct_("sched_avg", 16, [("last", u64, 0), ("load_avg", c_u64, 64)])   # 5
    arr = b.add(ARRAY, "", 0, 0, struct.pack("<III", u32, u32, 3))   # 6: u32[3]
    anon = b.struct_("", 8, [("a", u32, 0), ("b", u32, 32)], kind=UNION)            # 7
    bits = b.struct_("bits", 4, [("lo", u32, 3 << 24 | 0), ("hi", u32, 5 << 24 | 3)],
                     kflag=True)                                     # 8
    ptr = b.add(PTR, "", 0, avg)                                     # 9
    b.struct_("outer", 64, [("x", u32, 0), ("avg", avg, 64), ("", anon, 192),
                            ("v", arr, 256), ("bf", bits, 384), ("p", ptr, 448)])    # 10
    b.add(ENUM, "flags", 2, 4, struct.pack("<IiIi", b.s("F_ONE"), 1, b.s("F_NEG"), -2),
          kflag=True)                                                # signed enum
    return b.blob()


def test_nested_anonymous_typedef_array_and_enum() -> None:
    btf = Btf(sample())
    assert btf.struct_size("outer") == 64
    assert btf.member("outer", "x").offset == 0
    m = btf.member("outer", "avg.load_avg")        # nested, through const + typedef
    assert (m.offset, m.size, m.kind) == (16, 8, "int")
    assert btf.member("outer", "b").offset == 28   # inside the anonymous union
    assert btf.member("outer", "v").size == 12
    assert btf.member("outer", "p").size == 8
    assert btf.enum_value("F_ONE") == 1 and btf.enum_value("F_NEG") == -2
    assert btf.enum_value("F_MISSING") is None


def test_errors_say_where_and_why() -> None:
    btf = Btf(sample())
    with pytest.raises(BtfError, match=r"struct outer has no member 'nope'"):
        btf.member("outer", "nope")
    with pytest.raises(BtfError, match=r"struct outer.avg has no member 'zzz'"):
        btf.member("outer", "avg.zzz")
    with pytest.raises(BtfError, match=r"outer.x is a int, not a struct"):
        btf.member("outer", "x.y")
    with pytest.raises(BtfError, match=r"bitfield"):
        btf.member("outer", "bf.hi")
    with pytest.raises(BtfError, match=r"no struct 'lb_env'"):
        btf.struct_size("lb_env")
    with pytest.raises(BtfError, match="magic"):
        Btf(b"\0" * 32)
    blob = sample()
    with pytest.raises(BtfError, match="past the end|truncated|boundary"):
        Btf(blob[:40] + blob[41:])


def test_offsets_missing_member_is_an_offset_error() -> None:
    with pytest.raises(H.OffsetError, match=r"task_size: .*no struct 'task_struct'"):
        H.offsets(Btf(sample()), H.kernel_side(H.HOOK_SCHED))


def _bpftool_members(struct_name: str) -> dict[str, int]:
    """bpftool's byte offsets of a struct's direct members in the host's BTF."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", str(VMLINUX), "format", "raw"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    m = re.search(rf"^\[\d+\] STRUCT '{struct_name}' size=(\d+) vlen=(\d+)\n((?:\t.*\n)*)",
                  out, re.M)
    assert m, struct_name
    res = {"__size__": int(m.group(1))}
    for line in m.group(3).splitlines():
        mm = re.match(r"\t'(\w*)' type_id=\d+ bits_offset=(\d+)", line)
        if mm and mm.group(1):
            res[mm.group(1)] = int(mm.group(2)) // 8
    return res


@pytest.mark.skipif(not VMLINUX.exists() or shutil.which("bpftool") is None,
                    reason="needs /sys/kernel/btf/vmlinux and bpftool")
def test_host_kernel_btf_matches_bpftool() -> None:
    btf = Btf.load()
    assert len(btf) > 10_000
    for sname in ("rq", "sched_domain", "vm_fault"):
        want = _bpftool_members(sname)
        assert btf.struct_size(sname) == want.pop("__size__")
        for member, off in want.items():
            assert btf.member(sname, member).offset == off, (sname, member)
    # the hooks' offsets resolve on this kernel too (whatever its version)
    so = H.offsets(btf, H.kernel_side(H.HOOK_SCHED))
    assert so["task_size"] == btf.struct_size("task_struct")
    assert so["rq_cfs_load_avg"] == (btf.member("rq", "cfs").offset
                                     + btf.member("cfs_rq", "avg").offset
                                     + btf.member("sched_avg", "load_avg").offset)
    for hook in (H.HOOK_SCHED, H.HOOK_SWAP):
        p = H.attach_payload(hook, 1, 0, btf)
        assert len(p.buf) == H.ATTACH_SIZE and len(p.offsets) == H.kernel_side(hook).size


def test_payload_layouts_match_the_c_header(tmp_path: Path) -> None:
    """Every probed hook's payload as the module compiles it (the rmt.ko part of core/rmt_hooks.h,
    generated) against the Python packing: each field's offset and width, the struct size;
    and the attach and stats structs of uapi/rmt_hooks.h."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc")
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "l.c"
    want: list[str] = []
    lines: list[str] = []
    for h in kgen.probed():
        k, st = h.kernel, f"struct rmt_{h.kernel.offsets}_offsets"
        for i, n in enumerate(k.u32_fields):
            lines.append(f'printf("%zu %zu\\n", offsetof({st}, {n}), sizeof((({st} *)0)->{n}));')
            want.append(f"{4 * i} 4")
        base = 4 * len(k.u32_fields)
        for i, n in enumerate(k.u64_fields):
            lines.append(f'printf("%zu %zu\\n", offsetof({st}, {n}), sizeof((({st} *)0)->{n}));')
            want.append(f"{base + 8 * i} 8")
        lines.append(f'printf("%zu\\n", sizeof({st}));')
        want.append(str(k.size))
        payload = H.pack_offsets(k, {n: 0 for n in k.u32_fields + k.u64_fields})
        assert len(payload) == k.size
    lines.append('printf("%zu %zu %zu\\n", sizeof(struct rmt_hook_attach), '
                 "sizeof(struct rmt_hook_stats), offsetof(struct rmt_hook_stats, hits));")
    want.append(f"{H.ATTACH_SIZE} {H.STATS_SIZE} 16")
    src.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "uapi/rmt_hooks.h"\n#define RMT_KMOD_HOOKS\n#include "rmt_hooks.h"\n'
                   "int main(void) {\n" + "\n".join(lines) + "\nreturn 0; }\n")
    exe = tmp_path / "l"
    subprocess.run(["gcc", "-I", str(root / "vm_kernel"), "-I", str(root / "vm_kernel" / "core"),
                    "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == want
    # the ioctl numbers: _IOWR/_IOW of those sizes
    assert H.IOC_HOOK_ATTACH >> 16 & 0x3FFF == H.ATTACH_SIZE
    assert H.IOC_HOOK_STATS >> 16 & 0x3FFF == H.STATS_SIZE
