"""Host side: the same contexts through the userspace C VM and through rmt.ko in one QEMU
boot of Debian's 6.1 kernel (tools/qemu/harness.py); the trace records must be equal."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def c_vm_records(obj: bytes, blobs: dict[str, bytes], ctxs: list[bytes]) -> list[list]:
    from rmt.contract import objfile
    from rmt.vm import CEngine
    prog = objfile.read(obj)
    eng = CEngine(obj, trace_capacity=1 << max(6, len(ctxs).bit_length()))
    try:
        for i, m in enumerate(prog.models):
            eng.model_load(i, blobs[m.name])
        for c in ctxs:
            eng.run(c)
        return [[r.fmt, list(r.values)] for r in eng.trace_drain()]
    finally:
        eng.close()


def run_in_kernel(work: Path, obj: bytes, blobs: dict[str, bytes], ctxs: list[bytes],
                  timeout: float = 900) -> dict:
    """{'runs', 'records'} from rmt.ko, or {'error': why} when the guest cannot run."""
    from rmt.qemu import harness
    try:
        henv = harness.HarnessEnv.load()
        ko = harness.build_rmt_ko(work / "kbuild", harness_env=henv)
    except (harness.HarnessNotReady, RuntimeError, OSError) as e:
        return {"error": f"no guest: {str(e).splitlines()[0]}"}
    share = work / "share"
    files = share / "files"
    files.mkdir(parents=True, exist_ok=True)
    (files / "prog.rmtb").write_bytes(obj)
    for name, blob in blobs.items():
        (files / f"{name}.bin").write_bytes(blob)
    (files / "ctxs.bin").write_bytes(b"".join(ctxs))
    guest = Path(__file__).with_name("guest.py")
    r = harness.run_in_guest(f"""
        set -e
        insmod {ko}
        python3 {guest} {files} "$RMT_OUT/kernel.json"
        rmmod rmt
        """, timeout=timeout, cpus=2, out_dir=share, cwd=ROOT, harness_env=henv)
    res = share / "kernel.json"
    if r.exit_status != 0 or not res.exists():
        return {"error": f"guest exit {r.exit_status}: {r.output[-600:]}"}
    out = json.loads(res.read_text())
    out["kernel_problems"] = r.kernel_problems()
    return out
