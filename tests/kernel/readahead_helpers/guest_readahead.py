"""Guest side of tests/kernel/test_kmod_readahead.py: hook fs.readahead in rmt.ko.

    guest_readahead.py FILES OUT

Reads the scratch disk /dev/vda through its page cache (a block device's reads take the same
filemap_read() -> page_cache_sync_ra()/page_cache_async_ra() path as a file's), with caches
dropped before each phase:
- seq: a shadow program traces every call while 16 MiB are read sequentially;
- stride: the same program while one page in 16 is read;
- enforce: a program capping every window at 0 pages (NONE), then the shadow program again on
  the same open file: the kernel's own cap must be back (the return handler restores it);
- shared: two threads read one open file with every window capped and the hook is detached
  while they read; then the shadow program on that file: its own cap must be back.
Each phase records the hook's counters, the VM's, the trace and the disk's completed reads
(/sys/block/vda/stat) before and after.  Writes OUT/readahead.json; the host asserts.
"""
from __future__ import annotations

import os
import threading
import time
import sys
from pathlib import Path

from rmt.contract.hooks import HOOKS
from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import KernelEngine, RmtDevice

from guest_hooks import report  # one way to report a guest run (PYTHONPATH: GUEST_ENV)

HOOK = HOOKS["fs.readahead"].id
DISK = "/dev/vda"
PAGE = 4096
SPAN = 16 << 20          # bytes read per phase
STRIDE = 16              # pages between two strided reads


def disk_reads() -> int:
    """Reads completed by the disk (field 1 of /sys/block/vda/stat)."""
    return int(Path("/sys/block/vda/stat").read_text().split()[0])


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def stats(dev: RmtDevice) -> dict:
    return H.stats(dev, HOOK).to_json()


def trace(dev: RmtDevice, eng: KernelEngine) -> list[list[int]]:
    return [list(r.vals[:r.nvals]) for r in dev.read_trace(eng.id)]


def read_seq(fd: int, start: int, n: int, chunk: int = 64 << 10) -> None:
    off = start
    while off < start + n:
        os.pread(fd, chunk, off)
        off += chunk


def read_stride(fd: int, start: int, n: int) -> None:
    for off in range(start, start + n, STRIDE * PAGE):
        os.pread(fd, PAGE, off)


def phase(dev: RmtDevice, eng: KernelEngine, fn) -> dict:
    s0, d0 = stats(dev), disk_reads()
    fn()
    return {"before": s0, "after": stats(dev), "disk_reads": disk_reads() - d0,
            "trace": trace(dev, eng)}


def bad_attaches(dev: RmtDevice, btf: Btf) -> dict:
    """Payloads the module must refuse (each as an empty probe, which skips only the program
    check): one wrong value per kind of generated check, a wrong length, a set pad."""
    from rmt.contract.engine import EngineError

    def real(hook: int) -> dict[str, int]:
        return H.offsets(btf, H.kernel_side(hook))

    cases = {
        "fs_public_offset": (HOOK, {"ra_max_pages": real(HOOK)["ra_max_pages"] + 4}),
        "fs_public_size": (HOOK, {"ra_size": real(HOOK)["ra_size"] + 8}),
        "sched_private_outside": (H.HOOK_SCHED, {"env_idle": 4096}),
        "sched_private_size": (H.HOOK_SCHED, {"lb_env_size": 4096}),
        "sched_const": (H.HOOK_SCHED, {"pf_kthread": 1}),
        "swap_public_offset": (H.HOOK_SWAP, {"task_pid": real(H.HOOK_SWAP)["task_pid"] + 8}),
        "len": (HOOK, None),
        "pad": (HOOK, None),
    }
    out = {}
    for name, (hook, over) in cases.items():
        p = H.attach_payload(hook, 0, H.F_EMPTY, btf, overrides=over)
        if name == "len":
            p.buf[24:28] = (len(p.offsets) - 4).to_bytes(4, "little")
        if name == "pad":
            p.buf[28:32] = (1).to_bytes(4, "little")
        try:
            H._ioctl(dev, H.IOC_HOOK_ATTACH, p.buf, name)
            out[name] = {"accepted": True}
            H.detach(dev, hook)
        except EngineError as e:
            out[name] = {"errno": e.code, "msg": str(e)}
    out["registered_after"] = {str(h): H.stats(dev, h).registered
                               for h in (HOOK, H.HOOK_SCHED, H.HOOK_SWAP)}
    return out


def run(dev: RmtDevice, files: Path, btf: Btf) -> dict:
    res: dict = {"default_ra_kb": int(Path("/sys/block/vda/queue/read_ahead_kb").read_text())}
    shadow = KernelEngine.load(dev, (files / "shadow.rmtb").read_bytes(), trace_capacity=65536)
    none = KernelEngine.load(dev, (files / "none.rmtb").read_bytes())
    res["bad"] = bad_attaches(dev, btf)
    H.attach(dev, HOOK, shadow.id, btf=btf)
    res["attached"] = stats(dev)
    fd = os.open(DISK, os.O_RDONLY)
    try:
        drop_caches()
        res["seq"] = phase(dev, shadow, lambda: read_seq(fd, 0, SPAN))
        drop_caches()
        res["stride"] = phase(dev, shadow, lambda: read_stride(fd, SPAN, SPAN))
        drop_caches()
        res["seq_again"] = phase(dev, shadow, lambda: read_seq(fd, 2 * SPAN, SPAN))
        H.attach(dev, HOOK, none.id, btf=btf)          # replaces the shadow program
        res["enforce"] = phase(dev, none, lambda: read_seq(fd, 3 * SPAN, SPAN))
        H.attach(dev, HOOK, shadow.id, btf=btf)
        # the same open file: its own cap must be back after the capped calls
        res["restored"] = phase(dev, shadow, lambda: read_seq(fd, 4 * SPAN, SPAN))
    finally:
        os.close(fd)
    H.detach(dev, HOOK)
    res["detached"] = stats(dev)
    res.update(shared_file(dev, shadow, none, btf))
    return res


def shared_file(dev: RmtDevice, shadow: KernelEngine, none: KernelEngine, btf: Btf) -> dict:
    """Two threads read one open file while every window is capped, and the hook is detached
    while they read: afterwards that file's own cap must be back (no reader saved another's
    cap as the file's own; the detach waited for the capped calls in flight)."""
    out: dict = {}
    part = SPAN // 4
    fd = os.open(DISK, os.O_RDONLY)
    try:
        drop_caches()
        H.attach(dev, HOOK, none.id, btf=btf)
        readers = [threading.Thread(target=read_seq, args=(fd, 5 * SPAN + i * part, part))
                   for i in range(2)]
        for t in readers:
            t.start()
        time.sleep(0.5)
        out["shared"] = stats(dev)
        H.detach(dev, HOOK)                 # while the readers are (most likely) still reading
        out["shared_alive_at_detach"] = sum(t.is_alive() for t in readers)
        for t in readers:
            t.join()
        H.attach(dev, HOOK, shadow.id, btf=btf)
        out["shared_after"] = phase(dev, shadow, lambda: read_seq(fd, 5 * SPAN + 2 * part, part))
        H.detach(dev, HOOK)
    finally:
        os.close(fd)
    return out


def main() -> int:
    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    btf = Btf.load()
    with RmtDevice() as dev:
        return report(out, "readahead", lambda: run(dev, files, btf))


if __name__ == "__main__":
    sys.exit(main())
