"""Hook specs: the one definition of every decision point RMT attaches to.

A hook spec lists the context fields a program sees (name, width, signedness,
declared value range, read/write permission, whether the value may leave the
kernel through trace()), the decisions it may return, and its cost budget.
The compiler, the verifier, the reference semantics and (through the generated
header vm_kernel/core/rmt_hooks.h) the C validator all read it from here.

Context layout: fields in declaration order, each aligned to its element
size; the struct size is rounded up to 8.  DEFAULT (-1) is always a valid
decision: it means "use the kernel's own heuristic" and is also what an
aborted program returns.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property

from rmt.contract.ints import IntT

DEFAULT_DECISION = -1
# Decision counters per program: DEFAULT and every allowed value (an out-of-range decision is
# counted apart, as bad_decisions, and becomes DEFAULT); vm_kernel/core/rmt_vm.h
# RMT_MAX_DECISIONS, compared by tests/test_contract_mirrors.py.
MAX_DECISIONS = 258

# The observable channel a hook may declare exportable (HookSpec.exports).
DECISIONS = "decisions"


class Access(enum.Enum):
    NONE = "none"    # in the context for the kernel's use; programs may not touch it
    READ = "r"
    READ_WRITE = "rw"


IntType = IntT        # context fields use the language's integer types

U8, U16, U32, U64 = (IntType(b, False) for b in (8, 16, 32, 64))
I8, I16, I32, I64 = (IntType(b, True) for b in (8, 16, 32, 64))
INT_TYPES = {t.name: t for t in (U8, U16, U32, U64, I8, I16, I32, I64)}


@dataclass(frozen=True)
class CtxField:
    name: str
    type: IntType
    lo: int                      # declared range, inclusive, per element
    hi: int
    access: Access = Access.READ
    export: bool = True          # may be passed to trace()
    count: int = 1               # > 1: a fixed-size array
    doc: str = ""

    @property
    def size(self) -> int:
        return self.type.size * self.count


@dataclass(frozen=True)
class Decision:
    """Allowed decisions besides DEFAULT: named values and/or a numeric range."""
    names: dict[str, int]
    lo: int
    hi: int
    doc: str

    def allowed(self, v: int) -> bool:
        return v == DEFAULT_DECISION or self.lo <= v <= self.hi


@dataclass(frozen=True)
class KStruct:
    """A kernel struct a hook's probe reads, its BTF size sent at attach as `<label>_size`.

    public: the struct is in a header rmt.ko includes, so the module checks its size and every
    member's offset against its own sizeof/offsetof (a mismatch: BTF of another kernel);
    otherwise the size must be 1..max_size (0..max_size when optional: absent in some
    configurations)."""
    label: str
    name: str
    public: bool = False
    max_size: int = 64 << 10
    optional: bool = False


@dataclass(frozen=True)
class KMember:
    """A member the probe reads, its BTF byte offset sent at attach as `field`.

    path: the member, nested with dots (`se.exec_start`), resolved to one offset;
    width: bytes read (checked against BTF; None: an embedded struct only its offset is used);
    optional: absent in some configurations (offset RMT_OFF_NONE; the feature reads as 0);
    config: the CONFIG_ option the member exists under (guards the module's offsetof check)."""
    field: str
    struct: str                  # a KStruct label
    path: str
    width: int | None
    optional: bool = False
    config: str | None = None


@dataclass(frozen=True)
class KConst:
    """A value sent at attach that is not an offset: `btf-enum` (the kernel's enumerator, else
    default), `fixed` (default; #defines BTF does not carry), `ksym` (a data symbol's address
    from /proc/kallsyms, else 0), `file` (an integer read from the path, else default).
    check: a C expression the module requires to equal the value (its own #define), or None.
    wide: __u64 (else __u32)."""
    field: str
    source: str
    default: int = 0
    name: str = ""               # enumerator, symbol or path
    check: str | None = None
    wide: bool = False


@dataclass(frozen=True)
class KernelSide:
    """What rmt.ko needs to probe a hook: the kernel functions it probes and the struct members
    and values it reads there.  The attach ioctl carries them as one payload (pointer and
    length); contract/kgen.py generates its C struct `struct rmt_<offsets>_offsets` and the
    module's checks of it into the rmt.ko part of vm_kernel/core/rmt_hooks.h; rmtctl packs it
    from BTF (rmtctl/hook_abi.py).  A new hook adds a spec here, one probe file in
    vm_kernel/kmod/ (rmt_kmod_hook_<offsets>.c, defining `struct rmt_hook
    rmt_hook_<offsets>`) and one simulator adapter."""
    offsets: str                 # C name: struct rmt_<offsets>_offsets, rmt_hook_<offsets>
    probes: tuple[str, ...]
    structs: tuple[KStruct, ...]
    members: tuple[KMember, ...]
    consts: tuple[KConst, ...] = ()

    def __post_init__(self) -> None:
        names = self.u32_fields + self.u64_fields
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"hook payload {self.offsets!r}: field names used twice: {dup} "
                             f"(a struct's size is <label>_size)")
        labels = {st.label for st in self.structs}
        bad = [m.field for m in self.members if m.struct not in labels]
        if bad:
            raise ValueError(f"hook payload {self.offsets!r}: members of no listed struct: {bad}")
        bad = [m.field for m in self.members if self.struct(m.struct).optional and not m.optional]
        if bad:
            raise ValueError(f"hook payload {self.offsets!r}: members of an optional struct "
                             f"must be optional: {bad}")
        bad = [c.field for c in self.consts if c.wide and c.check]
        if bad:
            raise ValueError(f"hook payload {self.offsets!r}: a 64-bit value cannot be checked "
                             f"against a #define (the check compares 32 bits): {bad}")

    def struct(self, label: str) -> KStruct:
        return next(s for s in self.structs if s.label == label)

    @property
    def u32_fields(self) -> list[str]:
        """The payload's __u32 fields in order: struct sizes, member offsets, narrow values
        (and `pad0` when their count is odd and wide values follow)."""
        out = [f"{s.label}_size" for s in self.structs] + [m.field for m in self.members]
        out += [c.field for c in self.consts if not c.wide]
        if len(out) % 2 and any(c.wide for c in self.consts):
            out.append("pad0")
        return out

    @property
    def u64_fields(self) -> list[str]:
        return [c.field for c in self.consts if c.wide]

    @property
    def size(self) -> int:
        return 4 * len(self.u32_fields) + 8 * len(self.u64_fields)


@dataclass(frozen=True)
class HookSpec:
    name: str
    id: int
    doc: str
    fields: tuple[CtxField, ...]
    decision: Decision
    budget: int                  # worst-case cost units (see compiler/cost.py)
    helpers: tuple[str, ...] = ("ktime_ns", "cpu", "random", "ilog2")
    # Observable channels (docs/verifier.md, "Export taint") this hook declares exportable
    # even when they depend on fields with export=False: DECISIONS is the per-value
    # decision counters of `rmtctl stats`, with the shadow agreement, bad-decision and
    # abort counters (an aborted run is a DEFAULT decision).
    exports: frozenset[str] = frozenset()
    kernel: KernelSide | None = None     # None: no probe in rmt.ko (sim-only, tests)

    @cached_property
    def layout(self) -> dict[str, int]:
        """Field name -> byte offset in the context struct."""
        off, out = 0, {}
        for f in self.fields:
            a = f.type.size
            off = (off + a - 1) // a * a
            out[f.name] = off
            off += f.size
        return out

    @cached_property
    def ctx_size(self) -> int:
        if not self.fields:
            return 0
        last = self.fields[-1]
        end = self.layout[last.name] + last.size
        return (end + 7) // 8 * 8

    def field(self, name: str) -> CtxField | None:
        return next((f for f in self.fields if f.name == name), None)

    def __post_init__(self) -> None:
        n = self.decision.hi - self.decision.lo + 2
        if n > MAX_DECISIONS:
            raise ValueError(f"hook {self.name}: decisions {self.decision.lo}..{self.decision.hi} "
                             f"need {n} counters, the VM keeps {MAX_DECISIONS}")


def _f(name, t, lo=None, hi=None, access=Access.READ, export=True, count=1, doc=""):
    return CtxField(name, t, t.min if lo is None else lo, t.max if hi is None else hi,
                    access, export, count, doc)


RW = Access.READ_WRITE
NS_1S = 1_000_000_000

SCHED_CAN_MIGRATE_TASK = HookSpec(
    name="sched.can_migrate_task",
    id=1,
    doc="CFS load balancing asks whether task p may move from src_cpu to dst_cpu "
        "(kernel/sched/fair.c, Linux 6.1).  Runs at the kretprobe's return: hard "
        "constraints (throttled pair, per-CPU kthread, affinity, running task) always "
        "win; the program decides only the soft part (cache-hot / NUMA / balance-failed).",
    fields=(
        _f("pid", U32, 0, 4194304, export=False, doc="task pid; identifies a process, stays in the kernel"),
        _f("src_cpu", U16, 0, 4095), _f("dst_cpu", U16, 0, 4095),
        _f("idle", U8, 0, 2, doc="env->idle: 0 CPU_IDLE, 1 CPU_NOT_IDLE, 2 CPU_NEWLY_IDLE"),
        _f("sd_level", U8, 0, 3, doc="domain level: 0 SMT, 1 MC, 2 NUMA, 3 higher NUMA"),
        _f("same_node", U8, 0, 1, doc="src and dst CPUs on the same NUMA node"),
        _f("prefer_src", U8, 0, 1, doc="task's preferred NUMA node is the source's"),
        _f("prefer_dst", U8, 0, 1, doc="task's preferred NUMA node is the destination's"),
        _f("src_non_pref", U8, 0, 1, doc="source runs tasks not on their preferred node"),
        _f("buddy_hot", U8, 0, 1, doc="task is the rq's next/last buddy and dst has tasks (task_hot's buddy test)"),
        _f("hard_veto", U8, 0, 1, doc="a hard constraint forbids the move; the program cannot override"),
        _f("kernel_verdict", U8, 0, 1, doc="the kernel's own can_migrate_task result"),
        _f("task_hot", U8, 0, 1, doc="task_hot()/migrate_degrades_locality() said cache-hot"),
        _f("src_nr_running", U32, 0, 65536), _f("dst_nr_running", U32, 0, 65536),
        _f("nr_balance_failed", U32, 0, 1024),
        _f("cache_nice_tries", U32, 0, 8),
        _f("lb_flags", U32, doc="env->flags (LBF_*)"),
        _f("numa_faults_src", U32), _f("numa_faults_dst", U32), _f("numa_faults_total", U32),
        _f("exec_age_ns", U64, 0, 1 << 40, doc="rq clock_task - p->se.exec_start"),
        _f("migration_cost_ns", U64, 0, NS_1S, doc="sysctl_sched_migration_cost"),
        _f("src_load", U64, 0, 1 << 32, doc="source cfs_rq load_avg"),
        _f("dst_load", U64, 0, 1 << 32, doc="destination cfs_rq load_avg"),
    ),
    decision=Decision({"DENY": 0, "ALLOW": 1}, 0, 1, "0 keep the task, 1 migrate it"),
    budget=4000,
    # whether a task migrates is visible to userspace anyway (/proc/PID/stat's processor)
    kernel=KernelSide(
        offsets="sched",
        probes=("can_migrate_task",),
        structs=(KStruct("task", "task_struct", public=True), KStruct("lb_env", "lb_env", max_size=256),
                 KStruct("rq", "rq"), KStruct("sd", "sched_domain", public=True),
                 KStruct("cfs_rq", "cfs_rq", optional=True), KStruct("tg", "task_group", optional=True)),
        members=(
            KMember("task_pid", "task", "pid", 4),
            KMember("task_flags", "task", "flags", 4),
            KMember("task_on_cpu", "task", "on_cpu", 4),
            KMember("task_policy", "task", "policy", 4),
            KMember("task_nr_cpus_allowed", "task", "nr_cpus_allowed", 4),
            KMember("task_cpus_ptr", "task", "cpus_ptr", 8),
            KMember("task_se_exec_start", "task", "se.exec_start", 8),
            KMember("task_se_cfs_rq", "task", "se.cfs_rq", 8, config="CONFIG_FAIR_GROUP_SCHED"),
            KMember("task_se", "task", "se", None),
            KMember("task_sched_task_group", "task", "sched_task_group", 8, optional=True,
                    config="CONFIG_CGROUP_SCHED"),
            KMember("task_numa_preferred_nid", "task", "numa_preferred_nid", 4, optional=True,
                    config="CONFIG_NUMA_BALANCING"),
            KMember("task_numa_faults", "task", "numa_faults", 8, optional=True,
                    config="CONFIG_NUMA_BALANCING"),
            KMember("task_total_numa_faults", "task", "total_numa_faults", 8, optional=True,
                    config="CONFIG_NUMA_BALANCING"),
            KMember("env_sd", "lb_env", "sd", 8),
            KMember("env_src_rq", "lb_env", "src_rq", 8),
            KMember("env_src_cpu", "lb_env", "src_cpu", 4),
            KMember("env_dst_cpu", "lb_env", "dst_cpu", 4),
            KMember("env_dst_rq", "lb_env", "dst_rq", 8),
            KMember("env_idle", "lb_env", "idle", 4),
            KMember("env_flags", "lb_env", "flags", 4),
            KMember("sd_nr_balance_failed", "sd", "nr_balance_failed", 4),
            KMember("sd_cache_nice_tries", "sd", "cache_nice_tries", 4),
            KMember("sd_flags", "sd", "flags", 4),
            KMember("sd_level", "sd", "level", 4),
            KMember("rq_nr_running", "rq", "nr_running", 4),
            KMember("rq_clock_task", "rq", "clock_task", 8),
            KMember("rq_cfs_load_avg", "rq", "cfs.avg.load_avg", 8),
            KMember("rq_nr_numa_running", "rq", "nr_numa_running", 4, optional=True),
            KMember("rq_nr_preferred_running", "rq", "nr_preferred_running", 4, optional=True),
            KMember("cfs_rq_next", "cfs_rq", "next", 8, optional=True),
            KMember("cfs_rq_last", "cfs_rq", "last", 8, optional=True),
            KMember("cfs_rq_throttle_count", "cfs_rq", "throttle_count", 4, optional=True),
            KMember("tg_cfs_rq", "tg", "cfs_rq", 8, optional=True),
        ),
        consts=(
            KConst("sd_share_cpucapacity", "btf-enum", 0x80, "SD_SHARE_CPUCAPACITY",
                   check="SD_SHARE_CPUCAPACITY"),
            KConst("pf_kthread", "fixed", 0x00200000, check="PF_KTHREAD"),
            KConst("sched_idle_policy", "fixed", 5, check="SCHED_IDLE"),
            # read at each hit with copy_from_kernel_nofault(), so a change through
            # /sys/kernel/debug/sched/migration_cost_ns shows; 0: use migration_cost_ns
            KConst("migration_cost_addr", "ksym", 0, "sysctl_sched_migration_cost", wide=True),
            KConst("migration_cost_ns", "file", 500_000,
                   "/sys/kernel/debug/sched/migration_cost_ns", wide=True),
        ),
    ),
    exports=frozenset({DECISIONS}),
)

SWAP_HIST = 8
SWAP_PF_MAX = 16

MM_SWAP_FAULT = HookSpec(
    name="mm.swap_fault",
    id=2,
    doc="A swap-in fault: the program picks the pages to read ahead, as page deltas "
        "relative to the faulting page written to pf[0..n) with n as the decision. "
        "The simulator and rmt.ko honour the exact set: rmt.ko reads those pages into "
        "the swap cache from a worker (module parameter swap_prefetch=auto, the "
        "default); with swap_prefetch=window only the window size and the direction "
        "of pf[0] take effect (docs/kernel-hooks.md).",
    fields=(
        _f("pid", U32, 0, 4194304, export=False, doc="faulting task"),
        _f("hist_len", U8, 0, SWAP_HIST, doc="valid entries in hist"),
        _f("cgroup_id", U64, doc="memory cgroup of the task"),
        _f("addr", U64, 0, (1 << 47) - 1, export=False,
           doc="faulting virtual address; would leak the address-space layout"),
        _f("page", U64, 0, (1 << 35) - 1, export=False, doc="addr >> 12"),
        _f("hist", I64, -(1 << 35), 1 << 35, count=SWAP_HIST,
           doc="page deltas of this task's last faults, hist[0] the latest"),
        _f("ra_hits", U32, 0, 1 << 16, doc="readahead pages used since the last fault"),
        _f("prev_window", U32, 0, 64,
           doc="the previous readahead window in pages, the faulting page included (as Linux "
               "counts it)"),
        _f("pf", I32, -(1 << 20), 1 << 20, access=RW, count=SWAP_PF_MAX,
           doc="out: page deltas to prefetch"),
    ),
    decision=Decision({"NONE": 0}, 0, SWAP_PF_MAX, "number of pf entries to prefetch"),
    budget=6000,
    # the readahead window is visible anyway (page-cache residency, major fault counts)
    kernel=KernelSide(
        offsets="swap",
        probes=("do_swap_page",),
        structs=(KStruct("vmf", "vm_fault", public=True), KStruct("vma", "vm_area_struct", public=True),
                 KStruct("task", "task_struct", public=True)),
        members=(
            KMember("vmf_address", "vmf", "address", 8),
            KMember("vmf_vma", "vmf", "vma", 8),
            KMember("vma_swap_readahead_info", "vma", "swap_readahead_info", 8),
            KMember("task_pid", "task", "pid", 4),
        ),
        # the VMA readahead window's cap is 1 << min(page_cluster, 5) pages (page_cluster is
        # not exported to modules)
        consts=(KConst("page_cluster", "file", 3, "/proc/sys/vm/page-cluster"),),
    ),
    exports=frozenset({DECISIONS}),
)

FS_RA_MAX = 256           # the largest window a program may set, in pages (1 MiB)
PGOFF_MAX = (1 << 44) - 1  # page index in a file: 64 PiB with 4 KiB pages

FS_READAHEAD = HookSpec(
    name="fs.readahead",
    id=3,
    doc="A file's page-cache readahead (mm/readahead.c, Linux 6.1): a read missed the page "
        "cache (page_cache_sync_ra) or reached a readahead marker (page_cache_async_ra). "
        "The decision caps this call's readahead window in pages (the file's "
        "file_ra_state.ra_pages for the duration of the call: the on-demand algorithm "
        "ramps the window up to it); 0 reads only what was asked; DEFAULT keeps the file's "
        "own cap (the device's read_ahead_kb, or what fadvise set).",
    fields=(
        _f("pid", U32, 0, 4194304, export=False, doc="reading task"),
        _f("ino", U64, export=False, doc="inode number of the file; identifies it, stays in the kernel"),
        _f("index", U64, 0, PGOFF_MAX, doc="first page of the request in the file"),
        _f("req_pages", U32, 0, 1 << 16, doc="pages the reader asked for"),
        _f("is_async", U8, 0, 1, doc="1: a readahead marker was hit; 0: a page-cache miss"),
        _f("ra_start", U64, 0, PGOFF_MAX, doc="the current readahead window's first page"),
        _f("ra_size", U32, 0, 1 << 16, doc="its size in pages"),
        _f("ra_async_size", U32, 0, 1 << 16,
           doc="pages before its end where the next async readahead starts"),
        _f("ra_pages", U32, 0, 1 << 16,
           doc="the file's window cap: the kernel's own decision"),
        _f("prev_index", U64, 0, PGOFF_MAX,
           doc="page of the previous read (prev_pos >> 12); the maximum before the first"),
        _f("mmap_miss", U32, 0, 1 << 16, doc="page-cache misses through mmap"),
    ),
    decision=Decision({"NONE": 0}, 0, FS_RA_MAX, "the window cap in pages for this call"),
    budget=4000,
    # the window is visible anyway (page-cache residency through mincore, I/O statistics)
    exports=frozenset({DECISIONS}),
    kernel=KernelSide(
        offsets="fs",
        probes=("page_cache_sync_ra", "page_cache_async_ra"),
        structs=(KStruct("ractl", "readahead_control", public=True),
                 KStruct("ra", "file_ra_state", public=True),
                 KStruct("mapping", "address_space", public=True),
                 KStruct("inode", "inode", public=True)),
        members=(
            KMember("ractl_mapping", "ractl", "mapping", 8),
            KMember("ractl_ra", "ractl", "ra", 8),
            KMember("ractl_index", "ractl", "_index", 8),
            KMember("ra_win_start", "ra", "start", 8),
            KMember("ra_win_size", "ra", "size", 4),
            KMember("ra_win_async", "ra", "async_size", 4),
            KMember("ra_max_pages", "ra", "ra_pages", 4),
            KMember("ra_mmap_miss", "ra", "mmap_miss", 4),
            KMember("ra_prev_pos", "ra", "prev_pos", 8),
            KMember("mapping_host", "mapping", "host", 8),
            KMember("inode_ino", "inode", "i_ino", 8),
        ),
    ),
)

TEST_SANDBOX = HookSpec(
    name="test.sandbox",
    id=100,
    doc="A hook for tests: one field of every kind and permission.",
    fields=(
        _f("a", U32, 0, 1000), _f("b", U32, 0, 1000),
        _f("x", I32, -1000, 1000), _f("y", I32, -1000, 1000),
        _f("w", U64), _f("s", I64),
        _f("small", U8, 0, 7),
        _f("arr", U32, 0, 1 << 20, count=8),
        _f("sarr", I16, count=4),
        _f("secret", U64, export=False, doc="readable, never traced"),
        _f("hidden", U32, access=Access.NONE, doc="neither readable nor writable"),
        _f("out", U32, access=RW),
        _f("outs", I32, access=RW, count=4),
    ),
    decision=Decision({"LOW": 0, "MID": 50, "HIGH": 100}, 0, 100, "any value 0..100"),
    budget=200000,
)

HOOKS: dict[str, HookSpec] = {h.name: h for h in (SCHED_CAN_MIGRATE_TASK, MM_SWAP_FAULT,
                                                  FS_READAHEAD, TEST_SANDBOX)}
HOOK_BY_ID: dict[int, HookSpec] = {h.id: h for h in HOOKS.values()}


def clamp_ctx(spec: HookSpec, values: dict[str, int | list[int]]) -> dict[str, int | list[int]]:
    """Every field given, each array element, clamped into its declared [lo, hi]: the ranges
    the verifier assumes, enforced where a context is built (the simulators; rmt.ko's hooks
    call the generated rmt_ctx_<hook>_clamp() in vm_kernel/core/rmt_hooks.h, from this spec)."""
    out: dict[str, int | list[int]] = {}
    for name, v in values.items():
        f = spec.field(name)
        if f is None:
            raise KeyError(f"{spec.name} has no context field {name!r}")
        if isinstance(v, list):
            out[name] = [min(max(int(x), f.lo), f.hi) for x in v]
        else:
            out[name] = min(max(int(v), f.lo), f.hi)
    return out


def hook_hash(spec: HookSpec) -> int:
    """CRC32 of the context layout and permissions; the loader compares it with
    its own (generated) copy of the spec so a program built for another layout
    is refused."""
    import zlib
    text = ";".join(f"{f.name}:{spec.layout[f.name]}:{f.type.name}:{f.count}:{f.access.value}"
                    for f in spec.fields)
    return zlib.crc32(f"{spec.name}#{spec.id}#{text}".encode())
