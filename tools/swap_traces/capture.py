#!/usr/bin/env python3
"""Capture page-access traces of real programs and reduce them to small trace files.

    .venv/bin/python tools/swap_traces/capture.py [--only NAME ...] [--out traces/]
    .venv/bin/python tools/swap_traces/capture.py capture --name NAME [--out DIR] -- CMD ARGS...

The first form traces the project's workloads (`WORKLOADS`); the second any
command, run in the current directory, into `DIR/NAME.npz` (default: the
current directory), in the same format, ready for
`casestudies/prefetch_eval.py --eval-traces DIR`.

Each workload runs under `valgrind --tool=lackey --trace-mem=yes`; the trace
streams through `lackey2pages` (C, built here with gcc) which keeps data
accesses at page granularity and strips the hits of a 32-page LRU filter.
`swap_sim.trace.reduce_pages` then strips with a wider filter and caps the
length, and the result is written as `traces/NAME.npz` (compressed page
deltas, a few hundred KB each).  Inputs are made natively and
deterministically (fixed seeds, generated media), so a rerun on another
machine gives traces of the same shape, though not byte-identical ones:
valgrind's address-space layout and library versions differ.

Needs valgrind and gcc, and each workload's programs: `tools/swap_traces/setup.sh`
installs whatever is missing with apt-get (called here before tracing);
the convolution runs NumPy in the virtualenv.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from rmt.casestudies.workloads import WORKLOADS, Workload, run  # noqa: E402
from rmt.swap_sim.trace import Trace, reduce_pages, save_trace  # noqa: E402

HERE = Path(__file__).resolve().parent
MAX_RAW_PAGES = 6_000_000        # stop the program after this many stripped accesses


def build_reducer(tmp: Path) -> Path:
    exe = tmp / "lackey2pages"
    run(["gcc", "-O2", "-Wall", "-o", str(exe), str(HERE / "lackey2pages.c")], tmp)
    return exe


def capture(w: Workload, reducer: Path, work: Path) -> tuple[np.ndarray, int]:
    """Run one workload under lackey; the stripped page stream and its instruction count."""
    w.prepare(work)
    return trace_command(w.name, w.argv(work), reducer, work, work, children=w.children)


def trace_command(name: str, argv: list[str], reducer: Path, cwd: Path, tmp: Path, *,
                  children: bool = False, max_raw: int = MAX_RAW_PAGES
                  ) -> tuple[np.ndarray, int]:
    """Run `argv` in `cwd` under lackey: the stripped page stream and the instruction count
    (all processes', with `children`)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MAGICK_THREAD_LIMIT="1",
               OPENBLAS_NUM_THREADS="1", LC_ALL="C")
    pages_file, err_file = tmp / f"{name}.pages", tmp / f"{name}.err"
    # lackey logs to fd 3, a pipe to the reducer; the program's own output is dropped
    vg = shlex.join(["valgrind", "--tool=lackey", "--trace-mem=yes", "--log-fd=3"]
                    + (["--trace-children=yes"] if children else []) + argv)
    red = shlex.join([str(reducer), str(max_raw)])
    # When the reducer stops at its cap, valgrind does not die of the closed pipe (it went on
    # for 40 minutes after a capped python-bfs): so once the reducer has written its
    # figures, the pipeline's own process group (a new session: not this process) is killed.
    sh = f"{vg} 3>&1 1>/dev/null 2>/dev/null | {{ {red} > {shlex.quote(str(pages_file))} " \
         f"2> {shlex.quote(str(err_file))}; kill -KILL 0; }}"
    subprocess.run(["bash", "-c", sh], cwd=cwd, env=env, check=False, start_new_session=True)
    err = err_file.read_text()
    if not err.startswith("instrs"):
        raise RuntimeError(f"{name}: the reducer reported {err!r}")
    return np.fromfile(pages_file, dtype="<u8").astype(np.int64), int(err.split()[1])


def setup(commands: list[str]) -> None:
    """Install missing commands with tools/swap_traces/setup.sh (apt-get)."""
    need = sorted({c for c in commands if not shutil.which(c)})
    if not need:
        return
    r = subprocess.run(["bash", str(HERE / "setup.sh"), *need], capture_output=True, text=True)
    if r.returncode:
        msg = r.stderr.strip().splitlines()
        raise RuntimeError(msg[-1] if msg else f"setup.sh {' '.join(need)} failed")


def to_trace(name: str, raw: np.ndarray, instrs: int, desc: str) -> Trace:
    if len(raw) == 0:
        raise RuntimeError(f"{name}: the program made no data accesses under valgrind "
                           f"(did it start? try running it without valgrind)")
    pages = reduce_pages(raw)
    return Trace(name, pages, instrs=int(instrs * len(pages) / max(1, len(raw))),
                 source=desc, synthetic=False)


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def capture_main(argv: list[str]) -> int:
    """`capture --name NAME [--out DIR] -- CMD ARGS...`: trace any command."""
    ap = argparse.ArgumentParser(prog="capture.py capture",
                                 description="trace any command into NAME.npz")
    ap.add_argument("--name", required=True, help="trace name: NAME.npz")
    ap.add_argument("--out", type=Path, default=Path("."), help="directory (default: .)")
    ap.add_argument("--max-raw", type=int, default=MAX_RAW_PAGES,
                    help="stop the program after this many filtered accesses")
    ap.add_argument("--trace-children", action="store_true",
                    help="trace the processes the command starts too")
    ap.add_argument("--desc", default="", help="description stored in the trace header")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command: capture --name NAME -- CMD ARGS...")
    if not NAME_RE.fullmatch(args.name):
        ap.error(f"--name {args.name!r}: letters, digits, '.', '_', '-' only")
    if args.max_raw < 1000:
        ap.error(f"--max-raw {args.max_raw}: at least 1000")
    if not shutil.which(cmd[0]):
        ap.error(f"command {cmd[0]!r} not found")
    try:
        setup(["valgrind", "gcc"])
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="swapcap-") as tmp:
            t0 = time.time()
            reducer = build_reducer(Path(tmp))
            raw, instrs = trace_command(args.name, cmd, reducer, Path.cwd(), Path(tmp),
                                        children=args.trace_children, max_raw=args.max_raw)
            tr = to_trace(args.name, raw, instrs, args.desc or shlex.join(cmd))
            path = save_trace(tr, args.out)
    except (RuntimeError, OSError) as e:
        print(f"capture: {e}", file=sys.stderr)
        return 1
    print(f"{path}: {instrs} instrs, {len(raw)} raw -> {len(tr)} accesses, "
          f"{tr.working_set} pages, {path.stat().st_size // 1024} KB, {time.time() - t0:.0f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["capture"]:
        return capture_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="workload names (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "traces")
    args = ap.parse_args(argv)
    names = {w.name for w in WORKLOADS}
    unknown = [n for n in args.only or [] if n not in names]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only]
    try:
        setup(["valgrind", "gcc"] + [c for w in chosen for c in w.needs])
    except RuntimeError as e:
        print(f"capture: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swapcap-") as tmp:
        reducer = build_reducer(Path(tmp))
        for w in chosen:
            t0 = time.time()
            raw, instrs = capture(w, reducer, Path(tmp))
            tr = to_trace(w.name, raw, instrs, w.desc)
            pages = tr.pages
            path = save_trace(tr, args.out)
            print(f"{w.name}: {instrs} instrs, {len(raw)} raw -> {len(pages)} accesses, "
                  f"{len(np.unique(pages))} pages, {path.stat().st_size // 1024} KB, "
                  f"{time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
