"""Hook fs.readahead in the simulator: Linux 6.1's on-demand file readahead with an RMT
program setting each call's window cap.

`FileReadahead.read(index, nr)` replays one read of `nr` pages at page `index` of one file
against a page cache, the way `filemap_read()` does: a missing page calls the sync path
(`page_cache_sync_ra`), a page carrying the readahead marker the async path
(`page_cache_async_ra`); both run `ondemand_readahead()` (mm/readahead.c), modelled here:
window ramp-up (`get_init_ra_size`, `get_next_ra_size`), the expected-index test that pushes the
window on, sequential misses (`prev_index`), small random reads read as they are, and the
marker `async_size` pages before the window's end, nothing read past the end of the file.
Not modelled: large folios,
`try_context_readahead()`'s page-cache history probe, the bdi's `io_pages` widening, eviction.

Before each call the program (any Engine) sees the hook's context, built as rmt.ko builds it
(vm_kernel/kmod/rmt_kmod_hook_fs.c) and clamped to the spec's ranges; its decision caps the
window for that call (DEFAULT, or an abort: the file's own cap `ra_pages`), as in the kernel.
Without a program it is the kernel's own readahead.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rmt.contract import codec
from rmt.contract.engine import Engine
from rmt.contract.hooks import HOOKS, PGOFF_MAX, clamp_ctx

HOOK = HOOKS["fs.readahead"]


def _pow2_up(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def init_ra_size(size: int, max_pages: int) -> int:
    """get_init_ra_size(): the first window for a request of `size` pages."""
    new = _pow2_up(size)
    if new <= max_pages // 32:
        return new * 4
    if new <= max_pages // 4:
        return new * 2
    return max_pages


def next_ra_size(cur: int, max_pages: int) -> int:
    """get_next_ra_size(): the window after one of `cur` pages."""
    if cur < max_pages // 16:
        return 4 * cur
    if cur <= max_pages // 2:
        return 2 * cur
    return max_pages


@dataclass
class Counters:
    calls: int = 0            # readahead calls (sync + async): the hook's hits
    sync_calls: int = 0
    async_calls: int = 0
    ios: int = 0              # reads issued to the device (one per contiguous run)
    pages_read: int = 0
    hits: int = 0             # requested pages found in the page cache
    defaults: int = 0         # program runs that left the file's own cap
    overrides: int = 0        # program runs that set another cap


@dataclass
class FileReadahead:
    """One open file: its readahead state, the page cache, and the program (or None)."""
    ra_pages: int = 32                    # the file's cap: read_ahead_kb / 4
    npages: int = 1 << 40                 # the file's size in pages: nothing is read past it
    engine: Engine | None = None
    ino: int = 1
    pid: int = 1
    start: int = 0
    size: int = 0
    async_size: int = 0
    prev_index: int | None = None         # None before the first read (prev_pos -1)
    cache: set[int] = field(default_factory=set)
    markers: set[int] = field(default_factory=set)
    n: Counters = field(default_factory=Counters)

    def context(self, index: int, req: int, is_async: bool) -> bytes:
        return codec.ctx_encode(HOOK, clamp_ctx(HOOK, {
            "pid": self.pid, "ino": self.ino, "index": index, "req_pages": req,
            "is_async": int(is_async), "ra_start": self.start, "ra_size": self.size,
            "ra_async_size": self.async_size, "ra_pages": self.ra_pages,
            # before the first read the kernel's prev_pos is -1, clamped to the spec's maximum
            "prev_index": PGOFF_MAX if self.prev_index is None else self.prev_index,
            "mmap_miss": 0}))

    def cap(self, index: int, req: int, is_async: bool) -> int:
        """The window cap for this call: the program's decision, or the file's own."""
        if self.engine is None:
            return self.ra_pages
        r = self.engine.run(self.context(index, req, is_async))
        if r.abort or r.decision < 0:
            self.n.defaults += 1
            return self.ra_pages
        if r.decision != self.ra_pages:
            self.n.overrides += 1
        return r.decision

    def _fetch(self, first: int, count: int, marker: int | None) -> None:
        count = max(0, min(count, self.npages - first))     # do_page_cache_ra(): up to EOF
        run = 0
        for p in range(first, first + count):
            if p in self.cache:
                if run:
                    self.n.ios += 1
                run = 0
                continue
            self.cache.add(p)
            self.n.pages_read += 1
            run += 1
        if run:
            self.n.ios += 1
        if marker is not None and first <= marker < first + count:
            self.markers.add(marker)

    def _ondemand(self, index: int, req: int, is_async: bool, max_pages: int) -> None:
        if not max_pages:                   # no readahead: the sync path reads one page
            if not is_async:
                self._fetch(index, 1, None)
            return
        initial = index == 0
        if not initial:
            expected = self.start + self.size - self.async_size
            if index in (expected, self.start + self.size):
                self.start += self.size
                self.size = max(self.size, next_ra_size(self.size, max_pages))
                self.async_size = self.size
                self._readit(index, max_pages)
                return
            if is_async:                    # a marker without valid state: ramp from here
                self.start, self.size = index, next_ra_size(req + 1, max_pages)
                self.async_size = self.size
                self._readit(index, max_pages)
                return
            # (unsigned in the kernel: no previous read is never "just before")
            initial = req > max_pages or (self.prev_index is not None
                                          and 0 <= index - self.prev_index <= 1)
            if not initial:                 # a small random read, read as it is
                self._fetch(index, req, None)
                return
        self.start = index
        self.size = init_ra_size(req, max_pages)
        self.async_size = self.size - req if self.size > req else self.size
        self._readit(index, max_pages)

    def _readit(self, index: int, max_pages: int) -> None:
        if index == self.start and self.size == self.async_size:
            add = next_ra_size(self.size, max_pages)
            if self.size + add <= max_pages:
                self.async_size = add
                self.size += add
            else:
                self.size, self.async_size = max_pages, max_pages >> 1
        self._fetch(self.start, self.size, self.start + self.size - self.async_size)

    def read(self, index: int, nr: int = 1) -> None:
        """The reader asks for pages [index, index + nr)."""
        for p in range(index, index + nr):
            left = index + nr - p
            if p not in self.cache:
                self.n.calls += 1
                self.n.sync_calls += 1
                self._ondemand(p, left, False, self.cap(p, left, False))
                if p not in self.cache:     # the window did not cover it: read it alone
                    self._fetch(p, 1, None)
            else:
                self.n.hits += 1
                if p in self.markers:
                    self.markers.discard(p)
                    self.n.calls += 1
                    self.n.async_calls += 1
                    self._ondemand(p, left, True, self.cap(p, left, True))
        self.prev_index = index + nr - 1
