#!/usr/bin/env python3
"""Capture page-access traces of real programs and reduce them to small trace files.

    .venv/bin/python tools/swap_traces/capture.py [--only NAME ...] [--out traces/]

Each workload runs under `valgrind --tool=lackey --trace-mem=yes`; the trace
streams through `lackey2pages` (C, built here with gcc) which keeps data
accesses at page granularity and strips the hits of a 32-page LRU filter.
`swap_sim.trace.reduce_pages` then strips with a wider filter and caps the
length, and the result is written as `traces/NAME.npz` (compressed page
deltas, a few hundred KB each).  Inputs are made natively and
deterministically (fixed seeds, generated media), so a rerun on another
machine gives traces of the same shape, though not byte-identical ones:
valgrind's address-space layout and library versions differ.

Needs: valgrind, imagemagick, ffmpeg, sqlite3, xz-utils (apt-get install);
the convolution runs NumPy in the virtualenv.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swap_sim.trace import Trace, reduce_pages, save_trace  # noqa: E402

HERE = Path(__file__).resolve().parent
MAX_RAW_PAGES = 6_000_000        # stop the program after this many stripped accesses


@dataclass(frozen=True)
class Workload:
    name: str
    desc: str
    prepare: Callable[[Path], None]     # make inputs in the work dir, natively
    argv: Callable[[Path], list[str]]   # the traced command


def _run(cmd: list[str], cwd: Path, env: dict | None = None) -> None:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")


def _prep_image(d: Path) -> None:
    _run(["/usr/bin/convert", "-seed", "7", "-size", "640x480", "plasma:fractal", "-depth", "8",
          "in.ppm"], d)


def _prep_video(d: Path) -> None:
    _run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
          "-t", "0.4", "-pix_fmt", "yuv420p", "-f", "rawvideo", "-y", "in.yuv"], d)


def _prep_conv(d: Path) -> None:
    # NumPy shift-and-add convolution: importing numpy is already 4e8 instructions
    # under lackey, and importing scipy.signal takes 8x the CPU time of numpy here
    # The process ends with os._exit() once the result is out: the interpreter's teardown
    # (freeing every module's objects, scattered over the heap) would otherwise be the last
    # ~270k of the 400k accesses kept, i.e. all of the held-out part.
    (d / "conv.py").write_text(
        "import os, sys\n"
        "import numpy as np\n"
        "rng = np.random.default_rng(3)\n"
        "img = rng.random((1200, 1200))\n"
        "k = rng.random((5, 5))\n"
        "out = np.zeros((1196, 1196))\n"
        "for i in range(5):\n"
        "    for j in range(5):\n"
        "        out += k[i, j] * img[i:i + 1196, j:j + 1196]\n"
        "print(float(out.sum()))\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n")


def _prep_sqlite(d: Path) -> None:
    sql = ("CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
           "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 60000) "
           "INSERT INTO t SELECT i, (i * 7919) % 1000, printf('%08d-row', i * 31337 % 99991) "
           "FROM c;")
    (d / "db.sqlite").unlink(missing_ok=True)
    _run(["sqlite3", "db.sqlite", sql], d)


def _prep_xz(d: Path) -> None:
    rng = np.random.default_rng(5)
    words = [bytes(rng.integers(97, 123, size=rng.integers(2, 9)).astype(np.uint8))
             for _ in range(3000)]
    idx = rng.zipf(1.3, size=160_000) % len(words)
    (d / "in.txt").write_bytes(b" ".join(words[i] for i in idx))


WORKLOADS = [
    Workload("imagemagick-resize", "ImageMagick convert -resize 640x480 -> 960x720 (PPM)",
             _prep_image, lambda d: ["/usr/bin/convert", "in.ppm", "-resize", "960x720", "out.ppm"]),
    Workload("ffmpeg-scale", "ffmpeg scale filter, 4 frames 320x240 -> 480x360 raw YUV",
             _prep_video, lambda d: ["ffmpeg", "-v", "error", "-threads", "1",
                                     "-filter_threads", "1", "-f", "rawvideo", "-pix_fmt",
                                     "yuv420p", "-s", "320x240", "-i", "in.yuv", "-vf",
                                     "scale=480:360:flags=bicubic", "-f", "rawvideo",
                                     "-y", "out.yuv"]),
    Workload("numpy-convolve2d", "NumPy 2D convolution, 1200x1200 float64 image, 5x5 kernel",
             _prep_conv, lambda d: [sys.executable, "conv.py"]),
    Workload("sqlite-query", "sqlite3 GROUP BY + ORDER BY over a 60k-row table",
             _prep_sqlite, lambda d: ["sqlite3", "db.sqlite",
                                      "SELECT k, count(*), max(v) FROM t GROUP BY k "
                                      "ORDER BY max(v) LIMIT 5;"]),
    Workload("xz-compress", "xz -1 of 0.9 MB Zipf-distributed text", _prep_xz,
             lambda d: ["xz", "-1", "-T1", "-c", "in.txt"]),
]


def build_reducer(tmp: Path) -> Path:
    exe = tmp / "lackey2pages"
    _run(["gcc", "-O2", "-Wall", "-o", str(exe), str(HERE / "lackey2pages.c")], tmp)
    return exe


def capture(w: Workload, reducer: Path, work: Path) -> tuple[np.ndarray, int]:
    """Run one workload under lackey; the stripped page stream and its instruction count."""
    w.prepare(work)
    env = dict(os.environ, OMP_NUM_THREADS="1", MAGICK_THREAD_LIMIT="1",
               OPENBLAS_NUM_THREADS="1")
    pages_file, err_file = work / f"{w.name}.pages", work / f"{w.name}.err"
    # lackey logs to fd 3, a pipe to the reducer; the program's own output is dropped
    vg = shlex.join(["valgrind", "--tool=lackey", "--trace-mem=yes", "--log-fd=3"]
                    + w.argv(work))
    red = shlex.join([str(reducer), str(MAX_RAW_PAGES)])
    sh = f"{vg} 3>&1 1>/dev/null 2>/dev/null | {red} > {pages_file} 2> {err_file}"
    subprocess.run(["bash", "-c", sh], cwd=work, env=env, check=False)
    err = err_file.read_text()
    if not err.startswith("instrs"):
        raise RuntimeError(f"{w.name}: the reducer reported {err!r}")
    return np.fromfile(pages_file, dtype="<u8").astype(np.int64), int(err.split()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="workload names (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "traces")
    args = ap.parse_args(argv)
    for tool in ("valgrind", "gcc"):
        if not shutil.which(tool):
            print(f"capture: {tool} not found (apt-get install {tool})", file=sys.stderr)
            return 1
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swapcap-") as tmp:
        reducer = build_reducer(Path(tmp))
        for w in chosen:
            t0 = time.time()
            raw, instrs = capture(w, reducer, Path(tmp))
            pages = reduce_pages(raw)
            tr = Trace(w.name, pages, instrs=int(instrs * len(pages) / max(1, len(raw))),
                       source=w.desc, synthetic=False)
            path = save_trace(tr, args.out)
            print(f"{w.name}: {instrs} instrs, {len(raw)} raw -> {len(pages)} accesses, "
                  f"{len(np.unique(pages))} pages, {path.stat().st_size // 1024} KB, "
                  f"{time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
