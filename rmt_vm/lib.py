"""Finding (and if needed building) the compiled C VM.

`pip install -e .` builds `rmt.vm._rmt_cffi` from vm_kernel/core/*.c.  Engineers
edit those sources after installing, so an installed build is used only when
its embedded source digest matches the sources on disk; otherwise the module
is rebuilt once into build/rmt_vm/<digest>/ (under a file lock, so parallel
test workers build it once).  RMT_VM_SANITIZE=1 selects the
AddressSanitizer/UBSan build instead (it needs libasan preloaded; see
vm_kernel/Makefile, target test-asan).
"""
from __future__ import annotations

import fcntl
import importlib
import importlib.util
import os
from functools import lru_cache
from types import ModuleType

from rmt.vm import _build


def _import_file(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=None)
def load_lib(sanitize: bool | None = None) -> ModuleType:
    """The cffi module (with .ffi and .lib) built from the current C sources."""
    if sanitize is None:
        sanitize = os.environ.get("RMT_VM_SANITIZE") == "1"
    if not sanitize and not _build.CORE_DIR.is_dir():
        # installed from a wheel: no C sources to compare with or rebuild from
        return importlib.import_module(_build.MODULE)
    digest = _build.source_hash(sanitize)
    if not sanitize:
        try:
            mod = importlib.import_module(_build.MODULE)
            if _build._ffi_string(mod, mod.lib.rmt_vm_build_id()) == digest:
                return mod
        except ImportError:
            pass
    name, path = build(sanitize)
    return _import_file(name, path)


def build(sanitize: bool = False) -> tuple[str, str]:
    """Compile the module for the current sources into build/rmt_vm/ (once); return
    its module name and file, without importing it (a sanitized build can only be
    imported with libasan preloaded)."""
    digest = _build.source_hash(sanitize)
    name = f"_rmt_vm_{'asan' if sanitize else 'plain'}_{digest}"
    outdir = _build.ROOT / "build" / "rmt_vm" / name
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = sorted(outdir.glob(f"{name}*.so"))
        if not built:
            ffi = _build.make_ffi(sanitize, module=name)
            ffi.compile(tmpdir=str(outdir), verbose=False)
            built = sorted(outdir.glob(f"{name}*.so"))
        return name, str(built[0])
