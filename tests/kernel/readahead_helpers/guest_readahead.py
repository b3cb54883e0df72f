"""Guest side of tests/kernel/test_kmod_readahead.py: hook fs.readahead in rmt.ko.

    guest_readahead.py FILES OUT

Reads the scratch disk /dev/vda through its page cache (a block device's reads take the same
filemap_read() -> page_cache_sync_ra()/page_cache_async_ra() path as a file's), with caches
dropped before each phase:
- seq: a shadow program traces every call while 16 MiB are read sequentially;
- stride: the same program while one page in 16 is read;
- enforce: a program capping every window at 0 pages (NONE), then the shadow program again on
  the same open file: the kernel's own cap must be back (the return handler restores it).
Each phase records the hook's counters, the VM's, the trace and the disk's completed reads
(/sys/block/vda/stat) before and after.  Writes OUT/readahead.json; the host asserts.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from rmt.contract.hooks import HOOKS
from rmt.ctl import hook_abi as H
from rmt.ctl.btf import Btf
from rmt.ctl.kernel import KernelEngine, RmtDevice

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


def main() -> int:
    files, out = Path(sys.argv[1]), Path(sys.argv[2])
    btf = Btf.load()
    res: dict = {"default_ra_kb": int(Path("/sys/block/vda/queue/read_ahead_kb").read_text())}
    t0 = time.monotonic()
    with RmtDevice() as dev:
        shadow = KernelEngine.load(dev, (files / "shadow.rmtb").read_bytes(), trace_capacity=65536)
        none = KernelEngine.load(dev, (files / "none.rmtb").read_bytes())
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
        res["vm_shadow"] = {"runs": shadow.stats().runs,
                            "decisions": {str(k): v for k, v in dict(shadow.stats().decisions).items()}}
        H.detach(dev, HOOK)
        res["detached"] = stats(dev)
    res["seconds"] = round(time.monotonic() - t0, 1)
    (out / "readahead.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
