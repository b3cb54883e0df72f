"""What a prefetcher sees and answers: the protocol every swap prefetcher implements.

The simulator calls `Prefetcher.fault` on every swap fault, major (the page
had to be read from the swap device) or minor (the page was found in the
prefetch buffer, i.e. Linux's swap cache: a readahead hit).  Like Linux's
`do_swap_page`, which calls `swapin_readahead` only when the page is not in
the swap cache, the simulator issues the pages a prefetcher returns only on a
major fault; minor faults still reach the prefetcher so it can keep its
history and hit counts (Leap logs every swap fault the same way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Fault:
    page: int            # virtual page number of the faulting access
    slot: int            # its swap slot (Linux's swap offset)
    major: bool          # read from the device (False: found in the prefetch buffer)
    pf_hit: bool         # a minor fault on a prefetched page (a "readahead hit")


class SwapView(Protocol):
    """Read-only questions a prefetcher may ask the swap device."""

    def slot_of(self, page: int) -> int | None: ...

    def page_at(self, slot: int) -> int | None: ...

    def in_swap(self, page: int) -> bool:
        """The page is swapped out: neither resident nor already in the buffer."""
        ...

    @property
    def max_slot(self) -> int: ...


class Prefetcher(Protocol):
    name: str

    def reset(self) -> None:
        """Forget all state (a new run)."""
        ...

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        """Pages (virtual page numbers) to read ahead; used only when f.major."""
        ...


class NoPrefetch:
    """The baseline without readahead (`page_cluster` = 0)."""

    name = "none"

    def reset(self) -> None:
        pass

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        return []
