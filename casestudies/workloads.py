"""The real programs of case study 2: how each makes its inputs and the command that runs it.

One list for both places that run them: tools/swap_traces/capture.py traces them under
valgrind (the traces in traces/), and rmt.casestudies.kernel_prefetch_eval runs them in the
guest under each prefetcher.  Inputs are made natively and deterministically (fixed seeds).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    desc: str
    prepare: Callable[[Path], None]     # make inputs in the work dir, natively
    argv: Callable[[Path], list[str]]   # the traced command
    needs: tuple[str, ...] = ()         # commands it runs (setup.sh installs them)
    children: bool = False              # trace child processes too (gcc runs cc1)


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> None:
    """Run cmd in cwd; a failure raises with the end of its stderr."""
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")


def _prep_image(d: Path) -> None:
    run(["/usr/bin/convert", "-seed", "7", "-size", "640x480", "plasma:fractal", "-depth", "8",
          "in.ppm"], d)


def _prep_video(d: Path) -> None:
    run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
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
    run(["sqlite3", "db.sqlite", sql], d)


def _prep_xz(d: Path) -> None:
    rng = np.random.default_rng(5)
    words = [bytes(rng.integers(97, 123, size=rng.integers(2, 9)).astype(np.uint8))
             for _ in range(3000)]
    idx = rng.zipf(1.3, size=160_000) % len(words)
    (d / "in.txt").write_bytes(b" ".join(words[i] for i in idx))


def _text_lines(seed: int, n: int) -> bytes:
    """n lines of 3-9 Zipf-distributed lowercase words (deterministic)."""
    rng = np.random.default_rng(seed)
    words = [bytes(rng.integers(97, 123, size=rng.integers(2, 9)).astype(np.uint8))
             for _ in range(5000)]
    idx = rng.zipf(1.2, size=n * 6) % len(words)
    lens = rng.integers(3, 10, size=n)
    out, k = [], 0
    for m in lens:
        out.append(b" ".join(words[i] for i in idx[k:k + m]))
        k = (k + m) % (len(idx) - 10)
    return b"\n".join(out) + b"\n"


def _prep_sort(d: Path) -> None:
    (d / "lines.txt").write_bytes(_text_lines(11, 40_000))


def _prep_bzip2(d: Path) -> None:
    (d / "in.txt").write_bytes(_text_lines(13, 20_000))


def _prep_gcc(d: Path) -> None:
    # a C file of 24 small functions over a table: parsing, optimisation passes, codegen
    fns = []
    for i in range(24):
        fns.append(f"int f{i}(int *a, int n) {{ int s = {i}; for (int k = 0; k < n; k++) "
                   f"{{ if (a[k] % {i + 2}) s += a[k] * {i + 1}; else s ^= k << {i % 7}; }} "
                   f"return s; }}")
    (d / "unit.c").write_text("\n".join(fns) + "\nint main(void) { static int a[64]; int s = 0;\n"
                              + "".join(f"  s += f{i}(a, 64);\n" for i in range(24))
                              + "  return s & 1; }\n")


def _prep_pydict(d: Path) -> None:
    (d / "lines.txt").write_bytes(_text_lines(17, 6_000))
    (d / "wc.py").write_text(
        "import collections, os, sys\n"
        "counts = {}\n"
        "pairs = collections.defaultdict(int)\n"
        "prev = None\n"
        "for line in open('lines.txt'):\n"
        "    for w in line.split():\n"
        "        counts[w] = counts.get(w, 0) + 1\n"
        "        if prev is not None:\n"
        "            pairs[(prev, w)] += 1\n"
        "        prev = w\n"
        "top = sorted(pairs.items(), key=lambda kv: -kv[1])[:10]\n"
        "print(len(counts), len(pairs), top[0])\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n")


def _prep_bfs(d: Path) -> None:
    # breadth-first search over a random graph in adjacency lists (pure Python); ends with
    # os._exit() like the convolution, so the kept accesses are the search, not the teardown
    (d / "bfs.py").write_text(
        "import os, random, sys\n"
        "from collections import deque\n"
        "random.seed(5)\n"
        "n = 15000\n"
        "adj = [[] for _ in range(n)]\n"
        "for _ in range(3 * n):\n"
        "    a, b = random.randrange(n), random.randrange(n)\n"
        "    adj[a].append(b)\n"
        "    adj[b].append(a)\n"
        "dist = [-1] * n\n"
        "for src in (0, 1):\n"
        "    dist = [-1] * n\n"
        "    dist[src] = 0\n"
        "    q = deque([src])\n"
        "    while q:\n"
        "        u = q.popleft()\n"
        "        for v in adj[u]:\n"
        "            if dist[v] < 0:\n"
        "                dist[v] = dist[u] + 1\n"
        "                q.append(v)\n"
        "print(max(dist))\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n")


def _prep_git(d: Path) -> None:
    # a small repository with a deterministic history: 15 commits over 20 generated files
    repo = d / "repo"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_AUTHOR_DATE="2020-01-01T00:00:00Z", GIT_COMMITTER_DATE="2020-01-01T00:00:00Z")
    run(["git", "init", "-q", "-b", "main", "."], repo, env)
    rng = np.random.default_rng(19)
    text = _text_lines(19, 4000).split(b"\n")
    for c in range(15):
        for f in rng.choice(20, size=4, replace=False):
            lo = int(rng.integers(0, len(text) - 200))
            (repo / f"f{f}.txt").write_bytes(b"\n".join(text[lo:lo + 200]) + b"\n")
        run(["git", "add", "-A"], repo, env)
        run(["git", "commit", "-q", "-m", f"c{c}"], repo, env)
    run(["git", "gc", "-q"], repo, env)


WORKLOADS = [
    Workload("imagemagick-resize", "ImageMagick convert -resize 640x480 -> 960x720 (PPM)",
             _prep_image, lambda d: ["/usr/bin/convert", "in.ppm", "-resize", "960x720", "out.ppm"],
             ("convert",)),
    Workload("ffmpeg-scale", "ffmpeg scale filter, 4 frames 320x240 -> 480x360 raw YUV",
             _prep_video, lambda d: ["ffmpeg", "-v", "error", "-threads", "1",
                                     "-filter_threads", "1", "-f", "rawvideo", "-pix_fmt",
                                     "yuv420p", "-s", "320x240", "-i", "in.yuv", "-vf",
                                     "scale=480:360:flags=bicubic", "-f", "rawvideo",
                                     "-y", "out.yuv"], ("ffmpeg",)),
    Workload("numpy-convolve2d", "NumPy 2D convolution, 1200x1200 float64 image, 5x5 kernel",
             _prep_conv, lambda d: [sys.executable, "conv.py"]),
    Workload("sqlite-query", "sqlite3 GROUP BY + ORDER BY over a 60k-row table",
             _prep_sqlite, lambda d: ["sqlite3", "db.sqlite",
                                      "SELECT k, count(*), max(v) FROM t GROUP BY k "
                                      "ORDER BY max(v) LIMIT 5;"], ("sqlite3",)),
    Workload("xz-compress", "xz -1 of 0.9 MB Zipf-distributed text", _prep_xz,
             lambda d: ["xz", "-1", "-T1", "-c", "in.txt"], ("xz",)),
    # added for leave-one-program-out (issue 17): other kinds of program
    Workload("sort-lines", "GNU sort of 40k lines of Zipf-distributed words (LC_ALL=C)",
             _prep_sort, lambda d: ["sort", "-S", "16M", "lines.txt"], ("sort",)),
    Workload("bzip2-compress", "bzip2 -9 of 0.7 MB of Zipf-distributed text lines",
             _prep_bzip2, lambda d: ["bzip2", "-9", "-c", "in.txt"], ("bzip2",)),
    Workload("gcc-compile", "gcc -O1 -c of a generated 24-function C file (driver + cc1 + as)",
             _prep_gcc, lambda d: ["gcc", "-O1", "-c", "unit.c", "-o", "unit.o"], ("gcc",),
             children=True),
    Workload("python-dict", "CPython word and word-pair counts in dicts over 6k lines",
             _prep_pydict, lambda d: ["/usr/bin/python3", "wc.py"], ("python3",)),
    Workload("python-bfs", "CPython breadth-first search, 15k-node random graph, 2 sources",
             _prep_bfs, lambda d: ["/usr/bin/python3", "bfs.py"], ("python3",)),
    Workload("git-log", "git log -p over a generated 15-commit packed repository",
             _prep_git, lambda d: ["git", "-C", "repo", "log", "-p", "--no-color"], ("git",)),
]
