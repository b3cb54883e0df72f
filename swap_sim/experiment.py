"""The case-study pipeline as functions: split, record faults, train, load, evaluate.

`casestudies/prefetch_eval.py` strings these together; tests run them on tiny
traces.  Every workload is split in time: the first `train_frac` of its
accesses warm the simulator and supply the training faults, the rest is
held out and measured for every prefetcher alike.
"""
from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rmt.contract import project
from rmt.swap_sim.leap import Leap
from rmt.swap_sim.metrics import CostModel, Figures, figures
from rmt.swap_sim.prefetch import Fault, NoPrefetch, Prefetcher, SwapView
from rmt.swap_sim.readahead import ClusterReadahead, VmaReadahead
from rmt.swap_sim.simulator import Counters, SimConfig, Simulator
from rmt.swap_sim.trace import Trace

ROOT = project.guess()          # the source checkout (rmt.contract.project)
PROGRAM = ROOT / "examples" / "swap_prefetch.rmt"


@dataclass(frozen=True)
class Split:
    mem_frac: float = 0.5          # memory limit as a fraction of the working set
    train_frac: float = 0.6

    def config(self, tr: Trace) -> SimConfig:
        """The working set is that of the held-out part: a program's start-up (loading
        libraries, touched once) would otherwise inflate the memory limit."""
        start = int(self.train_frac * len(tr))
        ws = len(np.unique(tr.pages[start:]))
        return SimConfig(max(8, int(round(self.mem_frac * ws))), measure_from=start)


class FaultRecorder:
    """A prefetcher that prefetches nothing but remembers every swap fault's page.

    It is not NoPrefetch, so the simulator sets the prefetch buffer's memory
    aside: the recorded stream is the one any prefetcher will see."""

    name = "record"

    def __init__(self) -> None:
        self.pages: list[int] = []

    def reset(self) -> None:
        self.pages = []

    def fault(self, f: Fault, swap: SwapView) -> list[int]:
        self.pages.append(f.page)
        return []


def training_faults(tr: Trace, split: Split) -> np.ndarray:
    """The swap faults of the training part of a trace."""
    cfg = split.config(tr)
    rec = FaultRecorder()
    Simulator(SimConfig(cfg.mem_pages, cfg.buffer_pages), rec).run(tr.pages[:cfg.measure_from])
    return np.array(rec.pages, dtype=np.int64)


def baselines() -> dict[str, Callable[[], Prefetcher]]:
    return {"ra-cluster": ClusterReadahead, "ra-vma": VmaReadahead, "leap": Leap}


@dataclass
class RmtLoaded:
    """The example program in a sim-target state directory, model loaded by rmtctl."""
    state: Path
    prog_id: int

    def engine_and_program(self):
        from rmt.ctl.sim import Loaded, SimTarget
        target = SimTarget(self.state)
        info = next(i for i in target.list() if i.id == self.prog_id)
        loaded = Loaded(target, info)
        return loaded.engine, loaded.prog


def _in_process(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    """Run a command line's `main(argv)` in this process (no interpreter start-up, which
    dominated loading on a busy machine): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return rc or 0, out.getvalue(), err.getvalue()


def rmtctl(state: Path, *args: str) -> str:
    """Run the real `rmtctl` command line (rmtctl.cli.main) against a sim state directory."""
    from rmt.ctl.cli import main
    rc, out, err = _in_process(main, ["--state", str(state), *args])
    if rc:
        raise RuntimeError(f"{' '.join(args)}: exit {rc}: {err.strip()}")
    return out


def load_program(blob: bytes, state: Path, max_window: int = 16,
                 program: Path = PROGRAM, routes: dict[int, tuple[int, int]] | None = None
                 ) -> RmtLoaded:
    """Compile, verify and insert the program; route cgroups to the learned path
    (`routes`: cgroup -> (min_chain, min_stable); default {0: (1, 0)}, the map and the
    tree with the stability gate off); load the tree with `rmtctl model load`."""
    state.mkdir(parents=True, exist_ok=True)
    obj, wfile = state / "swap_prefetch.rmtb", state / "next.bin"
    from rmt.compiler import CompileError, compile_full
    from rmt.contract import objfile
    try:
        obj.write_bytes(objfile.write(compile_full(program.read_text(), str(program)).program))
    except CompileError as e:
        raise RuntimeError(f"{program}: does not compile:\n{e.rendered}") from None
    wfile.write_bytes(blob)
    prog_id = int(json.loads(rmtctl(state, "--json", "insert", str(obj)))["id"])
    for cgroup, (min_chain, min_stable) in (routes or {0: (1, 0)}).items():
        rmtctl(state, "table", "add", str(prog_id), "policy", str(cgroup), "action", "learned",
               str(max_window), str(min_chain), str(min_stable))
    rmtctl(state, "model", "load", str(prog_id), "next", str(wfile))
    return RmtLoaded(state, prog_id)


def reload_copy(template: RmtLoaded, state: Path, blob: bytes, routes: dict[int, tuple[int, int]],
                max_window: int = 16) -> RmtLoaded:
    """A copy of a loaded program's state directory with another tree and routes: the
    program was verified once when `template` was inserted, so a copy only needs
    `rmtctl table mod` (routes `template` already has; add otherwise) and `model load`."""
    import shutil
    if state.exists():
        shutil.rmtree(state)
    shutil.copytree(template.state, state)
    for cgroup, (min_chain, min_stable) in routes.items():
        args = [str(template.prog_id), "policy", str(cgroup), "action", "learned",
                str(max_window), str(min_chain), str(min_stable)]
        try:
            rmtctl(state, "table", "mod", *args)
        except RuntimeError:
            rmtctl(state, "table", "add", *args)
    wfile = state / "next.bin"
    wfile.write_bytes(blob)
    rmtctl(state, "model", "load", str(template.prog_id), "next", str(wfile))
    return RmtLoaded(state, template.prog_id)


@dataclass
class Result:
    workload: str
    prefetcher: str
    mem_pages: int
    counters: Counters
    figures: Figures
    extra: dict = field(default_factory=dict)


def evaluate(tr: Trace, split: Split, prefetchers: dict[str, Callable[[], Prefetcher]],
             cost: CostModel = CostModel()) -> list[Result]:
    """Every prefetcher on the held-out part of one trace, against no prefetching."""
    cfg = split.config(tr)
    base = Simulator(cfg, NoPrefetch()).run(tr.pages)
    held = len(tr) - cfg.measure_from
    instrs = tr.instrs * held / len(tr) if tr.instrs else 0
    out = [Result(tr.name, "none", cfg.mem_pages, base, figures(base, base, instrs, cost))]
    for name, make in prefetchers.items():
        pf = make()
        c = Simulator(cfg, pf).run(tr.pages)
        extra = {"defaults": pf.defaults} if hasattr(pf, "defaults") else {}
        out.append(Result(tr.name, name, cfg.mem_pages, c, figures(c, base, instrs, cost),
                          extra))
    return out


def temp_state() -> Path:
    return Path(tempfile.mkdtemp(prefix="rmt-swap-"))
