"""The hook ioctl payloads of rmt.ko (vm_kernel/uapi/rmt_hooks.h), packed from BTF offsets.

rmtctl's kernel target calls ``attach_payload()`` to attach a loaded program to its hook:
the offsets of every kernel struct member the hook reads come from the running kernel's BTF
(rmtctl/btf.py), never from a table per kernel build. ``parse_stats()`` reads the hook's
counters back. The layouts here mirror the C header field for field; tests/test_hook_abi.py
compiles the header and compares sizes and offsets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from rmt.contract.hooks import HOOKS
from rmt.ctl.btf import Btf, BtfError

ABI_VERSION = 1
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


# uapi field -> (struct, member path, width in bytes); None: a struct size.
# Order = the C struct's order.
SCHED_FIELDS: list[tuple[str, str, str | None, int | None]] = [
    ("task_size", "task_struct", None, None),
    ("lb_env_size", "lb_env", None, None),
    ("rq_size", "rq", None, None),
    ("sd_size", "sched_domain", None, None),
    ("cfs_rq_size", "cfs_rq", None, None),
    ("tg_size", "task_group", None, None),
    ("task_pid", "task_struct", "pid", 4),
    ("task_flags", "task_struct", "flags", 4),
    ("task_on_cpu", "task_struct", "on_cpu", 4),
    ("task_policy", "task_struct", "policy", 4),
    ("task_nr_cpus_allowed", "task_struct", "nr_cpus_allowed", 4),
    ("task_cpus_ptr", "task_struct", "cpus_ptr", 8),
    ("task_se_exec_start", "task_struct", "se.exec_start", 8),
    ("task_se_cfs_rq", "task_struct", "se.cfs_rq", 8),
    ("task_se", "task_struct", "se", None),
    ("task_sched_task_group", "task_struct", "sched_task_group", 8),
    ("task_numa_preferred_nid", "task_struct", "numa_preferred_nid", 4),
    ("task_numa_faults", "task_struct", "numa_faults", 8),
    ("task_total_numa_faults", "task_struct", "total_numa_faults", 8),
    ("env_sd", "lb_env", "sd", 8),
    ("env_src_rq", "lb_env", "src_rq", 8),
    ("env_src_cpu", "lb_env", "src_cpu", 4),
    ("env_dst_cpu", "lb_env", "dst_cpu", 4),
    ("env_dst_rq", "lb_env", "dst_rq", 8),
    ("env_idle", "lb_env", "idle", 4),
    ("env_flags", "lb_env", "flags", 4),
    ("sd_nr_balance_failed", "sched_domain", "nr_balance_failed", 4),
    ("sd_cache_nice_tries", "sched_domain", "cache_nice_tries", 4),
    ("sd_flags", "sched_domain", "flags", 4),
    ("sd_level", "sched_domain", "level", 4),
    ("rq_nr_running", "rq", "nr_running", 4),
    ("rq_clock_task", "rq", "clock_task", 8),
    ("rq_cfs_load_avg", "rq", "cfs.avg.load_avg", 8),
    ("rq_nr_numa_running", "rq", "nr_numa_running", 4),
    ("rq_nr_preferred_running", "rq", "nr_preferred_running", 4),
    ("cfs_rq_next", "cfs_rq", "next", 8),
    ("cfs_rq_last", "cfs_rq", "last", 8),
    ("cfs_rq_throttle_count", "cfs_rq", "throttle_count", 4),
    ("tg_cfs_rq", "task_group", "cfs_rq", 8),
]
# Optional members: absent in some configurations; the hook then reads the feature as 0.
SCHED_OPTIONAL = {"task_numa_preferred_nid", "task_numa_faults", "task_total_numa_faults",
                  "rq_nr_numa_running", "rq_nr_preferred_running", "cfs_rq_throttle_count",
                  "task_sched_task_group", "tg_cfs_rq", "cfs_rq_last", "cfs_rq_next"}
# Constants: (uapi field, BTF enumerator or None, Linux 6.1's value). LBF_* and PF_* are
# #defines, which BTF does not carry.
SCHED_CONSTS: list[tuple[str, str | None, int]] = [
    ("sd_share_cpucapacity", "SD_SHARE_CPUCAPACITY", 0x80),
    ("lbf_active_lb", None, 0x10),
    ("pf_kthread", None, 0x00200000),
    ("sched_idle_policy", None, 5),
    ("pad0", None, 0),
]
SWAP_FIELDS: list[tuple[str, str, str | None, int | None]] = [
    ("vmf_size", "vm_fault", None, None),
    ("vma_size", "vm_area_struct", None, None),
    ("task_size", "task_struct", None, None),
    ("vmf_address", "vm_fault", "address", 8),
    ("vmf_vma", "vm_fault", "vma", 8),
    ("vma_swap_readahead_info", "vm_area_struct", "swap_readahead_info", 8),
    ("task_pid", "task_struct", "pid", 4),
]

SCHED_FMT = "<" + "I" * (len(SCHED_FIELDS) + len(SCHED_CONSTS)) + "QQ"
SWAP_FMT = "<8I"
ATTACH_FMT = "<4I"        # abi, hook_id, prog_id, flags; then sched, swap, err
SCHED_SIZE = struct.calcsize(SCHED_FMT)
SWAP_SIZE = struct.calcsize(SWAP_FMT)
ATTACH_SIZE = 16 + SCHED_SIZE + SWAP_SIZE + ERR_LEN
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


def _resolve(btf: Btf, fields, optional: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, sname, path, width in fields:
        try:
            if path is None:
                out[name] = btf.struct_size(sname)
                continue
            m = btf.member(sname, path)
        except BtfError as e:
            if name in optional:
                out[name] = OFF_NONE
                continue
            raise OffsetError(f"{name}: {e}") from e
        if width is not None and m.size != width:
            raise OffsetError(f"{name}: struct {sname}.{path} is {m.size} bytes, the hook "
                              f"reads {width}")
        out[name] = m.offset
    return out


def sched_offsets(btf: Btf, migration_cost_addr: int = 0,
                  migration_cost_ns: int = 500_000) -> dict[str, int]:
    """Every value of struct rmt_sched_offsets, by field name."""
    out = _resolve(btf, SCHED_FIELDS, SCHED_OPTIONAL)
    for name, enumerator, default in SCHED_CONSTS:
        v = btf.enum_value(enumerator) if enumerator else None
        out[name] = default if v is None else v
    out["migration_cost_addr"] = migration_cost_addr
    out["migration_cost_ns"] = migration_cost_ns
    return out


def page_cluster_window() -> int:
    """The kernel's largest VMA readahead window: 1 << min(vm.page-cluster, 5) (0: unknown)."""
    try:
        return 1 << min(int(Path("/proc/sys/vm/page-cluster").read_text()), 5)
    except (OSError, ValueError):
        return 0


def swap_offsets(btf: Btf, max_window: int = 0) -> dict[str, int]:
    """Every value of struct rmt_swap_offsets, by field name."""
    out = _resolve(btf, SWAP_FIELDS, set())
    out["max_window"] = max_window
    return out


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


def migration_cost() -> tuple[int, int]:
    """(address of sysctl_sched_migration_cost or 0, its value from debugfs or 500 us)."""
    value = 500_000
    try:
        value = int(Path("/sys/kernel/debug/sched/migration_cost_ns").read_text())
    except (OSError, ValueError):
        pass
    return kallsyms_addr("sysctl_sched_migration_cost"), value


def pack_sched(values: dict[str, int]) -> bytes:
    names = [f[0] for f in SCHED_FIELDS] + [c[0] for c in SCHED_CONSTS]
    return struct.pack(SCHED_FMT, *(values[n] for n in names),
                       values["migration_cost_addr"], values["migration_cost_ns"])


def pack_swap(values: dict[str, int]) -> bytes:
    return struct.pack(SWAP_FMT, *(values[f[0]] for f in SWAP_FIELDS), values["max_window"])


def attach_payload(hook_id: int, prog_id: int, flags: int = 0, btf: Btf | None = None,
                   btf_path: Path | str | None = None) -> bytearray:
    """The RMT_IOC_HOOK_ATTACH buffer for ``hook_id``; BTF from ``btf`` or the running kernel.

    Only the offsets of the hook being attached are resolved (the other block is zero)."""
    if btf is None:
        btf = Btf.load(btf_path) if btf_path else Btf.load()
    sched = bytes(SCHED_SIZE)
    swap = bytes(SWAP_SIZE)
    if hook_id == HOOK_SCHED:
        addr, value = migration_cost()
        sched = pack_sched(sched_offsets(btf, addr, value))
    elif hook_id == HOOK_SWAP:
        swap = pack_swap(swap_offsets(btf, page_cluster_window()))
    else:
        raise OffsetError(f"hook {hook_id} has no kernel probe (1 sched, 2 swap)")
    buf = bytearray(struct.pack(ATTACH_FMT, ABI_VERSION, hook_id, prog_id, flags))
    buf += sched + swap + bytes(ERR_LEN)
    assert len(buf) == ATTACH_SIZE
    return buf


def attach_error(buf: bytes | bytearray) -> str:
    """The module's message in a failed attach's buffer."""
    err = bytes(buf[16 + SCHED_SIZE + SWAP_SIZE:])
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
        buf = attach_payload(hook_id, prog_id, flags, btf)
    except (OffsetError, BtfError) as e:
        raise EngineError(errno.EINVAL, f"{what}: {e}") from None
    _ioctl(dev, IOC_HOOK_ATTACH, buf, what)


def detach(dev, hook_id: int) -> None:
    """Unregister the hook's probe (returns after every running handler has finished)."""
    _ioctl(dev, IOC_HOOK_DETACH, detach_payload(hook_id), f"detach hook {hook_id}")


def stats(dev, hook_id: int) -> HookStats:
    buf = stats_payload(hook_id)
    _ioctl(dev, IOC_HOOK_STATS, buf, f"stats of hook {hook_id}")
    return parse_stats(buf)
