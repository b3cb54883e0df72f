"""Hook fs.readahead in the simulator (swap_sim/file_readahead.py): the modelled on-demand
readahead of Linux 6.1, and a program's cap acting on it through the C VM."""
from __future__ import annotations

import pytest

import rmt
from rmt.swap_sim.file_readahead import FileReadahead, init_ra_size, next_ra_size

NONE_SRC = "hook fs.readahead;\napply { decide(NONE); }\n"
DEFAULT_SRC = "hook fs.readahead;\napply { decide(DEFAULT); }\n"
# a larger window for sequential streams, none for anything else
SEQ_SRC = """
hook fs.readahead;
apply {
    if ctx.is_async == 1 || ctx.index == ctx.prev_index + 1 || ctx.index == 0 {
        decide(128);
    } else {
        decide(NONE);
    }
}
"""


def _engine(src: str):
    return rmt.engine(rmt.compile(src, "ra.rmt"))


def _seq(f: FileReadahead, pages: int, chunk: int = 1) -> FileReadahead:
    f.npages = pages
    for i in range(0, pages, chunk):
        f.read(i, chunk)
    return f


def _stride(f: FileReadahead, pages: int, stride: int = 16) -> FileReadahead:
    f.npages = pages
    for i in range(0, pages, stride):
        f.read(i, 1)
    return f


def test_window_sizes_are_6_1s() -> None:
    # mm/readahead.c get_init_ra_size / get_next_ra_size with a 32-page cap
    assert [init_ra_size(n, 32) for n in (1, 2, 4, 8, 16, 64)] == [4, 4, 8, 16, 32, 32]
    assert [next_ra_size(n, 32) for n in (1, 2, 4, 8, 16, 32)] == [4, 4, 8, 16, 32, 32]


def test_sequential_reads_ramp_up_to_the_cap() -> None:
    f = _seq(FileReadahead(ra_pages=32), 1024)
    assert f.n.pages_read == 1024 and f.n.hits + f.n.sync_calls == 1024
    assert f.n.sync_calls == 1 and f.n.async_calls > 20    # one miss, then marker hits
    assert f.n.ios <= 1024 // 32 + 4
    assert f.size == 32


def test_small_strided_reads_are_read_as_they_are() -> None:
    f = _stride(FileReadahead(ra_pages=32), 4096)
    # the first read (index 0) opens a window; every other one is a lone miss
    assert f.n.sync_calls == 4096 // 16
    assert f.n.pages_read == init_ra_size(1, 32) + 4096 // 16 - 1


def test_default_decision_is_the_kernels_own() -> None:
    for access in (_seq, _stride):
        own = access(FileReadahead(), 2048).n
        prog = access(FileReadahead(engine=_engine(DEFAULT_SRC)), 2048).n
        assert (prog.ios, prog.pages_read, prog.calls) == (own.ios, own.pages_read, own.calls)
        assert prog.defaults == prog.calls and prog.overrides == 0


def test_cap_of_zero_reads_only_what_is_asked() -> None:
    f = _seq(FileReadahead(engine=_engine(NONE_SRC)), 512)
    assert f.n.pages_read == 512 and f.n.ios == 512 and f.n.async_calls == 0
    assert f.n.overrides == f.n.calls == 512


@pytest.mark.parametrize("chunk", [1, 16])
def test_a_program_widening_sequential_windows_needs_fewer_ios(chunk: int) -> None:
    own = _seq(FileReadahead(), 4096, chunk).n
    wide = _seq(FileReadahead(engine=_engine(SEQ_SRC)), 4096, chunk).n
    assert wide.pages_read == own.pages_read == 4096
    assert wide.ios < own.ios / 2


def test_first_and_backward_reads_are_not_sequential_as_in_6_1() -> None:
    from rmt.contract import codec
    from rmt.contract.hooks import PGOFF_MAX
    from rmt.swap_sim.file_readahead import HOOK
    f = FileReadahead(ra_pages=32)
    # before the first read prev_pos is -1: the context carries the spec's maximum
    assert codec.ctx_decode(HOOK, f.context(5, 1, False), ["prev_index"])["prev_index"] == PGOFF_MAX
    f.read(100)                             # not at 0, no previous read: read as it is
    assert f.n.pages_read == 1
    f.read(50)                              # backwards: index - prev_index wraps, not sequential
    assert f.n.pages_read == 2
    f.read(51)                              # just after the previous read: a window
    assert f.n.pages_read > 3
