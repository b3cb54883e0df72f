"""Maps shared by the program and the control plane: array, counter, hash; per-CPU.

Follows docs/semantics.md, "Maps".  Values are kept unsigned, truncated to
`value_bits`.  A per-CPU map keeps one copy of its contents per CPU: the
program sees the copy of the CPU it runs on, the control plane reads the sum
over CPUs (wrapping at `value_bits`) and writes CPU 0's copy (clearing the
others), so a write followed by a read gives back the value written.
"""
from __future__ import annotations

import errno

from rmt.contract.isa import Abort
from rmt.contract.objfile import Map
from rmt.contract.objformat import MapKind
from rmt.contract.engine import EngineError
from rmt.semantics.trap import Trap


def check_readable(m: Map) -> None:
    """The control plane's read check (`rmtctl map dump`, RMT_IOC_MAP_READ): a `private`
    map's contents stay in the kernel.  Engines' own map_read() is the in-kernel view and
    does not check (the sim target saves its state through it)."""
    if m.private:
        raise EngineError(errno.EPERM, f"map {m.name} is private: its contents stay in the "
                                       f"kernel (the program declares it `private`)")


class MapState:
    """The contents of one map: cpu -> {key: value} (cpu is always 0 unless per-CPU)."""

    def __init__(self, m: Map):
        self.map = m
        self.vmask = (1 << m.value_bits) - 1
        self.kmask = (1 << m.key_bits) - 1
        self.copies: dict[int, dict[int, int]] = {}

    def _copy(self, cpu: int) -> dict[int, int]:
        return self.copies.setdefault(cpu if self.map.percpu else 0, {})

    @property
    def is_hash(self) -> bool:
        return self.map.kind == MapKind.HASH

    def _key(self, key: int) -> int:
        """The key the program addresses: masked for hashes, range-checked for arrays."""
        if self.is_hash:
            return key & self.kmask
        if key >= self.map.max_entries:
            raise Trap(Abort.MAP_INDEX)
        return key

    # ------------------------------------------------------------ data plane

    def load(self, key: int, cpu: int) -> int:
        """MAP_LD: absent keys (and never-written array slots) read as 0."""
        return self._copy(cpu).get(self._key(key), 0)

    def update(self, key: int, value: int, cpu: int, add: bool) -> bool:
        """MAP_ST / MAP_ADD; returns False when a full hash map dropped the update."""
        k = self._key(key)
        copy = self._copy(cpu)
        if self.is_hash and k not in copy and len(copy) >= self.map.max_entries:
            return False
        copy[k] = ((copy.get(k, 0) + value) if add else value) & self.vmask
        return True

    # ------------------------------------------------------------ control plane

    def read(self) -> dict[int, int]:
        """Every array/counter index, or every present hash key; per-CPU copies summed."""
        out: dict[int, int] = {}
        if not self.is_hash:
            out = dict.fromkeys(range(self.map.max_entries), 0)
        for copy in self.copies.values():
            for k, v in copy.items():
                out[k] = (out.get(k, 0) + v) & self.vmask
        return dict(sorted(out.items()))

    def write(self, key: int, value: int) -> None:
        m = self.map
        if not 0 <= value <= self.vmask:
            raise EngineError(errno.EINVAL, f"map {m.name}: value {value} does not fit "
                                            f"{m.value_bits} unsigned bits")
        if self.is_hash:
            if not 0 <= key <= self.kmask:
                raise EngineError(errno.EINVAL, f"map {m.name}: key {key} does not fit "
                                                f"{m.key_bits} bits")
            cpu0 = self.copies.get(0, {})
            if key not in cpu0 and len(cpu0) >= m.max_entries:
                raise EngineError(errno.ENOSPC, f"map {m.name}: full ({m.max_entries} keys)")
        elif not 0 <= key < m.max_entries:
            raise EngineError(errno.E2BIG, f"map {m.name}: index {key} is outside "
                                           f"0..{m.max_entries - 1}")
        for cpu, copy in self.copies.items():
            if cpu != 0:
                copy.pop(key, None)
        self.copies.setdefault(0, {})[key] = value
