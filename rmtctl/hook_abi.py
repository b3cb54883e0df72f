"""The hook ioctl payloads of rmt.ko (vm_kernel/uapi/rmt_hooks.h), packed from BTF offsets.

rmtctl's kernel target calls ``attach_payload()`` to attach a loaded program to its hook:
the offsets of every kernel struct member the hook reads come from the running kernel's BTF
(rmtctl/btf.py), never from a table per kernel build, and which members and values a hook
needs is its spec's KernelSide (contract/hooks.py), from which the module's C payload struct
and checks are generated (the rmt.ko part of core/rmt_hooks.h). ``parse_stats()`` reads the hook's
counters back. tests/test_btf.py and tests/test_contract_mirrors.py compile the headers and
compare sizes and offsets.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from pathlib import Path

from rmt.contract.hooks import HOOK_BY_ID, HOOKS, KConst, KernelSide
from rmt.ctl.btf import Btf, BtfError

ABI_VERSION = 2
OFF_NONE = 0xFFFFFFFF
ERR_LEN = 128

HOOK_SCHED = HOOKS["sched.can_migrate_task"].id
HOOK_SWAP = HOOKS["mm.swap_fault"].id

F_SHADOW = 0x1
F_EMPTY = 0x2
S_REGISTERED, S_SHADOW, S_EMPTY = 0x1, 0x2, 0x4

# ioctl numbers: _IOWR/_IOW(0xE7, nr, struct) with the sizes below.
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (0xE7 << 8) | nr


ATTACH_FMT = "<4IQII"    # abi, hook_id, prog_id, flags, offsets (pointer), offsets_len, pad
ATTACH_SIZE = struct.calcsize(ATTACH_FMT) + ERR_LEN
DETACH_SIZE = 8

STATS_COUNTERS = ("hits", "nmissed", "runs", "no_prog", "ctx_errors", "aborts", "defaults",
                  "overrides", "hard_wins", "same", "shadow_agree", "shadow_disagree",
                  "kernel_yes", "kernel_no", "hard_veto", "ns_total", "hist_busy", "ns_vm")
STATS_RESERVED = 6      # struct rmt_hook_stats: __u64 reserved[6] after the counters
STATS_FMT = "<4I" + "Q" * (len(STATS_COUNTERS) + STATS_RESERVED)
STATS_SIZE = struct.calcsize(STATS_FMT)

IOC_HOOK_ATTACH = _ioc(_IOC_READ | _IOC_WRITE, 0x40, ATTACH_SIZE)
IOC_HOOK_DETACH = _ioc(_IOC_WRITE, 0x41, DETACH_SIZE)
IOC_HOOK_STATS = _ioc(_IOC_READ | _IOC_WRITE, 0x42, STATS_SIZE)


class OffsetError(ValueError):
    """The kernel's BTF lacks a member a hook needs, or has it with an unexpected width."""


def kernel_side(hook_id: int) -> KernelSide:
    spec = HOOK_BY_ID.get(hook_id)
    if spec is None or spec.kernel is None:
        probed = ", ".join(f"{h.id} {h.name}" for h in HOOK_BY_ID.values() if h.kernel)
        raise OffsetError(f"hook {hook_id} has no kernel probe ({probed})")
    return spec.kernel


def kallsyms_addr(symbol: str, path: Path | str = "/proc/kallsyms") -> int:
    """A data symbol's address from /proc/kallsyms (0 when absent or hidden: kptr_restrict)."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == symbol:
                    return int(parts[0], 16)
    except OSError:
        pass
    return 0


def _const(btf: Btf, c: KConst) -> int:
    if c.source == "btf-enum":
        v = btf.enum_value(c.name)
        return c.default if v is None else v
    if c.source == "ksym":
        return kallsyms_addr(c.name)
    if c.source == "file":
        try:
            return int(Path(c.name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return c.default
    return c.default


def offsets(btf: Btf, k: KernelSide, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Every value of the hook's attach payload (struct rmt_<offsets>_offsets), by field name:
    struct sizes and member offsets from ``btf``, values from their sources (``overrides``
    wins, for tests)."""
    out: dict[str, int] = {}
    for s in k.structs:
        try:
            out[f"{s.label}_size"] = btf.struct_size(s.name)
        except BtfError as e:
            if not s.optional:
                raise OffsetError(f"{s.label}_size: {e}") from e
            out[f"{s.label}_size"] = 0
    for m in k.members:
        sname = k.struct(m.struct).name
        try:
            mem = btf.member(sname, m.path)
        except BtfError as e:
            if m.optional:
                out[m.field] = OFF_NONE
                continue
            raise OffsetError(f"{m.field}: {e}") from e
        if m.width is not None and mem.size != m.width:
            raise OffsetError(f"{m.field}: struct {sname}.{m.path} is {mem.size} bytes, the "
                              f"hook reads {m.width}")
        out[m.field] = mem.offset
    for c in k.consts:
        out[c.field] = _const(btf, c)
    if "pad0" in k.u32_fields:
        out["pad0"] = 0
    out.update(overrides or {})
    return out


def pack_offsets(k: KernelSide, values: dict[str, int]) -> bytes:
    """The payload's bytes, laid out as the rmt.ko part of core/rmt_hooks.h (generated from the spec)."""
    fmt = "<" + "I" * len(k.u32_fields) + "Q" * len(k.u64_fields)
    return struct.pack(fmt, *(values[f] for f in k.u32_fields + k.u64_fields))


@dataclass
class AttachPayload:
    """The RMT_IOC_HOOK_ATTACH buffer and the payload it points to (kept alive with it)."""
    buf: bytearray
    offsets: ctypes.Array


def attach_payload(hook_id: int, prog_id: int, flags: int = 0, btf: Btf | None = None,
                   btf_path: Path | str | None = None,
                   overrides: dict[str, int] | None = None) -> AttachPayload:
    """The RMT_IOC_HOOK_ATTACH argument for ``hook_id``; BTF from ``btf`` or the running kernel."""
    k = kernel_side(hook_id)
    if btf is None:
        btf = Btf.load(btf_path) if btf_path else Btf.load()
    raw = pack_offsets(k, offsets(btf, k, overrides))
    off = ctypes.create_string_buffer(raw, len(raw))
    buf = bytearray(struct.pack(ATTACH_FMT, ABI_VERSION, hook_id, prog_id, flags,
                                ctypes.addressof(off), len(raw), 0))
    buf += bytes(ERR_LEN)
    assert len(buf) == ATTACH_SIZE
    return AttachPayload(buf, off)


def attach_error(buf: bytes | bytearray) -> str:
    """The module's message in a failed attach's buffer."""
    err = bytes(buf[struct.calcsize(ATTACH_FMT):])
    return err.split(b"\0", 1)[0].decode("utf-8", "replace")


def detach_payload(hook_id: int) -> bytearray:
    return bytearray(struct.pack("<2I", ABI_VERSION, hook_id))


def stats_payload(hook_id: int) -> bytearray:
    buf = bytearray(STATS_SIZE)
    struct.pack_into("<2I", buf, 0, ABI_VERSION, hook_id)
    return buf


@dataclass(frozen=True)
class HookStats:
    """RMT_IOC_HOOK_STATS, decoded (see struct rmt_hook_stats for each counter's meaning)."""
    hook_id: int
    prog_id: int
    state: int
    counters: dict[str, int]

    @property
    def registered(self) -> bool:
        return bool(self.state & S_REGISTERED)

    @property
    def shadow(self) -> bool:
        return bool(self.state & S_SHADOW)

    def __getattr__(self, name: str) -> int:
        try:
            return self.__dict__["counters"][name]
        except KeyError:
            raise AttributeError(name) from None

    def to_json(self) -> dict:
        return {"hook_id": self.hook_id, "prog_id": self.prog_id, "registered": self.registered,
                "shadow": self.shadow, "empty": bool(self.state & S_EMPTY), **self.counters}


def parse_stats(buf: bytes | bytearray) -> HookStats:
    vals = struct.unpack(STATS_FMT, bytes(buf))
    _abi, hook_id, prog_id, state = vals[:4]
    return HookStats(hook_id, prog_id, state, dict(zip(STATS_COUNTERS, vals[4:])))


# ---------------------------------------------------------------------- ioctls on /dev/rmt
# ``dev`` is anything with an open ``fd`` on /dev/rmt (rmtctl.kernel.RmtDevice).

def _ioctl(dev, cmd: int, buf: bytearray, what: str) -> None:
    import fcntl
    import os

    from rmt.contract.engine import EngineError
    try:
        fcntl.ioctl(dev.fd, cmd, buf, True)
    except OSError as e:
        msg = attach_error(buf) if cmd == IOC_HOOK_ATTACH else ""
        raise EngineError(e.errno, f"{what}: {msg or os.strerror(e.errno)}") from None


def attach(dev, hook_id: int, prog_id: int, flags: int = 0, btf: Btf | None = None) -> None:
    """Attach program ``prog_id`` to hook ``hook_id`` (replacing any attached program).

    Raises EngineError: EINVAL when the BTF lacks a member the hook needs (or cannot be read),
    or the module's errno and message when it refuses."""
    import errno

    from rmt.contract.engine import EngineError
    what = f"attach program {prog_id} to hook {hook_id}"
    try:
        p = attach_payload(hook_id, prog_id, flags, btf)
    except (OffsetError, BtfError) as e:
        raise EngineError(errno.EINVAL, f"{what}: {e}") from None
    _ioctl(dev, IOC_HOOK_ATTACH, p.buf, what)


def detach(dev, hook_id: int) -> None:
    """Unregister the hook's probe (returns after every running handler has finished)."""
    _ioctl(dev, IOC_HOOK_DETACH, detach_payload(hook_id), f"detach hook {hook_id}")


def stats(dev, hook_id: int) -> HookStats:
    buf = stats_payload(hook_id)
    _ioctl(dev, IOC_HOOK_STATS, buf, f"stats of hook {hook_id}")
    return parse_stats(buf)
