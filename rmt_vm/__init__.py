"""The RMT VM of vm_kernel/ built as a userspace library and driven from Python.

`CEngine` (rmt_vm/engine.py) implements rmt.contract.engine.Engine on top of the
C runtime, the same sources that build rmt.ko.  `load_lib()` returns the cffi
module; see rmt_vm/_build.py for how it is built.
"""
from rmt.vm.lib import load_lib
from rmt.vm.engine import CEngine

__all__ = ["CEngine", "load_lib"]
