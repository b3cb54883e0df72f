"""The cffi (API mode) build of the userspace VM: vm_kernel/core/*.c compiled
into one Python extension module.

API mode compiles a C file that includes the real headers, so struct layouts
and constants come from vm_kernel/core/ itself, never from a copy here.  The
`cdef` below only names what Python calls.  The kernel-only sources
(vm_kernel/kmod/) are left out.

Used three ways: by setup.py (`cffi_modules`, so `pip install -e .` builds
`rmt.vm._rmt_cffi`), by rmt_vm/__init__.py to rebuild into build/ when the C
sources changed since that build, and with `sanitize=True` for the
AddressSanitizer/UBSan build (`make -C vm_kernel test-asan`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
VM_DIR = ROOT / "vm_kernel"
CORE_DIR = VM_DIR / "core"
MODULE = "rmt.vm._rmt_cffi"

CDEF = """
typedef int32_t s32; typedef long long s64; typedef unsigned long long u64; typedef uint32_t u32;
#define RMT_NR_ABORTS ...
#define RMT_MAX_DECISIONS ...
#define RMT_MAX_KEYS ...
#define RMT_MAX_PARAM_SIZE ...
#define RMT_MAX_TRACE_FIELDS ...
#define RMT_NR_CPUS ...

struct rmt_vm;
struct rmt_load_opts { uint32_t trace_capacity; uint32_t flags; unsigned long long seed; ...; };
#define RMT_LOAD_JIT ...
struct rmt_run_result { long long decision; uint32_t abort; int32_t abort_pc; ...; };
struct rmt_stats {
    unsigned long long runs; unsigned long long aborts[...]; unsigned long long bad_decisions; unsigned long long shadow_agree;
    unsigned long long shadow_disagree; unsigned long long trace_drops; unsigned long long model_overflows;
    unsigned long long map_drops; long long decision_lo; uint32_t ndecisions; unsigned long long decisions[...];
    ...;
};
struct rmt_match_field { unsigned long long a; unsigned long long b; };
struct rmt_entry_spec {
    uint32_t priority; uint16_t action; uint16_t nkeys;
    struct rmt_match_field match[...]; uint8_t params[...];
};
struct rmt_entry_dump { struct rmt_entry_spec spec; unsigned long long hits; };
struct rmt_trace_rec {
    uint32_t fmt; uint32_t cpu; unsigned long long ts; uint32_t nvals; unsigned long long vals[...]; ...;
};

struct rmt_vm *rmt_vm_create(void);
void rmt_vm_destroy(struct rmt_vm *vm);
int rmt_vm_load(struct rmt_vm *vm, const void *obj, size_t len,
                const struct rmt_load_opts *opts, char *err, size_t errlen);
int rmt_vm_unload(struct rmt_vm *vm, int id);
int rmt_vm_run(struct rmt_vm *vm, int id, void *ctx, size_t ctx_len, uint32_t cpu,
               unsigned long long now, struct rmt_run_result *res);
int rmt_vm_shadow_account(struct rmt_vm *vm, int id, uint32_t cpu, long long prog_decision,
                          long long kernel_decision);
int rmt_vm_table_update(struct rmt_vm *vm, int id, uint32_t table, uint32_t op,
                        const struct rmt_entry_spec *spec, char *err, size_t errlen);
struct rmt_table_op { uint32_t op; uint32_t pad; struct rmt_entry_spec spec; };
int rmt_vm_table_batch(struct rmt_vm *vm, int id, uint32_t table, const struct rmt_table_op *ops,
                       uint32_t n, uint32_t *failed, char *err, size_t errlen);
int rmt_vm_table_dump(struct rmt_vm *vm, int id, uint32_t table, uint32_t start,
                      struct rmt_entry_dump *out, uint32_t max, unsigned long long *misses);
int rmt_vm_model_load(struct rmt_vm *vm, int id, uint32_t model, const void *blob,
                      size_t len, char *err, size_t errlen);
int rmt_vm_map_read(struct rmt_vm *vm, int id, uint32_t map, unsigned long long *cursor,
                    unsigned long long *keys, unsigned long long *vals, uint32_t max);
int rmt_vm_map_write(struct rmt_vm *vm, int id, uint32_t map, unsigned long long key, unsigned long long val,
                     char *err, size_t errlen);
int rmt_vm_trace_drain(struct rmt_vm *vm, int id, struct rmt_trace_rec *out, uint32_t max);
int rmt_vm_trace_peek(struct rmt_vm *vm, int id, unsigned long long skip,
                      struct rmt_trace_rec *out, uint32_t max, unsigned long long *pos);
int rmt_vm_trace_ack(struct rmt_vm *vm, int id, unsigned long long pos, uint32_t n);
int rmt_vm_stats(struct rmt_vm *vm, int id, struct rmt_stats *out);
long long rmt_bench_run(struct rmt_vm *vm, int id, const void *ctx, size_t ctx_len,
                      unsigned long long iterations);
const char *rmt_vm_build_id(void);
/* candidate models */
#define RMT_MODEL_HISTORY ...
#define RMT_MODEL_OP_PROMOTE ...
#define RMT_MODEL_OP_ROLLBACK ...
#define RMT_MODEL_OP_UNSTAGE ...
struct rmt_model_event { unsigned long long version; uint32_t op; unsigned long long agree;
                         unsigned long long disagree; ...; };
struct rmt_model_state {
    unsigned long long version; unsigned long long cand_version; unsigned long long prev_version;
    unsigned long long agree; unsigned long long disagree; uint32_t nevents; uint32_t nhist;
    struct rmt_model_event hist[...]; ...;
};
int rmt_vm_model_stage(struct rmt_vm *vm, int id, uint32_t model, const void *blob,
                       size_t len, char *err, size_t errlen);
int rmt_vm_model_ctl(struct rmt_vm *vm, int id, uint32_t model, uint32_t op, char *err,
                     size_t errlen);
int rmt_vm_model_state(struct rmt_vm *vm, int id, uint32_t model, struct rmt_model_state *out);
/* rmt_alloc.h: allocation counters and fault injection (process-wide). */
struct rmt_alloc_stats { long long live; unsigned long long total; unsigned long long failed;
                         unsigned long long fail_pending; };
long long rmt_alloc_live(void);
void rmt_alloc_get_stats(struct rmt_alloc_stats *out);
void rmt_alloc_fail_nth(unsigned long long n, bool every);
int rmt_vm_prog_engine(struct rmt_vm *vm, int id);
int rmt_vm_set_native(struct rmt_vm *vm, int id, void *fn);
bool rmt_jit_supported(void);
/* Helpers native code calls (their addresses go into llvmlite code). */
unsigned long long rmt_jit_apply(void *jc, uint32_t table, uint32_t off);
int rmt_jit_callm(void *jc, uint32_t model);
int rmt_jit_map_ld(void *jc, uint32_t map, unsigned long long key);
int rmt_jit_map_upd(void *jc, uint32_t map, unsigned long long key, unsigned long long val, uint32_t add);
void rmt_jit_trace(void *jc, uint32_t fmt, uint32_t off);
unsigned long long rmt_jit_random(void *jc, unsigned long long n);
"""

# -fvisibility=hidden: calls between the VM's own functions (rmt_vm_run_rcu ->
# rmt_interp_run / rmt_jit_run, the helpers) are direct, not through the PLT;
# only the module's init function is exported (cffi reaches everything else
# from inside the module).
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wno-override-init", "-Wno-unused-parameter",
          "-Wno-missing-field-initializers", "-fno-strict-aliasing", "-fvisibility=hidden"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                  "-fno-sanitize-recover=all", "-O1", "-g"]


def c_sources() -> list[Path]:
    """The userspace VM's C files: every vm_kernel/core/*.c."""
    return sorted(CORE_DIR.glob("rmt_*.c"))


def source_hash(sanitize: bool = False) -> str:
    """A digest of every C source and header: a build with another digest is stale."""
    h = hashlib.sha256(b"sanitize" if sanitize else b"plain")
    for p in sorted(CORE_DIR.glob("rmt_*.[ch]")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update(CDEF.encode())
    return h.hexdigest()[:16]


def make_ffi(sanitize: bool = False, module: str = MODULE, relative: bool = False) -> FFI:
    """relative: name sources relative to the repo root (setuptools refuses absolute paths)."""
    ffi = FFI()
    ffi.cdef(CDEF)
    flags = CFLAGS + (SANITIZE_FLAGS if sanitize else [])
    ffi.set_source(
        module,
        '#include "rmt_vm.h"\n#include "rmt_jit.h"\n#include "rmt_alloc.h"\n'
        f'const char *rmt_vm_build_id(void) {{ return "{source_hash(sanitize)}"; }}\n',
        sources=[str(p.relative_to(ROOT)) if relative else str(p) for p in c_sources()],
        include_dirs=[str(CORE_DIR)],
        extra_compile_args=flags,
        extra_link_args=["-fsanitize=address,undefined"] if sanitize else [],
        libraries=["pthread"],
    )
    return ffi


ffibuilder = make_ffi(relative=True)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)


def _ffi_string(mod, cptr) -> str:
    return mod.ffi.string(cptr).decode()
